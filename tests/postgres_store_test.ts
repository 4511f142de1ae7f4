/**
 * PostgresJobStore against a real server: the one `JOBQ_TEST_POSTGRES_URL`
 * names (the test command starts a throwaway one). Each test gets a schema
 * of its own, dropped afterwards. Without a server the tests are skipped
 * with a warning, except under `CI=true`, where that is a failure.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import process from "node:process";
import { describe, test } from "node:test";
import type postgres from "postgres";
import { Job, type JobErrorRecord, JobQueueError, JobState } from "../mod.ts";
import { PostgresJobStore, type PostgresJobStoreOptions } from "../src/store/postgres/mod.ts";
import { adminClient, withPostgres } from "./_postgres.ts";

function engineId(): string {
  return [...crypto.getRandomValues(new Uint8Array(8))]
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

interface Opened {
  store: PostgresJobStore;
  engineId: string;
  reports: JobQueueError[];
}

interface Context {
  schema: string;
  sql: postgres.Sql;
  /** Opens one more store (one more engine) on the test's schema. */
  open(options?: { claimTimeout?: number; store?: Partial<PostgresJobStoreOptions> }): Promise<
    Opened
  >;
}

/** Runs `body` with a fresh schema, closing its stores and dropping the schema afterwards. */
async function withSchema(
  url: string,
  body: (context: Context) => Promise<void>,
): Promise<void> {
  const schema = `t_${engineId()}`;
  const sql = adminClient(url);
  const stores: PostgresJobStore[] = [];
  const context: Context = {
    schema,
    sql,
    async open({ claimTimeout = 30_000, store: options = {} } = {}) {
      const store = new PostgresJobStore({ url, schema, ...options });
      const opened = { store, engineId: engineId(), reports: [] as JobQueueError[] };
      await store.open({
        engineId: opened.engineId,
        claimTimeout,
        report: (error) => opened.reports.push(error),
      });
      stores.push(store);
      return opened;
    },
  };
  try {
    await body(context);
  } finally {
    await Promise.all(stores.map((store) => store.close().catch(() => {})));
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await sql.end();
  }
}

const NONE: ReadonlySet<string> = new Set();
const ERROR: JobErrorRecord = { name: "Error", message: "boom" };

function job(methodName = "work", spec: Partial<Parameters<typeof Job.fromSpec>[0]> = {}): Job {
  return Job.fromSpec({ methodName, ...spec });
}

