/**
 * The conformance suite of {@linkcode JobStore}: {@linkcode testJobStore}
 * declares, with `node:test`, the tests that every store must pass to keep
 * the contract that `job_store.ts` describes. It runs under Deno, Bun and
 * Node.
 *
 * @example A store's test file
 * ```ts ignore
 * import { testJobStore } from "@x/jobq/store/testing";
 * import { MyJobStore, openTestDatabase } from "my-job-store";
 *
 * testJobStore("MyJobStore", async () => {
 *   const database = await openTestDatabase();
 *   return {
 *     store: new MyJobStore(database),
 *     another: () => new MyJobStore(database),
 *     cleanUp: () => database.drop(),
 *   };
 * });
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import process from "node:process";
import { describe, test } from "node:test";
import { Job, type JobErrorRecord, type JobSpec, JobState } from "../job/job.ts";
import type { ClaimRequest, JobStore } from "./job_store.ts";

/**
 * Fresh storage for one test of {@linkcode testJobStore}, and the store
 * instances on it. The suite opens the instances (it names their engines and
 * leases), closes them when the test ends, and then calls `cleanUp`.
 *
 * @example Two file stores on one temporary directory
 * ```ts
 * import type { StoreUnderTest } from "@x/jobq/store/testing";
 * import { FileJobStore } from "@x/jobq/store";
 *
 * const directory = await Deno.makeTempDir();
 * const storage: StoreUnderTest = {
 *   store: new FileJobStore({ directory }),
 *   another: () => new FileJobStore({ directory }),
 *   cleanUp: () => Deno.remove(directory, { recursive: true }),
 * };
 * await storage.cleanUp();
 * ```
 */
export interface StoreUnderTest {
  /** The first store instance, not opened. */
  readonly store: JobStore;
  /**
   * Makes another instance on the same storage, not opened: one more
   * engine, as one on another machine would have it. The suite stops the
   * heartbeats of some of these to see their claims recovered, so the store
   * must judge them by their lease alone.
   */
  another(): JobStore;
  /** Removes the storage, once every instance is closed. */
  cleanUp(): Promise<void>;
}

/** An opened store, and the engine it works for. */
interface Engine {
  readonly store: JobStore;
  readonly engineId: string;
}

interface OpenOptions {
  /** The engine's lease in ms. @default {30000} */
  readonly claimTimeout?: number;
}

/** One test's storage: opens instances on it, first `store`, then `another()`s. */
interface Storage {
  open(options?: OpenOptions): Promise<Engine>;
}

const NONE: ReadonlySet<string> = new Set();
const ERROR: JobErrorRecord = { name: "Error", message: "boom" };
/** Every store refuses a job whose JSON is over this many characters (see `JobStore.add`). */
const LARGEST_JOB = 64 * 1024 * 1024;
/** How long a test waits for what a store does on its own clock (leases, watching). */
const DEADLINE_MS = 15_000;
/** A lease short enough to wait past, long enough to outlast a busy machine's pauses. */
const SHORT_LEASE = 1000;

