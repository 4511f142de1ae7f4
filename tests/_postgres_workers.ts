/**
 * Worker fixtures (`fixtures/worker.ts`) on a PostgreSQL schema, and what
 * the tests that run them do to the schema: schedule "work" jobs, read what
 * is left, wait until nothing is.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Job, JobQueue } from "../mod.ts";
import { PostgresJobStore } from "../src/store/postgres/mod.ts";
import { type Fixture, scriptExtension, spawnScript } from "./_helpers.ts";
import { delay, withDeadline } from "./_process_helpers.ts";
import { adminClient } from "./_postgres.ts";
import type { Place } from "./_store.ts";

/** The repository: the worker's TypeScript source is there, for another runtime. */
const root = fileURLToPath(new URL(scriptExtension === ".js" ? "../.." : "..", import.meta.url));

/** The worker fixture's options (see `fixtures/worker.ts`). */
export interface WorkerOptions {
  maxConcurrency?: number;
  pollInterval?: number;
  claimTimeout?: number;
  log?: string;
  /** Runs after the first `hangAfter` never settle. */
  hangAfter?: number;
  /** Steps the worker's clock by this many ms. */
  clockStep?: number;
}

/**
 * Starts a worker on the schema `place` of the server at `url`, under the
 * tests' runtime or `using`.
 */
export function startWorker(
  url: string,
  place: Place,
  options: WorkerOptions,
  using?: "deno" | "bun",
): Fixture {
  const args = [place, JSON.stringify(options)];
  const env = { JOBQ_TEST_STORE: "postgres", JOBQ_TEST_POSTGRES_URL: url };
  return using === undefined
    ? spawnScript(
      fileURLToPath(new URL(`./fixtures/worker${scriptExtension}`, import.meta.url)),
      args,
      { env },
    )
    : spawnScript(join(root, "tests", "fixtures", "worker.ts"), args, { cwd: root, env, using });
}

/**
 * Schedules `count` "work" jobs on `place` with a queue that never starts,
 * due now, or for the job of param `n` at `dueAt(n)`.
 */
export async function scheduleWork(
  url: string,
  place: Place,
  count: number,
  from = 0,
  dueAt?: (n: number) => number,
): Promise<Job[]> {
  const queue = new JobQueue({ store: new PostgresJobStore({ url, schema: place }) });
  try {
    const jobs: Job[] = [];
    for (let n = from; n < from + count; n += 500) {
      jobs.push(
        ...await queue.scheduleJobs(
          Array.from({ length: Math.min(500, from + count - n) }, (_, i) => ({
            methodName: "work",
            params: { n: n + i },
            ...(dueAt !== undefined && { executionDate: dueAt(n + i) }),
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
export async function jobsLeft(url: string, place: Place): Promise<Job[]> {
  const queue = new JobQueue({ store: new PostgresJobStore({ url, schema: place }) });
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
export async function untilNoJobLeft(url: string, place: Place, timeout: number): Promise<void> {
  const sql = adminClient(url);
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
