/**
 * Several machines on one PostgreSQL queue, as processes: worker fixtures of
 * two runtimes (the one running the tests, and Bun, or Deno under Bun), each
 * an engine of its own, sharing one schema, with a worker killed mid-run
 * (outages are in `postgres_outage_test.ts`). Needs
 * `JOBQ_TEST_POSTGRES_URL` (the test command starts a server); without it
 * the tests that need a server skip with a warning, except under `CI=true`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Job, JobQueue } from "../mod.ts";
import { PostgresJobStore } from "../src/store/postgres/mod.ts";
import { type Fixture, runtime, scriptExtension, spawnScript, withTempDir } from "./_helpers.ts";
import {
  assertNoOverlap,
  cleanUpFixtures,
  delay,
  killFixture,
  printed,
  readRuns,
  stopWorker,
  untilPrinted,
  withDeadline,
} from "./_process_helpers.ts";
import { type Place, withSchema } from "./_store.ts";
import { postgresUrl, withPostgres } from "./_postgres.ts";

const url = postgresUrl;

/** The repository: the worker's TypeScript source is there, for the other runtime. */
const root = fileURLToPath(new URL(scriptExtension === ".js" ? "../.." : "..", import.meta.url));
/** The second runtime of the cluster. */
const other: "deno" | "bun" = runtime === "bun" ? "deno" : "bun";

/** The worker fixture's options (see `fixtures/worker.ts`). */
interface WorkerOptions {
  maxConcurrency?: number;
  pollInterval?: number;
  claimTimeout?: number;
  log?: string;
}

/**
 * Starts a worker on the schema `place`, under the tests' runtime or
 * `using`; `env` adds to its environment (a URL with other settings).
 */
function startWorker(
  place: Place,
  options: WorkerOptions,
  using?: "deno" | "bun",
  env: Record<string, string> = {},
): Fixture {
  const args = [place, JSON.stringify(options)];
  const store = { JOBQ_TEST_STORE: "postgres", ...env };
  return using === undefined
    ? spawnScript(
      fileURLToPath(new URL(`./fixtures/worker${scriptExtension}`, import.meta.url)),
      args,
      { env: store },
    )
    : spawnScript(join(root, "tests", "fixtures", "worker.ts"), args, {
      cwd: root,
      env: store,
      using,
    });
}

/** Schedules `count` "work" jobs on `place` with a queue that never starts. */
async function scheduleWork(place: Place, count: number, from = 0): Promise<Job[]> {
  const queue = new JobQueue({ store: new PostgresJobStore({ url: url!, schema: place }) });
  try {
    const jobs: Job[] = [];
    for (let n = from; n < from + count; n += 500) {
      jobs.push(
        ...await queue.scheduleJobs(
          Array.from({ length: Math.min(500, from + count - n) }, (_, i) => ({
            methodName: "work",
            params: { n: n + i },
          })),
        ),
      );
    }
    return jobs;
  } finally {
    await queue.dispose();
  }
}

/** The jobs left on `place`, read by a queue that never starts. */
async function jobsLeft(place: Place): Promise<Job[]> {
  const queue = new JobQueue({ store: new PostgresJobStore({ url: url!, schema: place }) });
  try {
    return await queue.getAllJobs();
  } finally {
    await queue.dispose();
  }
}

/**
 * Resolves once no job is left on `place` (completed jobs are removed),
 * looking every 100 ms: a worker killed between recording a completion and
 * printing it leaves no line to wait for.
 */
async function untilNoJobLeft(place: Place, timeout: number): Promise<void> {
  const sql = await adminClient();
  try {
    const poll = async () => {
      for (;;) {
        const [row] = await sql.unsafe(`SELECT count(*) AS count FROM "${place}".jobs`);
        if (Number(row?.count) === 0) return;
        await delay(100);
      }
    };
    await withDeadline(poll(), timeout, "the completion of every job");
  } finally {
    await sql.end();
  }
}

/** A client of the test's own, for what the tests do to the server. */
async function adminClient() {
  const { default: postgres } = await import("postgres");
  const address = new URL(url!);
  const host = address.searchParams.get("host");
  address.searchParams.delete("host");
  return postgres(address.href, { max: 1, onnotice: () => {}, ...(host ? { host } : {}) });
}