function engineId(): string {
  return [...crypto.getRandomValues(new Uint8Array(8))]
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

function job(methodName = "work", spec: Omit<JobSpec, "methodName"> = {}): Job {
  return Job.fromSpec({ methodName, ...spec });
}

function ids(jobs: readonly Job[]): string[] {
  return jobs.map((one) => one.id);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns something other than `undefined`, failing after the deadline. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${DEADLINE_MS} ms`);
    await delay(25);
  }
}

/**
 * Claims with `request`, checks that the next job left waiting comes due at
 * `dueAt`, and gives the jobs claimed. On the engine's clock: a store that
 * judges dates by a clock of its own tells it late by up to the call's
 * duration, and a millisecond early by rounding.
 */
async function claimTellingDueAt(
  store: JobStore,
  request: ClaimRequest,
  dueAt: number,
): Promise<readonly Job[]> {
  const calledAt = Date.now();
  const { jobs, nextDueAt } = await store.claimDue(request);
  assert.ok(
    nextDueAt !== undefined && nextDueAt >= dueAt - 1 && nextDueAt <= dueAt + Date.now() - calledAt,
    `nextDueAt is ${nextDueAt}, not ${dueAt}`,
  );
  return jobs;
}

/** Calls `recover()` until it has taken back `count` claims: leases run out on the store's clock. */
async function recoverClaims(store: JobStore, count: number): Promise<void> {
  let recovered = 0;
  await eventually(`recovering ${count} claims`, async () => {
    recovered += await store.recover();
    return recovered >= count ? true : undefined;
  });
  assert.equal(recovered, count);
}

/** Waits until the clock has passed `time`, so that the next date a store takes is later. */
async function clockPast(time: number): Promise<void> {
  while (Date.now() <= time) await delay(1);
}

/** Runs `body` on fresh storage, closing its stores and cleaning it up afterwards. */
async function withStorage(
  makeStore: () => Promise<StoreUnderTest>,
  body: (storage: Storage) => Promise<void>,
): Promise<void> {
  const underTest = await makeStore();
  const opened: JobStore[] = [];
  const storage: Storage = {
    async open({ claimTimeout = 30_000 } = {}) {
      const store = opened.length === 0 ? underTest.store : underTest.another();
      const engine = { store, engineId: engineId() };
      await store.open({ engineId: engine.engineId, claimTimeout, report: () => {} });
      opened.push(store);
      return engine;
    },
  };
  try {
    await body(storage);
  } finally {
    // Engines a test left for dead may fail to unregister: their store said so already.
    await Promise.all(opened.map((store) => store.close().catch(() => {})));
    await underTest.cleanUp();
  }
}

/**
 * Declares the conformance tests of a {@linkcode JobStore} under
 * `describe(name)`: adding (all or none, unique keys, late occurrences of
 * recurring jobs), claiming (exactly one engine gets each job; priority,
 * date and id order; paused methods; `nextDueAt`), recording outcomes (and
 * writing nothing once a claim is lost), recovering the claims of engines
 * whose lease ran out, retrying, replacing, removing, pruning, listing,
 * engines, JSON fidelity, and `watch` when the store has it.
 *
 * Each test calls `makeStore` for fresh storage. Tests that recover claims
 * wait for a lease of a second to run out on the store's clock.
 *
 * @param name The name of the `describe` block: the store's name.
 * @param makeStore Makes fresh storage and the store instances on it.
 *
 * @example The file store's test file
 * ```ts ignore
 * import { testJobStore } from "@x/jobq/store/testing";
 * import { FileJobStore } from "@x/jobq/store";
 *
 * testJobStore("FileJobStore", async () => {
 *   const directory = await Deno.makeTempDir();
 *   return {
 *     store: new FileJobStore({ directory, pollInterval: 20 }),
 *     another: () => new FileJobStore({ directory, pollInterval: 20, fs: onAnotherHost }),
 *     cleanUp: () => Deno.remove(directory, { recursive: true }),
 *   };
 * });
 * ```
 */
export function testJobStore(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  const withStores = (body: (storage: Storage) => Promise<void>) => () =>
    withStorage(makeStore, body);

  describe(name, () => {
    test(
      "add() stores every job of a call and reports each added, in order",
      withStores(async ({ open }) => {
        const { store } = await open();
        // The last one, waiting for its third attempt, has every field a waiting job can have.
        const retried = job("c", {
          priority: -2,
          maxAttempts: 5,
          backoff: { type: "fixed", delay: 10 },
          timeout: 1000,
        }).toJSON();
        const jobs = [
          job("a"),
          job("b", { params: [1, 2] }),
          job("a", { waitTime: 60_000 }),
          Job.fromJSON({
            ...retried,
            attempts: 2,
            interruptions: 1,
            startedAt: retried.createdAt + 1,
            error: { name: "Error", message: "failed" },
            progress: { done: 0.5 },
          }),
        ];
        const results = await store.add(jobs);
        assert.deepEqual(
          results.map((result) => [result.kind, result.job.id]),
          jobs.map((one) => ["added", one.id]),
        );
        for (const one of jobs) assert.deepEqual((await store.get(one.id))?.toJSON(), one.toJSON());
        assert.deepEqual(await store.add([]), []);
      }),
    );

    test(
      "add() stores none of a call's jobs when one is too large",
      withStores(async ({ open }) => {
        const { store } = await open();
        const fine = [job("a"), job("b", { uniqueKey: "k" })];
        const huge = Job.fromJSON({ ...job("c").toJSON(), params: "x".repeat(LARGEST_JOB + 1) });
        await assert.rejects(store.add([fine[0]!, huge, fine[1]!]), RangeError);
        assert.deepEqual(await store.list(), []);
        // Nor did it keep the unique key.
        assert.deepEqual((await store.add([job("b", { uniqueKey: "k" })]))[0]!.kind, "added");
      }),
    );

    test(
      "add() reports a job whose unique key a waiting or running job holds as held",
      withStores(async ({ open }) => {
        const { store } = await open();
        const [holder, twin, third] = [1, 2, 3].map(() => job("work", { uniqueKey: "k" }));
        // Within one call, the key goes to the first job that has it.
        const other = job("other");
        const results = await store.add([holder!, other, twin!]);
        assert.deepEqual(results.map((result) => [result.kind, result.job.id]), [
          ["added", holder!.id],
          ["added", other.id],
          ["held", holder!.id],
        ]);
        assert.deepEqual(
          (await store.add([third!])).map((result) => [result.kind, result.job.id]),
          [["held", holder!.id]],
        );
        const { jobs: [claimed] } = await store.claimDue({ limit: 1, skip: NONE });
        assert.equal(claimed?.id, holder!.id);
        const [whileRunning] = await store.add([third!]);
        assert.equal(whileRunning?.kind, "held");
        assert.equal(whileRunning?.job.id, holder!.id);
        // Finished, the job lets go of its key.
        await store.complete(claimed!, undefined, true);
        assert.equal((await store.add([third!]))[0]?.kind, "added");
        const { jobs: [next] } = await store.claimDue({ limit: 1, skip: NONE });
        await store.fail(next!, ERROR);
        const fourth = job("work", { uniqueKey: "k" });
        assert.equal((await store.add([fourth]))[0]?.kind, "added");
        // Removed, too.
        assert.equal(await store.remove(fourth.id), true);
        assert.equal((await store.add([job("work", { uniqueKey: "k" })]))[0]?.kind, "added");
      }),
    );

    test(
      "add() does not store an occurrence of a recurring job whose date has come: late",
      withStores(async ({ open }) => {
        const { store } = await open();
        // Occurrences as a schedule made them a minute ago: their date has come.
        const late = Job.fromSpec(
          { methodName: "tick", repeat: { every: 1000 } },
          Date.now() - 60_000,
        );
        const lateTwin = Job.fromJSON({ ...late.toJSON(), id: job("tick").id });
        const coming = Job.fromSpec({ methodName: "tock", repeat: { every: 3_600_000 } });
        const results = await store.add([late, coming, lateTwin]);
        assert.deepEqual(results.map((result) => result.kind), ["late", "added", "late"]);
        assert.equal(results[0]!.job, late);
        assert.deepEqual(ids(await store.list()), [coming.id]);
      }),
    );

    test(
      "of two store instances claiming at once, exactly one gets each job",
      withStores(async ({ open }) => {
        const [a, b] = [await open(), await open()];
        const jobs = Array.from({ length: 60 }, () => job());
        await a.store.add(jobs.slice(0, 30));
        await b.store.add(jobs.slice(30));
        const claimedBy = new Map<string, string>();
        for (let round = 0; round < 20 && claimedBy.size < jobs.length; round++) {
          // Two calls from each instance at once, too.
          const claims = await Promise.all([a, b, a, b].map(async (engine, index) => ({
            engine: engine.engineId,
            due: await engine.store.claimDue({ limit: 3 + index, skip: NONE }),
          })));
          for (const { engine, due } of claims) {
            for (const claimed of due.jobs) {
              assert.equal(claimedBy.get(claimed.id), undefined, `${claimed.id} claimed twice`);
              assert.equal(claimed.state, JobState.IN_PROGRESS);
              claimedBy.set(claimed.id, engine);
            }
          }
        }
        assert.deepEqual([...claimedBy.keys()].sort(), ids(jobs).sort());
        assert.ok(new Set(claimedBy.values()).size === 2, "both instances claimed jobs");
        for (const { store } of [a, b]) {
          assert.deepEqual(await store.claimDue({ limit: 10, skip: NONE }), {
            jobs: [],
            nextDueAt: undefined,
          });
        }
      }),
    );

    test(
      "claimDue() hands out by priority, then date, then id, skips paused methods, and tells nextDueAt",
      withStores(async ({ open }) => {
        const { store } = await open();
        const now = Date.now();
        const old = job("work", { executionDate: now - 2000 });
        const [twin1, twin2] = [
          job("work", { executionDate: now - 1500 }),
          job("work", { executionDate: now - 1500 }),
        ]
          .sort((x, y) => x.id < y.id ? -1 : 1);
        const recent = job("work", { executionDate: now - 1000 });
        const urgent = job("work", { executionDate: now - 500, priority: 5 });
        const paused = job("paused", { executionDate: now - 5000, priority: 9 });
        const soon = job("work", { executionDate: now + 60_000 });
        const laterButUrgent = job("work", { executionDate: now + 120_000, priority: 9 });
        await store.add([laterButUrgent, twin2!, soon, recent, old, urgent, twin1!, paused]);
        const skip = new Set(["paused"]);

        const told = await store.claimDue({ limit: 0, skip });
        assert.deepEqual(told.jobs, []);
        assert.ok(told.nextDueAt! <= Date.now(), "due jobs wait: nextDueAt is in the past");
        const first = await store.claimDue({ limit: 2, skip });
        assert.deepEqual(ids(first.jobs), [urgent.id, old.id]);
        for (const claimed of first.jobs) {
          assert.equal(claimed.state, JobState.IN_PROGRESS);
          assert.equal(claimed.attempts, 1);
          assert.ok(claimed.startedAt !== undefined && claimed.startedAt >= now);
        }
        // More are due than were claimed: the next is due in the past.
        assert.ok(first.nextDueAt! <= Date.now());
        // Neither the paused job nor the priority of a job not due counts.
        const second = await claimTellingDueAt(store, { limit: 10, skip }, soon.executionDate);
        assert.deepEqual(ids(second), [twin1!.id, twin2!.id, recent.id]);
        const third = await claimTellingDueAt(store, { limit: 10, skip: NONE }, soon.executionDate);
        assert.deepEqual(ids(third), [paused.id]);
        assert.deepEqual(
          await claimTellingDueAt(store, { limit: 10, skip: NONE }, soon.executionDate),
          [],
        );
        assert.equal(await store.removeWhere({ state: JobState.NOT_STARTED }), 2);
        assert.deepEqual(await store.claimDue({ limit: 10, skip: NONE }), {
          jobs: [],
          nextDueAt: undefined,
        });
      }),
    );

    test(
      "get() and list() show a claimed job as IN_PROGRESS; list() filters and pages in id order",
      withStores(async ({ open }) => {
        const { store } = await open();
        const jobs = [job("a"), job("b"), job("a", { waitTime: 60_000 }), job("a")];
        await store.add(jobs);
        const { jobs: [claimed] } = await store.claimDue({ limit: 1, skip: NONE });
        assert.equal((await store.get(claimed!.id))?.state, JobState.IN_PROGRESS);
        assert.equal(await store.get(job().id), undefined);
        const all = ids(jobs).sort();
        assert.deepEqual(ids(await store.list()), all);
        assert.deepEqual(ids(await store.list({ state: JobState.IN_PROGRESS })), [claimed!.id]);
        assert.deepEqual(
          ids(await store.list({ state: JobState.NOT_STARTED })),
          all.filter((id) => id !== claimed!.id),
        );
        const as = ids(jobs.filter((one) => one.methodName === "a")).sort();
        assert.deepEqual(ids(await store.list({ methodName: "a", limit: 2 })), as.slice(0, 2));
        assert.deepEqual(ids(await store.list({ methodName: "a", after: as[1]!, limit: 2 })), [
          as[2],
        ]);
        assert.deepEqual(ids(await store.list({ after: all[3]! })), []);
        assert.deepEqual(ids(await store.list({ limit: 0 })), []);
        assert.deepEqual(await store.list({ methodName: "none" }), []);
      }),
    );

    test(
      "complete(), fail() and progress() record the outcome; complete() without keep removes",
      withStores(async ({ open }) => {
        const { store } = await open();
        await store.add([job("kept"), job("removed"), job("failed")]);
        const { jobs } = await store.claimDue({ limit: 3, skip: NONE });
        const byName = new Map(jobs.map((one) => [one.methodName, one]));
        const progressed = await store.progress(byName.get("kept")!, { done: 1 });
        assert.deepEqual(progressed?.progress, { done: 1 });
        assert.equal(progressed?.state, JobState.IN_PROGRESS);
        assert.deepEqual((await store.get(progressed!.id))?.progress, { done: 1 });
        assert.equal((await store.get(progressed!.id))?.attempts, 1);
        const kept = await store.complete(byName.get("kept")!, { ok: true }, true);
        assert.equal(kept?.state, JobState.COMPLETED);
        assert.ok(kept!.finishedAt! >= kept!.startedAt!);
        assert.deepEqual((await store.get(kept!.id))?.toJSON(), kept!.toJSON());
        const removed = await store.complete(byName.get("removed")!, 7, false);
        assert.equal(removed?.state, JobState.COMPLETED);
        assert.equal(removed?.result, 7);
        assert.equal(await store.get(removed!.id), undefined);
        const failed = await store.fail(byName.get("failed")!, ERROR);
        assert.equal(failed?.state, JobState.FAILED);
        assert.deepEqual((await store.get(failed!.id))?.toJSON(), failed!.toJSON());
        // Finished jobs are not handed out again.
        assert.deepEqual(await store.claimDue({ limit: 10, skip: NONE }), {
          jobs: [],
          nextDueAt: undefined,
        });
      }),
    );

    test(
      "every outcome after a lost claim writes nothing and resolves to undefined",
      withStores(async ({ open }) => {
        // A dies: it stops renewing its lease, and B takes its claim back.
        const b = await open();
        const a = await open({ claimTimeout: SHORT_LEASE });
        await a.store.add([job()]);
        const { jobs: [claimed] } = await a.store.claimDue({ limit: 1, skip: NONE });
        await recoverClaims(b.store, 1);
        const outcomes = async () => {
          const stored = (await b.store.get(claimed!.id))!.toJSON();
          assert.equal(await a.store.complete(claimed!, "done", true), undefined);
          assert.equal(await a.store.complete(claimed!, "done", false), undefined);
          assert.equal(await a.store.progress(claimed!, 50), undefined);
          assert.equal(await a.store.fail(claimed!, ERROR), undefined);
          assert.equal(await a.store.retryLater(claimed!, ERROR, Date.now(), false), undefined);
          assert.equal(await a.store.retryLater(claimed!, ERROR, Date.now(), true), undefined);
          assert.equal(await a.store.release(claimed!), undefined);
          assert.equal(await a.store.release(claimed!, Date.now() + 60_000), undefined);
          assert.equal(await a.store.unclaim(claimed!), false);
          assert.deepEqual((await b.store.get(claimed!.id))!.toJSON(), stored);
        };
        // Taken back, waiting: …
        await outcomes();
        // … and claimed by B, which keeps its claim.
        const { jobs: [again] } = await b.store.claimDue({ limit: 1, skip: NONE });
        assert.equal(again?.id, claimed!.id);
        await outcomes();
        const completed = await b.store.complete(again!, "done", true);
        assert.equal(completed?.state, JobState.COMPLETED);
      }),
    );

    test(
      "recover() takes back the claims of an engine whose lease ran out, counting the cut-short runs",
      withStores(async ({ open }) => {
        const b = await open();
        const a = await open({ claimTimeout: SHORT_LEASE });
        await a.store.add([job(), job(), job()]);
        const { jobs } = await a.store.claimDue({ limit: 3, skip: NONE });
        // One run reported progress (its attempt is stored), one failed and
        // waits for a retry whose claim A kept: not a run cut short.
        await a.store.progress(jobs[0]!, "half");
        await a.store.retryLater(jobs[2]!, ERROR, Date.now(), true);
        await a.store.heartbeat();
        assert.equal(await b.store.recover(), 0, "a live lease is not taken");
        await recoverClaims(b.store, 3);
        for (const { id } of jobs.slice(0, 2)) {
          const back = (await b.store.get(id))!;
          assert.equal(back.state, JobState.NOT_STARTED);
          assert.equal(back.attempts, 1);
          assert.equal(back.interruptions, 1);
        }
        const retried = (await b.store.get(jobs[2]!.id))!;
        assert.equal(retried.state, JobState.NOT_STARTED);
        assert.equal(retried.attempts, 1);
        assert.equal(retried.interruptions, 0);
        assert.deepEqual(retried.error, ERROR);
        const engines = await b.store.engines();
        assert.ok(!engines.some((engine) => engine.id === a.engineId && engine.alive));
        assert.ok(engines.some((engine) => engine.id === b.engineId && engine.alive));
        const again = await b.store.claimDue({ limit: 3, skip: NONE });
        assert.deepEqual(again.jobs.map((one) => one.attempts), [2, 2, 2]);
        assert.equal(await b.store.recover(), 0);
      }),
    );

    test(
      "retryLater() with keepClaim holds the retry until unclaim(); without, it is free at once",
      withStores(async ({ open }) => {
        const [a, b] = [await open(), await open()];
        const sent = job();
        await a.store.add([sent]);
        let { jobs: [claimed] } = await a.store.claimDue({ limit: 1, skip: NONE });
        const waiting = await a.store.retryLater(claimed!, ERROR, Date.now() - 1, true);
        assert.equal(waiting?.state, JobState.NOT_STARTED);
        assert.equal(waiting?.attempts, 1);
        assert.deepEqual(waiting?.error, ERROR);
        for (const { store } of [a, b]) {
          assert.deepEqual((await store.claimDue({ limit: 1, skip: NONE })).jobs, []);
        }
        assert.equal(await a.store.remove(sent.id), false, "a kept claim holds the job");
        assert.equal(await a.store.unclaim(claimed!), true);
        ({ jobs: [claimed] } = await b.store.claimDue({ limit: 1, skip: NONE }));
        assert.equal(claimed?.attempts, 2);
        const retryAt = Date.now() + 60_000;
        const later = await b.store.retryLater(claimed!, ERROR, retryAt, false);
        assert.equal(later?.executionDate, retryAt);
        assert.deepEqual(await claimTellingDueAt(a.store, { limit: 1, skip: NONE }, retryAt), []);
      }),
    );

    test(
      "release() gives a claimed job back unrun, due when it was or at the date given",
      withStores(async ({ open }) => {
        const [a, b] = [await open(), await open()];
        const sent = job();
        await a.store.add([sent]);
        const { jobs: [claimed] } = await a.store.claimDue({ limit: 1, skip: NONE });
        const released = await a.store.release(claimed!);
        assert.equal(released?.state, JobState.NOT_STARTED);
        assert.equal(released?.attempts, 0);
        assert.equal(released?.executionDate, sent.executionDate);
        const { jobs: [again] } = await b.store.claimDue({ limit: 1, skip: NONE });
        assert.equal(again?.id, sent.id);
        assert.equal(again?.attempts, 1);
        const at = Date.now() + 60_000;
        assert.equal((await b.store.release(again!, at))?.executionDate, at);
        assert.equal((await a.store.get(sent.id))?.attempts, 0);
        assert.deepEqual(await claimTellingDueAt(a.store, { limit: 1, skip: NONE }, at), []);
      }),
    );

    test(
      "replace() swaps a failed job for a fresh one in one step, unless its key is held",
      withStores(async ({ open }) => {
        const { store } = await open();
        await store.add([job("work", { uniqueKey: "k" }), job("done")]);
        const { jobs } = await store.claimDue({ limit: 2, skip: NONE });
        const byName = new Map(jobs.map((one) => [one.methodName, one]));
        const failed = (await store.fail(byName.get("work")!, ERROR))!;
        const completed = (await store.complete(byName.get("done")!, undefined, true))!;
        const fresh = () => job("work", { uniqueKey: "k" });
        // A waiting job holds the key: the failed job stays.
        const holder = fresh();
        await store.add([holder]);
        const held = await store.replace(failed, fresh());
        assert.equal(held?.kind, "held");
        assert.equal(held?.job.id, holder.id);
        assert.equal((await store.get(failed.id))?.state, JobState.FAILED);
        assert.equal(await store.remove(holder.id), true);
        const replacement = fresh();
        const added = await store.replace(failed, replacement);
        assert.equal(added?.kind, "added");
        assert.equal(added?.job.id, replacement.id);
        assert.equal(await store.get(failed.id), undefined);
        assert.deepEqual(ids(await store.list()), [completed.id, replacement.id].sort());
        // Only a failed job is replaced.
        assert.equal(await store.replace(failed, fresh()), undefined);
        assert.equal(await store.replace(replacement, job()), undefined);
        assert.equal(await store.replace(completed, job()), undefined);
        const { jobs: [claimed] } = await store.claimDue({ limit: 1, skip: NONE });
        assert.equal(claimed?.id, replacement.id);
      }),
    );

    test(
      "remove() and removeWhere() remove what matches and no engine holds",
      withStores(async ({ open }) => {
        const { store } = await open();
        const claimedFirst = job("a", { priority: 1 });
        await store.add([claimedFirst, job("a"), job("b"), job("c"), job("c")]);
        const { jobs: [claimed] } = await store.claimDue({ limit: 1, skip: NONE });
        assert.equal(claimed?.id, claimedFirst.id);
        assert.equal(await store.remove(claimed!.id), false);
        assert.equal(await store.removeWhere({ state: JobState.IN_PROGRESS }), 0);
        assert.equal(await store.removeWhere({ methodName: "a" }), 1);
        assert.equal(await store.removeWhere({ methodName: "c", state: JobState.FAILED }), 0);
        const failed = (await store.fail(claimed!, ERROR))!;
        const finishedAt = (await store.get(failed.id))!.finishedAt!;
        // Waiting jobs have not finished: finishedBefore leaves them.
        assert.equal(await store.removeWhere({ finishedBefore: finishedAt }), 0);
        assert.equal(await store.removeWhere({ finishedBefore: finishedAt + 1 }), 1);
        const left = await store.list();
        assert.deepEqual(left.map((one) => one.methodName), ["b", "c", "c"]);
        assert.equal(await store.remove(left[0]!.id), true);
        assert.equal(await store.remove(left[0]!.id), false);
        assert.equal(await store.remove(job().id), false);
        assert.equal(await store.removeWhere({}), 2);
        assert.deepEqual(await store.list(), []);
      }),
    );

    test(
      "pruneCompleted() keeps the most recently finished, by count and by age",
      withStores(async ({ open }) => {
        const { store } = await open();
        await store.add([
          ...Array.from({ length: 5 }, () => job()),
          job("fails"),
          job("waits", { waitTime: 60_000 }),
        ]);
        const { jobs } = await store.claimDue({ limit: 6, skip: NONE });
        const completed: Job[] = [];
        for (const one of jobs) {
          if (one.methodName === "fails") {
            await store.fail(one, ERROR);
            continue;
          }
          await store.complete(one, undefined, true);
          const stored = (await store.get(one.id))!;
          completed.push(stored);
          await clockPast(stored.finishedAt!);
        }
        assert.equal(await store.pruneCompleted({}), 0);
        assert.equal(await store.pruneCompleted({ count: 4 }), 1);
        assert.equal(await store.get(completed[0]!.id), undefined);
        assert.equal(await store.pruneCompleted({ finishedAfter: completed[2]!.finishedAt! }), 2);
        const left = async (method: string) => ids(await store.list({ methodName: method })).sort();
        assert.deepEqual(await left("work"), ids(completed.slice(3)).sort());
        assert.equal(await store.pruneCompleted({ count: 0 }), 2);
        assert.deepEqual(await left("work"), []);
        assert.equal((await store.list()).length, 2, "failed and waiting jobs are not pruned");
      }),
    );

    test(
      "engines() tells this engine alive and current, and the others",
      withStores(async ({ open }) => {
        const [a, b] = [await open(), await open()];
        const before = Date.now();
        await a.store.heartbeat();
        const engines = await a.store.engines();
        const mine = engines.find((engine) => engine.id === a.engineId);
        assert.ok(mine !== undefined, "this engine is listed");
        assert.equal(mine.alive, true);
        assert.equal(mine.current, true);
        assert.equal(mine.pid, process.pid);
        assert.ok(mine.startedAt <= mine.heartbeatAt);
        assert.ok(mine.heartbeatAt >= before - 1000, "heartbeat() renewed the lease");
        const other = engines.find((engine) => engine.id === b.engineId);
        assert.equal(other?.alive, true);
        assert.equal(other?.current, false);
        assert.equal(engines.filter((engine) => engine.current).length, 1);
      }),
    );

    test(
      "params, results, progress and errors round-trip exactly",
      withStores(async ({ open }) => {
        const { store } = await open();
        const params = {
          zeta: 1,
          alpha: { z: [1, 2, { y: null, x: "\u0000" }], a: "é✓😀", "\u0000key": true },
          big: 1e300,
          unsafe: 2 ** 53 + 2,
          small: -1.5e-300,
          quote: 'it\'s "quoted" \\ and\nlines',
          empty: {},
          list: [[], [[]]],
        };
        const sent = job("work", { params });
        await store.add([sent]);
        assert.equal(JSON.stringify((await store.get(sent.id))?.params), JSON.stringify(params));
        const { jobs: [claimed] } = await store.claimDue({ limit: 1, skip: NONE });
        assert.equal(JSON.stringify(claimed?.params), JSON.stringify(params));
        const progress = { b: 2, a: [params] };
        const progressed = await store.progress(claimed!, progress);
        const error = { name: "Error", message: "\u0000 nul", stack: "at x\n  at y" };
        const retried = await store.retryLater(progressed!, error, Date.now() - 1, false);
        assert.equal(JSON.stringify(retried?.progress), JSON.stringify(progress));
        assert.equal(JSON.stringify(retried?.error), JSON.stringify(error));
        assert.equal(JSON.stringify((await store.get(sent.id))?.error), JSON.stringify(error));
        const { jobs: [again] } = await store.claimDue({ limit: 1, skip: NONE });
        const completed = await store.complete(again!, params, true);
        assert.equal(JSON.stringify(completed?.result), JSON.stringify(params));
        assert.equal(
          JSON.stringify((await store.get(sent.id))?.toJSON()),
          JSON.stringify(completed?.toJSON()),
        );
        // A params value of null is not the absence of params.
        const nullish = job("work", { params: null });
        const none = job("work");
        await store.add([nullish, none]);
        assert.equal((await store.get(nullish.id))?.toJSON().params, null);
        assert.ok(!("params" in (await store.get(none.id))!.toJSON()));
      }),
    );

    test(
      "watch(), when the store has it, calls back when another instance adds a job",
      withStores(async ({ open }) => {
        const [a, b] = [await open(), await open()];
        if (a.store.watch === undefined) return; // optional: engines poll
        let calls = 0;
        const stop = a.store.watch(() => calls++);
        try {
          for (let round = 0; round < 2; round++) {
            const before = calls;
            await b.store.add([job()]);
            await eventually(
              "a call after another instance's add",
              () => Promise.resolve(calls > before ? true : undefined),
            );
          }
        } finally {
          stop();
        }
      }),
    );
  });
}
