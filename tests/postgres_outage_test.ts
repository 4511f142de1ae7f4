/**
 * PostgreSQL outages: connections the server terminates (a store's, and a
 * worker process's), a claim whose answer is lost, a server restarted mid-run
 * under a worker, and a server that cannot be reached.
 *
 * The restart starts a server of its own, so as not to disturb the other
 * tests: it needs PostgreSQL's server programs. The others but the
 * unreachable server need `JOBQ_TEST_POSTGRES_URL` (the test command starts a
 * server). Tests that lack what they need skip with a warning, except under
 * `CI=true`. The tests with worker processes run in the Deno run of the suite
 * only: the restart takes its server from `scripts/_postgres.ts`, a Deno
 * program.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type Job, jobContext, JobQueue, JobQueueError } from "../mod.ts";
import { type PostgresClient, PostgresJobStore } from "../src/store/postgres/mod.ts";
import {
  deferred,
  type Fixture,
  outcomeOf,
  recordEvents,
  runtime,
  withTempDir,
} from "./_helpers.ts";
import {
  assertNoOverlap,
  cleanUpFixtures,
  delay,
  printed,
  readRuns,
  stopWorker,
  untilPrinted,
  withDeadline,
} from "./_process_helpers.ts";
import { adminClient, withoutPostgres, withPostgres } from "./_postgres.ts";
import { jobsLeft, scheduleWork, startWorker, untilNoJobLeft } from "./_postgres_workers.ts";
import { withSchema } from "./_store.ts";

/** The runtime of the worker whose connections are cut: not the tests' own. */
const other: "deno" | "bun" = runtime === "bun" ? "deno" : "bun";

/** A store's engine as the tests open it: nothing is reported. */
const engine = (engineId: string) => ({ engineId, claimTimeout: 60_000, report: () => {} });

/** The URL of `url`'s server with connections named `name`, so that only theirs are cut. */
function namedUrl(url: string, name: string): string {
  const address = new URL(url);
  address.searchParams.set("application_name", name);
  return address.href;
}

/**
 * Terminates the connections named `name` (but the one of LISTEN, with
 * `listenToo` false); returns how many there were.
 */
async function terminateConnections(url: string, name: string, listenToo = true): Promise<number> {
  const sql = adminClient(url);
  try {
    const [row] = await sql`
      SELECT count(pg_terminate_backend(pid)) AS count FROM pg_stat_activity
      WHERE application_name = ${name} AND (${listenToo} OR query NOT ILIKE 'listen %')`;
    return Number(row?.count);
  } finally {
    await sql.end();
  }
}

/**
 * `sql`, but the answer to the first claim that takes jobs is lost after
 * PostgreSQL committed it, as when the connection is cut at that moment.
 */
function losingFirstClaimAnswer(sql: ReturnType<typeof adminClient>): PostgresClient {
  let lost = false;
  return {
    unsafe(query, parameters, options) {
      const answer = sql.unsafe(query, parameters, options);
      if (lost || !query.includes("FOR UPDATE SKIP LOCKED")) return answer;
      const rows = answer.values().then((rows) => {
        // A row with a job (not the one row of an empty claim).
        if (lost || !rows.some((row) => row[0] !== null)) return rows;
        lost = true;
        throw Object.assign(new Error("write CONNECTION_CLOSED"), { code: "CONNECTION_CLOSED" });
      });
      return { then: (...args) => rows.then(...args), values: () => rows };
    },
    begin: (body) => sql.begin(body),
    listen: (channel, onNotify, onListen) => sql.listen(channel, onNotify, onListen),
    end: (options) => sql.end(options),
  };
}

/** Resolves once `worker` is ready and has completed `count` jobs. */
async function untilCompleted(worker: Fixture, count: number): Promise<void> {
  await worker.waitForOutput("ready", 60_000);
  await untilPrinted(
    [worker],
    () => printed(worker, "completed").length >= count,
    `${count} completions`,
    60_000,
  );
}

/**
 * Every job of `jobs` ran, by the workers' log, none twice at once, and
 * none is left on `place`.
 */
async function assertRanOnceEach(
  log: string,
  url: string,
  place: string,
  jobs: readonly Job[],
): Promise<void> {
  const runs = await readRuns(log);
  assertNoOverlap(runs);
  assert.deepEqual([...runs.keys()].sort(), jobs.map((job) => job.id).sort());
  assert.deepEqual(await jobsLeft(url, place), []);
}

/** Resolves once `condition` holds, looking every 50 ms; rejects after `timeout` ms. */
function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeout = 20_000,
): Promise<void> {
  return withDeadline(
    (async () => {
      while (!await condition()) await delay(50);
    })(),
    timeout,
    what,
  );
}