if (runtime !== "deno") {
  // Minutes of processes: once per run of the suite is enough, and the
  // Deno run's cluster has a Bun engine too.
  const reason = "the Deno run of the suite runs the cluster, with engines under Deno and Bun";
  console.warn(`WARNING: the PostgreSQL cluster tests are skipped under ${runtime}: ${reason}`);
  test.skip(`PostgreSQL cluster (skipped under ${runtime}: ${reason})`, () => {});
} else if (process.env.JOBQ_TEST_CLUSTER !== "1") {
  // With 3 s leases on two busy cores, a starved engine can miss its
  // heartbeats and lose a claim it still runs: these two fail on a loaded
  // machine. Run them alone: JOBQ_TEST_CLUSTER=1 with JOBQ_TEST_POSTGRES_URL.
  const reason = "the cluster tests need a quiet machine; run them with JOBQ_TEST_CLUSTER=1";
  console.warn(`WARNING: the PostgreSQL cluster tests are skipped: ${reason}`);
  test.skip(`PostgreSQL cluster (skipped: ${reason})`, () => {});
} else {
  withPostgres("PostgreSQL cluster", () => describeCluster());
}

function describeCluster(): void {
  describe("PostgreSQL: several engines in several processes", () => {
    test(`three engines under ${runtime} and ${other} run 6,000 jobs; one killed mid-run, its jobs run again once its lease ran out, never twice at once`, async () => {
      const LEASE = 3_000;
      const POLL = 100;
      const SLACK = 2_000;
      await withSchema((place) =>
        withTempDir(async (logs) => {
          const log = join(logs, "runs.log");
          const jobs = await scheduleWork(place, 6_000);
          const options = { maxConcurrency: 4, pollInterval: POLL, claimTimeout: LEASE, log };
          const workers = [
            startWorker(place, options),
            startWorker(place, options, other),
            startWorker(place, options),
          ];
          const [victim, ...survivors] = workers as [Fixture, ...Fixture[]];
          let killedAt = 0;
          try {
            await Promise.all(workers.map((worker) => worker.waitForOutput("ready", 60_000)));
            await untilPrinted(
              [victim],
              () => printed(victim, "completed").length >= 300,
              "300 completions in the worker to kill",
              60_000,
            );
            killedAt = Date.now();
            await killFixture(victim);
            await untilNoJobLeft(place, 120_000);
          } finally {
            for (const worker of survivors) await stopWorker(worker).catch(() => {});
            await cleanUpFixtures(...workers);
          }

          const runs = await readRuns(log);
          assert.deepEqual([...runs.keys()].sort(), jobs.map((job) => job.id).sort());
          // The killed worker's runs that never ended ended with it.
          const cutShort: string[] = [];
          for (const [id, jobRuns] of runs) {
            for (const run of jobRuns) {
              if (run.pid === victim.child.pid && run.end === undefined) {
                run.end = killedAt;
                cutShort.push(id);
              }
            }
          }
          assertNoOverlap(runs);
          assert.ok(cutShort.length > 0, "the killed worker was running no job");
          // Its jobs ran again once its lease ran out (it renews every third
          // of it), and no later than a poll after that.
          for (const id of cutShort) {
            const again = runs.get(id)!.find((run) => run.start >= killedAt);
            assert.ok(again !== undefined, `job ${id}, cut short, never ran again`);
            const after = again.start - killedAt;
            assert.ok(
              after >= LEASE - LEASE / 3 - POLL,
              `job ${id} was taken ${after} ms after the kill`,
            );
            assert.ok(
              after <= LEASE + POLL + SLACK,
              `job ${id} ran again ${after} ms after the kill`,
            );
          }
          const pids = new Set(
            [...runs.values()].flatMap((jobRuns) => jobRuns.map((run) => run.pid)),
          );
          for (const worker of workers) {
            assert.ok(pids.has(worker.child.pid!), "a worker ran no job");
          }
          assert.deepEqual(await jobsLeft(place), []);
          const rerun = cutShort.map((id) => runs.get(id)!.find((run) => run.start >= killedAt)!);
          console.log(
            `cluster: ${cutShort.length} cut-short jobs ran again ` +
              `${Math.min(...rerun.map((run) => run.start - killedAt))}–` +
              `${Math.max(...rerun.map((run) => run.start - killedAt))} ms after the kill ` +
              `(lease ${LEASE} ms, poll ${POLL} ms)`,
          );
        })
      );
    });
  });
}