/** Waits until `store.recover()` takes claims back, as leases run out on the server's clock. */
async function recoverWhenExpired(store: PostgresJobStore): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const recovered = await store.recover();
    if (recovered > 0) return recovered;
    if (Date.now() > deadline) throw new Error("No claim was recovered within 10 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A promise of the next call of the function it gives. */
function nextCall(): { promise: Promise<void>; call: () => void } {
  let call!: () => void;
  const promise = new Promise<void>((resolve) => call = resolve);
  return { promise, call };
}

withPostgres("PostgresJobStore", (url) => {
  describe("PostgresJobStore", () => {
    test("add() stores every job of a call, or none when one cannot be stored", async () => {
      await withSchema(url, async ({ open }) => {
        const { store } = await open();
        const first = job();
        assert.deepEqual((await store.add([first])).map((result) => result.kind), ["added"]);
        const fresh = job();
        // The same id again: the primary key refuses it, and the whole call with it.
        const duplicate = Job.fromJSON(first.toJSON());
        await assert.rejects(store.add([fresh, duplicate]), JobQueueError);
        assert.equal(await store.get(fresh.id), undefined);
        assert.deepEqual((await store.list()).map((stored) => stored.id), [first.id]);
      });
    });

    test("add() reports a job whose unique key a waiting or running job holds as held", async () => {
      await withSchema(url, async ({ open }) => {
        const { store } = await open();
        const holder = job("work", { uniqueKey: "k" });
        const [twin, other] = [job("work", { uniqueKey: "k" }), job("work", { uniqueKey: "k" })];
        const results = await store.add([holder, twin]);
        assert.deepEqual(results.map((result) => [result.kind, result.job.id]), [
          ["added", holder.id],
          ["held", holder.id],
        ]);
        const [held] = await store.add([other]);
        assert.equal(held!.kind, "held");
        assert.equal(held!.job.id, holder.id);
        // Claimed and completed, it lets go of the key.
        const { jobs: [claimed] } = await store.claimDue({ limit: 1, skip: NONE });
        assert.equal((await store.add([job("work", { uniqueKey: "k" })]))[0]!.kind, "held");
        await store.complete(claimed!, undefined, true);
        assert.equal((await store.add([other]))[0]!.kind, "added");
      });
    });

    test("add() does not store an occurrence of a recurring job whose date has come: late", async () => {
      await withSchema(url, async ({ open }) => {
        const { store } = await open();
        const late = Job.fromSpec(
          { methodName: "tick", repeat: { every: 1000 } },
          Date.now() - 60_000,
        );
        const coming = Job.fromSpec({ methodName: "tock", repeat: { every: 3_600_000 } });
        const results = await store.add([late, coming]);
        assert.deepEqual(results.map((result) => result.kind), ["late", "added"]);
        assert.equal(results[0]!.job, late);
        assert.deepEqual((await store.list()).map((stored) => stored.id), [coming.id]);
      });
    });

    test("of two engines claiming at once, exactly one gets each job", async () => {
      await withSchema(url, async ({ open }) => {
        const [a, b] = [await open(), await open()];
        const jobs = Array.from({ length: 60 }, () => job());
        await a.store.add(jobs);
        const claimedBy = new Map<string, string>();
        for (let round = 0; round < 10 && claimedBy.size < jobs.length; round++) {
          const [fromA, fromB] = await Promise.all([
            a.store.claimDue({ limit: 7, skip: NONE }),
            b.store.claimDue({ limit: 7, skip: NONE }),
          ]);
          for (const [engine, due] of [["a", fromA], ["b", fromB]] as const) {
            for (const claimed of due.jobs) {
              assert.equal(claimedBy.get(claimed.id), undefined, `${claimed.id} claimed twice`);
              claimedBy.set(claimed.id, engine);
            }
          }
        }
        assert.equal(claimedBy.size, jobs.length);
        assert.deepEqual(await a.store.claimDue({ limit: 10, skip: NONE }), {
          jobs: [],
          nextDueAt: undefined,
        });
      });
    });

    test("get() and list() show a claimed job as IN_PROGRESS; list() filters and pages in id order", async () => {
      await withSchema(url, async ({ open }) => {
        const { store } = await open();
        const jobs = [job("a"), job("b"), job("a"), job("a")];
        await store.add(jobs);
        const { jobs: [claimed] } = await store.claimDue({ limit: 1, skip: NONE });
        assert.equal((await store.get(claimed!.id))?.state, "IN_PROGRESS");
        assert.equal(await store.get("2024-01-01T00-00-00-000Z-0000000000000-00000000"), undefined);
        const ids = jobs.map((one) => one.id).sort();
        assert.deepEqual((await store.list()).map((one) => one.id), ids);
        assert.deepEqual((await store.list({ state: "IN_PROGRESS" })).map((one) => one.id), [
          claimed!.id,
        ]);
        const as = jobs.filter((one) => one.methodName === "a").map((one) => one.id).sort();
        assert.deepEqual((await store.list({ methodName: "a", limit: 2 })).map((one) => one.id), [
          as[0],
          as[1],
        ]);
        assert.deepEqual(
          (await store.list({ methodName: "a", after: as[1]!, limit: 2 })).map((one) => one.id),
          [as[2]],
        );
      });
    });

    test("every outcome after a lost claim writes nothing and resolves to undefined", async () => {
      await withSchema(url, async ({ open }) => {
        // A dies: it stops renewing its short lease; B takes its claim back.
        const [a, b] = [await open({ claimTimeout: 300 }), await open()];
        await a.store.add([job()]);
        const { jobs: [claimed] } = await a.store.claimDue({ limit: 1, skip: NONE });
        assert.equal(await recoverWhenExpired(b.store), 1);
        const stored = (await b.store.get(claimed!.id))!.toJSON();
        assert.equal(await a.store.complete(claimed!, "done", true), undefined);
        assert.equal(await a.store.complete(claimed!, "done", false), undefined);
        assert.equal(await a.store.progress(claimed!, 50), undefined);
        assert.equal(await a.store.fail(claimed!, ERROR), undefined);
        assert.equal(await a.store.retryLater(claimed!, ERROR, Date.now(), false), undefined);
        assert.equal(await a.store.retryLater(claimed!, ERROR, Date.now(), true), undefined);
        assert.equal(await a.store.release(claimed!), undefined);
        assert.equal(await a.store.unclaim(claimed!), false);
        assert.deepEqual((await b.store.get(claimed!.id))!.toJSON(), stored);
      });
    });

    test("recover() takes back a dead engine's claims, counting the cut-short run", async () => {
      await withSchema(url, async ({ open }) => {
        const [a, b] = [await open({ claimTimeout: 300 }), await open()];
        await a.store.add([job(), job()]);
        const { jobs } = await a.store.claimDue({ limit: 2, skip: NONE });
        await a.store.progress(jobs[0]!, "half");
        assert.equal(await b.store.recover(), 0, "a live lease is not taken");
        assert.equal(await recoverWhenExpired(b.store), 2);
        for (const { id } of jobs) {
          const back = (await b.store.get(id))!;
          assert.equal(back.state, "NOT_STARTED");
          assert.equal(back.attempts, 1);
          assert.equal(back.interruptions, 1);
        }
        const engines = await b.store.engines();
        assert.deepEqual(engines.map((engine) => engine.id), [b.engineId]);
        assert.ok(engines[0]!.alive && engines[0]!.current);
        const again = await b.store.claimDue({ limit: 2, skip: NONE });
        assert.deepEqual(again.jobs.map((one) => one.attempts), [2, 2]);
        assert.equal(await b.store.recover(), 0);
      });
    });

    test("engines() tells the live engines and those whose lease ran out, and heartbeat() renews it", async () => {
      await withSchema(url, async ({ open }) => {
        const [a, b] = [await open({ claimTimeout: 300 }), await open()];
        const aliveOf = async () =>
          new Map((await b.store.engines()).map((engine) => [engine.id, engine.alive]));
        assert.equal((await aliveOf()).get(a.engineId), true);
        const deadline = Date.now() + 10_000;
        while ((await aliveOf()).get(a.engineId) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.equal((await aliveOf()).get(a.engineId), false);
        await a.store.heartbeat();
        assert.equal((await aliveOf()).get(a.engineId), true);
        const [info] = (await a.store.engines()).filter((engine) => engine.current);
        assert.equal(info?.id, a.engineId);
        assert.equal(info?.pid, process.pid);
      });
    });

    test("retryLater() with keepClaim holds the retry until unclaim(); without, it is free at once", async () => {
      await withSchema(url, async ({ open }) => {
        const [a, b] = [await open(), await open()];
        await a.store.add([job()]);
        let { jobs: [claimed] } = await a.store.claimDue({ limit: 1, skip: NONE });
        const waiting = await a.store.retryLater(claimed!, ERROR, Date.now() - 1, true);
        assert.equal(waiting?.state, "NOT_STARTED");
        assert.deepEqual(waiting?.error, ERROR);
        assert.deepEqual((await b.store.claimDue({ limit: 1, skip: NONE })).jobs, []);
        assert.equal(await a.store.unclaim(claimed!), true);
        ({ jobs: [claimed] } = await b.store.claimDue({ limit: 1, skip: NONE }));
        assert.equal(claimed?.attempts, 2);
        await b.store.retryLater(claimed!, ERROR, Date.now() - 1, false);
        const { jobs: [third] } = await a.store.claimDue({ limit: 1, skip: NONE });
        assert.equal(third?.attempts, 3);
        // release() gives it back unrun: this attempt is not counted.
        const released = await a.store.release(third!);
        assert.equal(released?.state, "NOT_STARTED");
        assert.equal(released?.attempts, 2);
      });
    });

    test("complete(), fail() and progress() record the outcome; complete() without keep removes", async () => {
      await withSchema(url, async ({ open }) => {
        const { store } = await open();
        await store.add([job("kept"), job("removed"), job("failed")]);
        const { jobs } = await store.claimDue({ limit: 3, skip: NONE });
        const byName = new Map(jobs.map((one) => [one.methodName, one]));
        const progressed = await store.progress(byName.get("kept")!, { done: 1 });
        assert.deepEqual(progressed?.progress, { done: 1 });
        const kept = await store.complete(byName.get("kept")!, { ok: true }, true);
        assert.equal(kept?.state, "COMPLETED");
        assert.deepEqual((await store.get(kept!.id))?.result, { ok: true });
        const removed = await store.complete(byName.get("removed")!, 7, false);
        assert.equal(removed?.state, "COMPLETED");
        assert.equal(removed?.result, 7);
        assert.ok(removed!.finishedAt! >= removed!.startedAt!);
        assert.equal(await store.get(removed!.id), undefined);
        const failed = await store.fail(byName.get("failed")!, ERROR);
        assert.equal(failed?.state, "FAILED");
        assert.deepEqual((await store.get(failed!.id))?.error, ERROR);
      });
    });

    test("replace() swaps a failed job for a fresh one in one step, unless its key is held", async () => {
      await withSchema(url, async ({ open }) => {
        const { store } = await open();
        await store.add([job("work", { uniqueKey: "k" })]);
        const { jobs: [claimed] } = await store.claimDue({ limit: 1, skip: NONE });
        const failed = (await store.fail(claimed!, ERROR))!;
        const fresh = () => job("work", { uniqueKey: "k" });
        // A waiting job holds the key: the failed job stays.
        const holder = fresh();
        await store.add([holder]);
        const held = await store.replace(failed, fresh());
        assert.equal(held?.kind, "held");
        assert.equal(held?.job.id, holder.id);
        assert.equal((await store.get(failed.id))?.state, "FAILED");
        assert.equal(await store.remove(holder.id), true);
        const replacement = fresh();
        const added = await store.replace(failed, replacement);
        assert.equal(added?.kind, "added");
        assert.equal(await store.get(failed.id), undefined);
        assert.equal((await store.get(replacement.id))?.state, "NOT_STARTED");
        // No longer a failed job: nothing to replace.
        assert.equal(await store.replace(failed, fresh()), undefined);
        assert.equal(await store.replace(replacement, fresh()), undefined);
      });
    });

    test("remove() and removeWhere() remove what matches and no engine holds", async () => {
      await withSchema(url, async ({ open }) => {
        const { store } = await open();
        await store.add([job("a"), job("a"), job("b"), job("c")]);
        const { jobs: [claimed] } = await store.claimDue({ limit: 1, skip: NONE });
        assert.equal(await store.remove(claimed!.id), false);
        assert.equal(await store.removeWhere({ state: "IN_PROGRESS" }), 0);
        const as = (await store.list({ methodName: "a" })).length;
        const claimedIsA = claimed!.methodName === "a" ? 1 : 0;
        assert.equal(await store.removeWhere({ methodName: "a" }), as - claimedIsA);
        await store.fail(claimed!, ERROR);
        const finishedAt = (await store.get(claimed!.id))!.finishedAt!;
        assert.equal(await store.removeWhere({ state: "FAILED", finishedBefore: finishedAt }), 0);
        assert.equal(
          await store.removeWhere({ state: "FAILED", finishedBefore: finishedAt + 1 }),
          1,
        );
        const left = await store.list();
        assert.ok(left.every((one) => one.methodName !== "a" && one.state === "NOT_STARTED"));
        assert.equal(await store.remove(left[0]!.id), true);
        assert.equal(await store.remove(left[0]!.id), false);
      });
    });

    test("pruneCompleted() keeps the most recently finished, by count and by age", async () => {
      await withSchema(url, async ({ open, sql, schema }) => {
        const { store } = await open();
        await store.add(Array.from({ length: 5 }, () => job()));
        const { jobs } = await store.claimDue({ limit: 5, skip: NONE });
        for (const one of jobs) await store.complete(one, undefined, true);
        // Distinct finishing times: 1000, 2000, … in the order claimed.
        for (const [index, one] of jobs.entries()) {
          await sql.unsafe(`UPDATE "${schema}".jobs SET finished_at = $1 WHERE id = $2`, [
            (index + 1) * 1000,
            one.id,
          ]);
        }
        assert.equal(await store.pruneCompleted({}), 0);
        assert.equal(await store.pruneCompleted({ count: 4 }), 1);
        assert.equal(await store.get(jobs[0]!.id), undefined);
        assert.equal(await store.pruneCompleted({ finishedAfter: 3000 }), 2);
        assert.deepEqual(
          (await store.list()).map((one) => one.id).sort(),
          [
            jobs[3]!.id,
            jobs[4]!.id,
          ].sort(),
        );
        assert.equal(await store.pruneCompleted({ count: 0 }), 2);
        assert.deepEqual(await store.list(), []);
      });
    });

    test("params, results, progress and errors round-trip exactly", async () => {
      await withSchema(url, async ({ open }) => {
        const { store } = await open();
        const params = {
          zeta: 1,
          alpha: { z: [1, 2, { y: null, x: "\u0000" }], a: "é✓😀" },
          big: 1e300,
          unsafe: 2 ** 53 + 2,
          small: -1.5e-300,
          quote: 'it\'s "quoted" \\ and\nlines',
          empty: {},
          list: [],
        };
        const sent = job("work", { params });
        await store.add([sent]);
        assert.equal(JSON.stringify((await store.get(sent.id))?.params), JSON.stringify(params));
        const { jobs: [claimed] } = await store.claimDue({ limit: 1, skip: NONE });
        assert.equal(JSON.stringify(claimed?.params), JSON.stringify(params));
        const progress = { b: 2, a: [params] };
        await store.progress(claimed!, progress);
        const error = { name: "Error", message: "\u0000 nul", stack: "at x" };
        const retried = await store.retryLater(claimed!, error, Date.now() - 1, false);
        assert.equal(JSON.stringify(retried?.progress), JSON.stringify(progress));
        assert.equal(JSON.stringify(retried?.error), JSON.stringify(error));
        const { jobs: [again] } = await store.claimDue({ limit: 1, skip: NONE });
        const completed = await store.complete(again!, params, true);
        assert.equal(JSON.stringify(completed?.result), JSON.stringify(params));
        assert.equal(
          JSON.stringify((await store.get(sent.id))?.toJSON()),
          JSON.stringify(completed?.toJSON()),
        );
        // A params value of null is not the absence of params.
        const nullish = job("work", { params: null });
        await store.add([nullish]);
        assert.equal((await store.get(nullish.id))?.toJSON().params, null);
      });
    });

    test("watch() calls back when another engine adds a job", async () => {
      await withSchema(url, async ({ open }) => {
        const [a, b] = [await open(), await open()];
        let next = nextCall();
        const stop = b.store.watch(() => next.call());
        // The first call comes once LISTEN is in place (as after a reconnection).
        await next.promise;
        next = nextCall();
        await a.store.add([job()]);
        await next.promise;
        next = nextCall();
        const { jobs: [claimed] } = await a.store.claimDue({ limit: 1, skip: NONE });
        await a.store.release(claimed!);
        await next.promise;
        stop();
      });
    });

    test("watch() is not called when another engine completes or fails a job", async () => {
      await withSchema(url, async ({ open }) => {
        const [a, b] = [await open(), await open()];
        let calls = 0;
        let next = nextCall();
        const stop = b.store.watch(() => {
          calls++;
          next.call();
        });
        await next.promise;
        next = nextCall();
        await a.store.add([job(), job()]);
        await next.promise;
        const { jobs: [done, failed] } = await a.store.claimDue({ limit: 2, skip: NONE });
        await a.store.complete(done!, null, false);
        await a.store.fail(failed!, ERROR);
        // Notifications arrive in commit order: one for the completion or the
        // failure would come before the one for this job.
        next = nextCall();
        await a.store.add([job()]);
        await next.promise;
        assert.equal(calls, 3);
        stop();
      });
    });

    test("two engines opening a new schema at once migrate it once", async () => {
      await withSchema(url, async ({ open, sql, schema }) => {
        const stores = await Promise.all([open(), open(), open()]);
        const versions = await sql.unsafe(`SELECT version FROM "${schema}".migrations`);
        assert.deepEqual(versions.map((row) => row.version), [1]);
        await stores[0]!.store.add([job()]);
        assert.equal((await stores[2]!.store.list()).length, 1);
      });
    });

    test("a schema migrated by a newer jobq is refused with a clear error", async () => {
      await withSchema(url, async ({ open, sql, schema }) => {
        await open();
        await sql.unsafe(`INSERT INTO "${schema}".migrations (version) VALUES (999)`);
        await assert.rejects(open(), (error: JobQueueError) => {
          assert.equal(error.name, "JobQueueError");
          assert.match(error.message, /newer jobq/);
          return true;
        });
      });
    });

    test("claimDue() tells nextDueAt on the engine's clock when it is 30 s off the server's", async () => {
      await withSchema(url, async ({ open }) => {
        const { store } = await open();
        await store.add([job("work", { waitTime: 5_000 })]);
        const realNow = Date.now;
        for (const step of [30_000, -30_000]) {
          // This engine's clock is off; the server's is this machine's.
          Date.now = () => realNow() + step;
          try {
            const { jobs, nextDueAt } = await store.claimDue({ limit: 1, skip: NONE });
            assert.deepEqual(jobs, []);
            const dueIn = nextDueAt! - Date.now();
            assert.ok(dueIn > 3_000 && dueIn <= 5_000, `due in ${dueIn} ms by the engine's clock`);
          } finally {
            Date.now = realNow;
          }
        }
      });
    });

    test("claimDue() calls made while a claim is under way are served together by one statement", async () => {
      await withSchema(url, async ({ sql, schema }) => {
        const claims: string[] = [];
        // The application's client, watched: which claim statements run.
        const watched = new Proxy(sql, {
          get(target, property) {
            const value = Reflect.get(target, property);
            if (property !== "unsafe") {
              return typeof value === "function" ? value.bind(target) : value;
            }
            return (query: string, ...rest: unknown[]) => {
              if (query.includes("SKIP LOCKED")) claims.push(query);
              return (value as (...args: unknown[]) => unknown).call(target, query, ...rest);
            };
          },
        });
        const store = new PostgresJobStore({ sql: watched, schema });
        await store.open({ engineId: engineId(), claimTimeout: 30_000, report: () => {} });
        try {
          await store.add(Array.from({ length: 10 }, () => job()));
          claims.length = 0;
          const dues = await Promise.all(
            [1, 2, 3].map((limit) => store.claimDue({ limit, skip: NONE })),
          );
          assert.deepEqual(dues.map((due) => due.jobs.length), [1, 2, 3]);
          const ids = dues.flatMap((due) => due.jobs.map((claimed) => claimed.id));
          assert.equal(new Set(ids).size, 6);
          // The first alone, the two that came while it ran in one.
          assert.equal(claims.length, 2);
          assert.equal((await store.list({ state: JobState.IN_PROGRESS })).length, 6);
        } finally {
          await store.close();
        }
      });
    });

    test("a client the application passes as sql is used, and not ended by close()", async () => {
      await withSchema(url, async ({ sql, schema }) => {
        const store = new PostgresJobStore({ sql, schema });
        await store.open({ engineId: engineId(), claimTimeout: 30_000, report: () => {} });
        await store.add([job()]);
        await store.close();
        const [row] = await sql.unsafe(`SELECT count(*)::int AS n FROM "${schema}".jobs`);
        assert.equal(row!.n, 1);
      });
    });
  });
});

describe("PostgresJobStore without a server", () => {
  test("the constructor refuses options without exactly one of url and sql, or a bad schema", () => {
    assert.throws(() => new PostgresJobStore({}), TypeError);
    assert.throws(
      () => new PostgresJobStore({ url: "postgres://localhost/x", schema: "Bad-Name" }),
      TypeError,
    );
    assert.throws(
      () => new PostgresJobStore({ url: "postgres://localhost/x", maxConnections: 0 }),
      RangeError,
    );
  });

  test("open() fails with a clear error when nothing listens at the address", async () => {
    const store = new PostgresJobStore({ url: "postgres://jobq@127.0.0.1:1/jobq" });
    const started = Date.now();
    await assert.rejects(
      store.open({ engineId: engineId(), claimTimeout: 30_000, report: () => {} }),
      (error: JobQueueError) => {
        assert.equal(error.name, "JobQueueError");
        assert.match(error.message, /Cannot prepare the queue's tables: PostgreSQL/);
        assert.match(error.message, /check that the server is reachable/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 5_000);
  });

  test("open() gives up within connectTimeout on a server that never answers", async () => {
    const silent: Server = createServer(() => {}); // accepts, then says nothing
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as { port: number };
    try {
      const store = new PostgresJobStore({
        url: `postgres://jobq@127.0.0.1:${port}/jobq`,
        connectTimeout: 500,
      });
      const started = Date.now();
      await assert.rejects(
        store.open({ engineId: engineId(), claimTimeout: 30_000, report: () => {} }),
        (error: JobQueueError) => error.name === "JobQueueError" && /timeout/i.test(error.message),
      );
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 5_000, `gave up after ${elapsed} ms`);
    } finally {
      silent.close();
      // Connections postgres.js left open to the silent server.
      (silent as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    }
  });
});
