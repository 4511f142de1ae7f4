/**
 * Several machines on one PostgreSQL queue, as processes: worker fixtures of
 * two runtimes (the one running the tests, and Bun, or Deno under Bun), each
 * an engine of its own, sharing one schema: a worker killed mid-run, and
 * engines with their clocks 30 s off (outages are in
 * `postgres_outage_test.ts`). Needs `JOBQ_TEST_POSTGRES_URL` (the test
 * command starts a server); without it the tests that need a server skip
 * with a warning, except under `CI=true`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Job } from "../mod.ts";
import { type Fixture, runtime, withTempDir } from "./_helpers.ts";
import {
  assertNoOverlap,
  cleanUpFixtures,
  killFixture,
  printed,
  readRuns,
  type Run,
  stopWorker,
  untilPrinted,
} from "./_process_helpers.ts";
import { type Place, withSchema } from "./_store.ts";
import { adminClient, postgresUrl, withPostgres } from "./_postgres.ts";
import { jobsLeft, scheduleWork, startWorker, untilNoJobLeft } from "./_postgres_workers.ts";

const url = postgresUrl;

/** The second runtime of the cluster. */
const other: "deno" | "bun" = runtime === "bun" ? "deno" : "bun";

/**
 * When the lease of the engine in process `pid` on `place` runs out, in
 * epoch ms on the database's clock, as its last heartbeat set it; undefined
 * once the engine is gone.
 */
async function leaseEndOf(place: Place, pid: number): Promise<number | undefined> {
  const sql = adminClient(url!);
  try {
    const [row] = await sql.unsafe(
      `SELECT floor(extract(epoch FROM heartbeat_at) * 1000) + lease_ms AS "end"
      FROM "${place}".engines WHERE pid = $1`,
      [pid],
    );
    return row === undefined ? undefined : Number(row.end);
  } finally {
    await sql.end();
  }
}

if (runtime !== "deno") {
  // Minutes of processes: once per run of the suite is enough, and the
  // Deno run's cluster has a Bun engine too.
  const reason = "the Deno run of the suite runs the cluster, with engines under Deno and Bun";
  console.warn(`WARNING: the PostgreSQL cluster tests are skipped under ${runtime}: ${reason}`);
  test.skip(`PostgreSQL cluster (skipped under ${runtime}: ${reason})`, () => {});
} else {
  withPostgres("PostgreSQL cluster", () => describeCluster());
}