withPostgres("PostgreSQL terminated connections", (url) => {
  test(
    "a store whose connections the server terminates mid-query answers again within moments, never after connectTimeout, and listens again",
    { timeout: 120_000 },
    async () => {
      await withSchema(async (place) => {
        const name = `jobq_${place}`;
        // Far beyond the deadlines below: a query left to wait it out shows.
        const connectTimeout = 300_000;
        const store = new PostgresJobStore({
          url: namedUrl(url, name),
          schema: place,
          connectTimeout,
        });
        await store.open(engine("cut"));
        let woken = deferred<void>();
        store.watch(() => woken.resolve());
        const sql = adminClient(url);
        /** The pids of the store's connections that LISTEN. */
        const listening = async () =>
          (await sql`SELECT pid FROM pg_stat_activity
            WHERE application_name = ${name} AND query ILIKE 'listen %'`).map((row) => row.pid);
        try {
          // Attached: each attachment wakes the watchers.
          await withDeadline(woken.promise, 20_000, "LISTEN");
          const [first] = await listening();
          for (let cut = 1; cut <= 5; cut++) {
            // More queries at once than the store has connections (4): each
            // connection busy and queries waiting for one when they are cut.
            let answered = 0;
            let cutting = true;
            const busy = Array.from({ length: 12 }, async () => {
              while (cutting) await store.get("none").then(() => answered++, () => {});
            });
            await until(() => answered >= 100, "100 answers");
            // Not LISTEN's: its connection must close with the client it is on.
            assert.ok(
              await terminateConnections(url, name, false) > 0,
              "no connection of the store",
            );
            cutting = false;
            await withDeadline(
              Promise.all(busy),
              20_000,
              `the end of the queries cut (cut ${cut})`,
            );
            // A query may still meet a connection that dies with the cut.
            await until(
              () =>
                Promise.all(Array.from({ length: 12 }, () => store.get("none"))).then(
                  () => true,
                  () => false,
                ),
              `12 answers at once after cut ${cut}`,
            );
          }
          // The clients let go end, LISTEN with them: one LISTEN again, on
          // the client of now, and it hears of new jobs.
          await until(async () => {
            const pids = await listening();
            return pids.length === 1 && pids[0] !== first;
          }, "one LISTEN of the store, on a new connection");
          woken = deferred<void>();
          await scheduleWork(url, place, 1);
          await withDeadline(woken.promise, 20_000, "the wake-up of the store");
        } finally {
          await store.close();
          await sql.end();
        }
      });
    },
  );

  test("jobs claimed by a claim whose answer was lost after PostgreSQL committed it run, once", {
    timeout: 120_000,
  }, async () => {
    await withSchema(async (place) => {
      const sql = adminClient(url);
      const queue = new JobQueue({
        store: new PostgresJobStore({ sql: losingFirstClaimAnswer(sql), schema: place }),
        maxConcurrency: 2,
        pollInterval: 100,
      });
      const runs: string[] = [];
      queue.registerJobHandler("work", () => {
        runs.push(jobContext().job.id);
      });
      const errors = recordEvents(queue, "error");
      try {
        const jobs = await queue.scheduleJobs(
          Array.from({ length: 6 }, (_, n) => ({ methodName: "work", params: { n } })),
        );
        const outcomes = jobs.map((job) => outcomeOf(queue, job.id));
        await queue.start();
        const settled = await Promise.all(outcomes);
        assert.deepEqual(
          settled.map((job) => [job.state, job.attempts]),
          jobs.map(() => ["COMPLETED", 1]),
        );
        assert.deepEqual(runs.sort(), jobs.map((job) => job.id).sort());
        assert.ok(
          errors.some((error) => /Cannot claim due jobs/.test(error.message)),
          "no claim failed",
        );
      } finally {
        await queue.dispose();
        await sql.end();
      }
    });
  });
});

if (runtime !== "deno") {
  const reason = "they run worker processes, and the restart a server of its own from " +
    "scripts/_postgres.ts, a Deno program: the Deno run of the suite runs them";
  console.warn(
    `WARNING: the PostgreSQL outage tests with workers are skipped under ${runtime}: ${reason}`,
  );
  test.skip(`PostgreSQL outages with workers (skipped under ${runtime}: ${reason})`, () => {});
} else {
  withPostgres("PostgreSQL terminated connections of a worker", (url) => {
    test(
      `a worker under ${other} whose connections the server terminates reconnects and runs every job`,
      { timeout: 120_000 },
      async () => {
        await withSchema((place) =>
          withTempDir(async (logs) => {
            const log = join(logs, "runs.log");
            const name = `jobq_${place}`;
            const first = await scheduleWork(url, place, 400);
            const worker = startWorker(
              namedUrl(url, name),
              place,
              { maxConcurrency: 2, pollInterval: 200, log },
              other,
            );
            let second: Job[] = [];
            try {
              await untilCompleted(worker, 50);
              assert.ok(await terminateConnections(url, name) > 0, "no connection of the worker");
              // Jobs stored after the cut are found too: LISTEN or polling.
              second = await scheduleWork(url, place, 100, 400);
              await untilNoJobLeft(url, place, 60_000);
              await stopWorker(worker);
            } finally {
              await cleanUpFixtures(worker);
            }
            await assertRanOnceEach(log, url, place, [...first, ...second]);
          })
        );
      },
    );
  });

  /**
   * What the restart takes from `scripts/_postgres.ts`, imported by a
   * computed name: the npm build of the tests, for Node, takes no import
   * from outside tests/.
   */
  interface ServerScript {
    findServerPrograms(): Promise<string | undefined>;
    startTestPostgres(): Promise<{ url: string; restart(): Promise<void>; stop(): Promise<void> }>;
  }
  const script: ServerScript = await import(
    new URL("../scripts/_postgres.ts", import.meta.url).href
  );
  if (await script.findServerPrograms() === undefined) {
    withoutPostgres(
      "PostgreSQL restart",
      "PostgreSQL's server programs (initdb, pg_ctl) are not installed: install Debian's " +
        "'postgresql' package (apt-get install postgresql)",
    );
  } else {
    test(
      "a server restarted mid-run (pg_ctl restart -m fast): the worker reconnects and runs every job, never twice at once, and LISTEN comes back",
      { timeout: 120_000 },
      async () => {
        const server = await script.startTestPostgres();
        try {
          await withTempDir(async (logs) => {
            const { url } = server;
            const place = "jobq";
            const log = join(logs, "runs.log");
            const first = await scheduleWork(url, place, 300);
            const worker = startWorker(url, place, { maxConcurrency: 2, pollInterval: 200, log });
            // An engine's store of the test's own, to see its LISTEN come back.
            const watcher = new PostgresJobStore({ url, schema: place });
            let woken = deferred<void>();
            let second: Job[] = [];
            try {
              await watcher.open(engine("watcher"));
              watcher.watch(() => woken.resolve());
              // Attached: each attachment wakes the watchers.
              await withDeadline(woken.promise, 20_000, "LISTEN");
              await untilCompleted(worker, 50);
              woken = deferred<void>();
              await withDeadline(server.restart(), 60_000, "the restart");
              second = await scheduleWork(url, place, 100, 300);
              await untilNoJobLeft(url, place, 60_000);
              await stopWorker(worker);
              // The watcher's first query after the restart may meet a cut
              // connection; once one succeeds, LISTEN attaches again.
              await until(
                () => watcher.get("none").then(() => true, () => false),
                "a query of the watcher",
              );
              await withDeadline(woken.promise, 20_000, "LISTEN after the restart");
            } finally {
              await cleanUpFixtures(worker);
              await watcher.close().catch(() => {});
            }
            await assertRanOnceEach(log, url, place, [...first, ...second]);
          });
        } finally {
          await server.stop();
        }
      },
    );
  }
}

describe("PostgreSQL: a server that cannot be reached", () => {
  /** A server that accepts connections and never answers. */
  async function withSilentServer(body: (url: string) => Promise<void>): Promise<void> {
    const silent: Server = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as { port: number };
    try {
      await body(`postgres://jobq@127.0.0.1:${port}/jobq`);
    } finally {
      silent.close();
      (silent as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    }
  }

  /** Nothing listens on port 1: the connection is refused. */
  const withRefusingAddress = (body: (url: string) => Promise<void>) =>
    body("postgres://jobq@127.0.0.1:1/jobq");

  for (
    const [what, withAddress] of [
      ["refuses connections", withRefusingAddress],
      ["never answers", withSilentServer],
    ] as const
  ) {
    for (const call of ["start", "scheduleJob"] as const) {
      test(`${call}() on a server that ${what} rejects with a JobQueueError within connectTimeout`, async () => {
        await withAddress(async (address) => {
          const queue = new JobQueue({
            store: new PostgresJobStore({ url: address, connectTimeout: 500 }),
          });
          try {
            const started = Date.now();
            const attempt = call === "start"
              ? queue.start()
              : queue.scheduleJob({ methodName: "work" });
            await withDeadline(
              assert.rejects(attempt, (error: unknown) =>
                error instanceof JobQueueError &&
                /PostgreSQL/.test(error.message) &&
                /reachable|connection settings/.test(error.message)),
              10_000,
              `the rejection of ${call}()`,
            );
            const elapsed = Date.now() - started;
            assert.ok(elapsed < 5_000, `gave up after ${elapsed} ms`);
          } finally {
            await withDeadline(queue.dispose(), 10_000, "dispose()");
          }
        });
      });
    }
  }
});