function describeCluster(): void {
  describe("PostgreSQL: several engines in several processes", () => {
    test(`three engines under ${runtime} and ${other} run 6,000 jobs; one killed mid-run, its jobs run again once its lease ran out, never before, never twice at once`, async () => {
      // A lease of 10 s, renewed every 3.3 s: an engine starved for seconds
      // on a busy machine still renews it in time, so no live claim is taken.
      const LEASE = 10_000;
      const POLL = 100;
      // For a survivor on a busy machine to recover the claims, claim and log.
      const SLACK = 5_000;
      await withSchema((place) =>
        withTempDir(async (logs) => {
          const log = join(logs, "runs.log");
          const jobs = await scheduleWork(url!, place, 6_000);
          const options = { maxConcurrency: 4, pollInterval: POLL, claimTimeout: LEASE, log };
          // The one to kill hangs after 300 runs: then it holds 4 runs when killed.
          const workers = [
            startWorker(url!, place, { ...options, hangAfter: 300 }),
            startWorker(url!, place, options, other),
            startWorker(url!, place, options),
          ];
          const [victim, ...survivors] = workers as [Fixture, ...Fixture[]];
          let killedAt = 0;
          let leaseEnd: number | undefined;
          try {
            await Promise.all(workers.map((worker) => worker.waitForOutput("ready", 60_000)));
            await untilPrinted(
              [victim],
              () => printed(victim, "started").length >= 300 + options.maxConcurrency,
              "300 runs and 4 that hang in the worker to kill",
              60_000,
            );
            killedAt = Date.now();
            await killFixture(victim);
            // Read before the survivors forget the dead engine, at least two
            // thirds of a lease after the kill.
            leaseEnd = await leaseEndOf(place, victim.child.pid!);
            await untilNoJobLeft(url!, place, 120_000);
          } finally {
            for (const worker of survivors) await stopWorker(worker).catch(() => {});
            await cleanUpFixtures(...workers);
          }

          const runs = await readRuns(log);
          assert.deepEqual([...runs.keys()].sort(), jobs.map((job) => job.id).sort());
          assert.ok(
            leaseEnd !== undefined,
            "the killed worker's engine was gone right after the kill: its lease had run out " +
              "(a process starved for a whole lease)",
          );
          // The killed worker's runs that never ended ended with it.
          const cutShort: [string, Run][] = [];
          for (const [id, jobRuns] of runs) {
            for (const run of jobRuns) {
              if (run.pid === victim.child.pid && run.end === undefined) {
                run.end = killedAt;
                cutShort.push([id, run]);
              }
            }
          }
          // So no run of a job it held started before the kill.
          assertNoOverlap(runs);
          assert.equal(cutShort.length, options.maxConcurrency);
          // Its jobs ran again once its lease ran out on the database's
          // clock (the machine's, as the logs'), never before, and at most a
          // lease, a poll and some slack after the kill.
          const again = cutShort.map(([id, cut]) => {
            const jobRuns = runs.get(id)!;
            const run = jobRuns[jobRuns.indexOf(cut) + 1];
            assert.ok(run !== undefined, `job ${id}, cut short, never ran again`);
            assert.ok(
              run.start >= leaseEnd!,
              `job ${id} ran again ${leaseEnd! - run.start} ms before the killed worker's ` +
                "lease ran out",
            );
            assert.ok(
              run.start - killedAt <= LEASE + POLL + SLACK,
              `job ${id} ran again ${run.start - killedAt} ms after the kill`,
            );
            return run.start;
          });
          const pids = new Set(
            [...runs.values()].flatMap((jobRuns) => jobRuns.map((run) => run.pid)),
          );
          for (const worker of workers) {
            assert.ok(pids.has(worker.child.pid!), "a worker ran no job");
          }
          assert.deepEqual(await jobsLeft(url!, place), []);
          const span = (from: number) =>
            `${Math.min(...again) - from}–${Math.max(...again) - from} ms`;
          console.log(
            `cluster: runs cut short by the kill: ${cutShort.length}; they ran again ` +
              `${span(killedAt)} after it, ${span(leaseEnd!)} after its lease ran out ` +
              `(lease ${LEASE} ms, renewed every ${Math.round(LEASE / 3)} ms; poll ${POLL} ms)`,
          );
        })
      );
    });

    test("engines with their clocks 30 s ahead and 30 s behind start no job before it is due by the database's clock, and take no live claim", async () => {
      const STEP = 30_000;
      // Shorter than the step: an engine that judged leases by its own clock
      // would take the others' claims at its first look, or lose its own.
      const LEASE = 10_000;
      await withSchema((place) =>
        withTempDir(async (logs) => {
          const log = join(logs, "runs.log");
          const options = { maxConcurrency: 2, pollInterval: 50, claimTimeout: LEASE, log };
          const workers = [
            startWorker(url!, place, options),
            startWorker(url!, place, { ...options, clockStep: STEP }),
            startWorker(url!, place, { ...options, clockStep: -STEP }, other),
          ];
          let jobs: Job[] = [];
          // Told after the runs, which say more: a claim taken from a live
          // engine makes jobs run again and again.
          let unfinished: unknown;
          try {
            await Promise.all(workers.map((worker) => worker.waitForOutput("ready", 60_000)));
            // 50 jobs at a time, due over the next 1–3.5 s by the test's clock,
            // which is the database's (one machine): the engine ahead finds
            // each batch due 30 s early, the one behind 30 s late.
            const from = Date.now() + 1_000;
            jobs = await scheduleWork(url!, place, 300, 0, (n) => from + Math.floor(n / 50) * 500);
            await untilNoJobLeft(url!, place, 30_000).catch((error) => unfinished = error);
          } finally {
            for (const worker of workers) await stopWorker(worker).catch(() => {});
            await cleanUpFixtures(...workers);
          }

          const runs = await readRuns(log);
          assertNoOverlap(runs);
          const late: number[] = [];
          for (const job of jobs) {
            // Once: a claim taken from a live engine runs again.
            const [run, ...more] = runs.get(job.id) ?? [];
            assert.ok(run !== undefined, `job ${job.id} never ran`);
            assert.deepEqual(more, [], `job ${job.id} ran more than once`);
            assert.ok(
              run.start >= job.executionDate,
              `job ${job.id} started ${job.executionDate - run.start} ms before it was due`,
            );
            late.push(run.start - job.executionDate);
          }
          if (unfinished !== undefined) throw unfinished;
          const ran = workers.map((worker) =>
            [...runs.values()].filter(([run]) => run!.pid === worker.child.pid).length
          );
          for (const [i, count] of ran.entries()) {
            assert.ok(
              count > 0,
              `the worker with its clock ${["on time", "ahead", "behind"][i]} ran no job`,
            );
          }
          console.log(
            `clocks: ${jobs.length} jobs started ${Math.min(...late)}–${Math.max(...late)} ms ` +
              `after they were due; the engine on time ran ${ran[0]}, the one ${STEP} ms ahead ` +
              `${ran[1]}, the one ${STEP} ms behind ${ran[2]}`,
          );
        })
      );
    });
  });
}
