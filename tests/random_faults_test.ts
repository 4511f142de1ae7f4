/**
 * What a queue does when its disk fails at random moments: calls fail with
 * ENOSPC, EIO or EACCES, and writes are slow or torn half-way. Each round
 * draws its faults and its workload from a seed, shown in the test's name;
 * `JOBQ_FAULT_SEED=<seed>` runs that one round again. Timing still varies
 * from run to run, so a replay draws the same kinds and rates of faults, not
 * always the same calls.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { Job, jobContext, type JobQueue, JobQueueError, JobState } from "../mod.ts";
import { type Disturb, FaultyFileSystem } from "./_faulty_fs.ts";
import { recordEvents, withQueueOn, withTempDir } from "./_helpers.ts";
import { delay } from "./_process_helpers.ts";

/** Rounds per run, each with its own seed: about half a second each when all is well. */
const ROUNDS = 10;
/** Jobs scheduled while the disk fails. */
const JOBS = 100;
/** Jobs scheduled once the disk has recovered. */
const JOBS_AFTER = 10;
/** How long the queue may take to finish every job once the disk has recovered. */
const SETTLE_TIMEOUT = 10_000;
const CODES = ["ENOSPC", "EIO", "EACCES"] as const;
const MAX_ATTEMPTS = 3;

type Random = () => number;

/** mulberry32: a tiny seeded generator of numbers in [0, 1). */
function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A whole number in [min, max]. */
function randomInt(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/**
 * The fault mode of one round: 10–20 % of all calls fail with a random code;
 * of the other writes, 5 % are torn and 10 % are slow. The first write of a
 * job's file is torn, so that every round tears at least one.
 */
function randomFaults(random: Random): Disturb {
  const failureRate = 0.1 + random() * 0.1;
  let jobFileTorn = false;
  return (call) => {
    if (!jobFileTorn && call.method === "writeTextFile" && basename(call.path).includes("__")) {
      jobFileTorn = true;
      return { kind: "tear", code: "EIO" };
    }
    const roll = random();
    if (roll < failureRate) return { kind: "fail", code: CODES[randomInt(random, 0, 2)]! };
    if (call.method !== "writeTextFile") return undefined;
    if (roll < failureRate + 0.05) return { kind: "tear", code: "EIO" };
    if (roll < failureRate + 0.15) return { kind: "slow", delay: randomInt(random, 5, 30) };
    return undefined;
  };
}

/** Temporary files have a leading dot and a `.tmp` suffix. */
function isTempFile(path: string): boolean {
  const name = basename(path);
  return name.startsWith(".") && name.endsWith(".tmp");
}

/** Job files are `<name>.json` without a leading dot. */
function isJobFile(name: string): boolean {
  return name.endsWith(".json") && !name.startsWith(".");
}

/** Calls `start()` until it succeeds: while the disk fails, loading may fail too. */
async function startDespiteFaults(queue: JobQueue): Promise<unknown[]> {
  const failures: unknown[] = [];
  const deadline = Date.now() + SETTLE_TIMEOUT;
  for (;;) {
    try {
      await queue.start();
      return failures;
    } catch (error) {
      failures.push(error);
      if (Date.now() > deadline) throw error;
      await delay(10);
    }
  }
}

type Scheduled = { job: Job } | { error: unknown };

/** Schedules `JOBS` jobs in bursts of 1–5, some of them due a little later. */
async function scheduleInBursts(queue: JobQueue, random: Random): Promise<Scheduled[]> {
  const settled: Promise<Scheduled>[] = [];
  while (settled.length < JOBS) {
    const burst = Math.min(randomInt(random, 1, 5), JOBS - settled.length);
    for (let i = 0; i < burst; i++) {
      const waitTime = random() < 0.2 ? randomInt(random, 1, 100) : 0;
      settled.push(
        queue.scheduleJob({ methodName: "work", params: { n: settled.length }, waitTime }).then(
          (job) => ({ job }),
          (error) => ({ error }),
        ),
      );
    }
    await delay(randomInt(random, 0, 8));
  }
  return await Promise.all(settled);
}

/** Resolves once `condition` holds, checked every 20 ms; throws `explain()` after `timeout` ms. */
async function waitUntil(
  condition: () => Promise<boolean>,
  explain: () => Promise<string>,
  timeout: number,
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(await explain());
    await delay(20);
  }
}

/** What the disk says of a job that did not finish: its file and whether it is claimed. */
async function describeOnDisk(directory: string, job: Job): Promise<string> {
  const file = await readFile(join(directory, `${job.key}.json`), "utf8").then(
    (text) => {
      const { state, attempts } = Job.fromJSON(JSON.parse(text));
      return `${state}, ${attempts} attempts`;
    },
    (error) => `unreadable: ${error}`,
  );
  const claims = await readdir(join(directory, ".jobq", "claims"));
  return `${job.key} (${file}${claims.includes(`${job.id}.json`) ? ", claimed" : ""})`;
}

/** The job files of `directory`, parsed; fails on one that is not a valid job. */
async function readJobFiles(directory: string): Promise<Map<string, Job>> {
  const jobs = new Map<string, Job>();
  for (const name of (await readdir(directory)).filter(isJobFile)) {
    const text = await readFile(join(directory, name), "utf8");
    let job: Job;
    try {
      job = Job.fromJSON(JSON.parse(text));
    } catch (error) {
      assert.fail(`Job file ${name} is corrupt (${error}): ${text}`);
    }
    assert.equal(`${job.key}.json`, name, `job file ${name} holds another job`);
    jobs.set(job.id, job);
  }
  return jobs;
}

/** One round: faults on while jobs are scheduled and run, then off until every job is done. */
async function runRound(seed: number): Promise<void> {
  // Separate streams, so that the faults drawn do not shift the workload.
  const faultRandom = mulberry32(seed);
  const workRandom = mulberry32(seed ^ 0x5bd1e995);
  // Both ways of finishing a job under faults: rewriting its file, removing it.
  const keepCompleted = workRandom() < 0.5;
  await withTempDir(async (directory) => {
    const fs = new FaultyFileSystem();
    const runs = new Map<string, ("ok" | "threw")[]>();
    const running = new Set<string>();
    const overlaps: string[] = [];
    const completed = new Set<string>();
    const failed = new Set<string>();
    let resolved: Job[] = [];
    let after: Job[] = [];
    const options = { fs, pollInterval: 20, maxConcurrency: 4, keepCompleted };
    await withQueueOn(directory, options, async (queue) => {
      const errors = recordEvents(queue, "error");
      queue.on("completed", (job) => completed.add(job.id));
      queue.on("failed", (job) => failed.add(job.id));
      /** Records each run and whether another run of the same job was going on. */
      const handler = (mayFail: boolean) => async () => {
        const { job } = jobContext();
        if (running.has(job.id)) overlaps.push(job.id);
        running.add(job.id);
        try {
          await delay(randomInt(workRandom, 0, 5));
          const fails = mayFail && workRandom() < 0.25;
          runs.set(job.id, [...runs.get(job.id) ?? [], fails ? "threw" : "ok"]);
          if (fails) throw new Error("the handler failed, as planned");
        } finally {
          running.delete(job.id);
        }
      };
      const retries = { maxAttempts: MAX_ATTEMPTS, backoff: { type: "fixed", delay: 10 } } as const;
      queue.registerJobHandler("work", handler(true), retries);
      queue.registerJobHandler("after", handler(false));

      const faults = fs.disturb(randomFaults(faultRandom));
      const starting = startDespiteFaults(queue);
      const scheduled = await scheduleInBursts(queue, workRandom);
      // Handlers and polls go on under faults a while longer.
      await delay(randomInt(workRandom, 100, 300));
      faults.clear();
      const errorsWhileFaulty = errors.length;
      const startFailures = await starting;

      for (const outcome of scheduled) {
        if ("job" in outcome) continue;
        assert.ok(
          outcome.error instanceof JobQueueError,
          `scheduleJob() rejected with ${outcome.error}, not a JobQueueError`,
        );
      }
      for (const failure of startFailures) {
        assert.ok(failure instanceof JobQueueError, `start() rejected with ${failure}`);
      }
      resolved = scheduled.flatMap((outcome) => "job" in outcome ? [outcome.job] : []);
      assert.ok(resolved.length > 0, "no scheduleJob() call resolved");

      after = await Promise.all(
        Array.from({ length: JOBS_AFTER }, () => queue.scheduleJob({ methodName: "after" })),
      );
      const unfinished = () =>
        [...resolved, ...after].filter((job) => !completed.has(job.id) && !failed.has(job.id));
      const claims = join(directory, ".jobq", "claims");
      const leftoverClaims = async () => (await readdir(claims)).filter(isJobFile);
      await waitUntil(
        async () => unfinished().length === 0 && (await leftoverClaims()).length === 0,
        async () => {
          const stuck = await Promise.all(
            unfinished().map(async (job) =>
              `${await describeOnDisk(directory, job)} ran ${
                JSON.stringify(runs.get(job.id) ?? [])
              }`
            ),
          );
          return `${stuck.length} jobs neither completed nor failed within ${SETTLE_TIMEOUT} ms ` +
            `of the disk recovering (keepCompleted: ${keepCompleted}): ${stuck.join("; ")}; ` +
            `claims left: ${(await leftoverClaims()).join(", ")}`;
        },
        SETTLE_TIMEOUT,
      );

      // (3) No job ran twice at once.
      assert.deepEqual(overlaps, [], "jobs that ran twice at once");
      // (4) The queue kept going once the disk recovered.
      for (const job of after) assert.ok(completed.has(job.id), `job ${job.key} did not complete`);
      // (5) The faults were reported, each as a JobQueueError.
      assert.ok(errorsWhileFaulty > 0, "no error event while the disk failed");
      for (const error of errors) {
        assert.ok(error instanceof JobQueueError, `an error event carried ${error}`);
      }
    });

    // What the disk holds once the queue is disposed.
    const onDisk = await readJobFiles(directory);
    // (2) Nothing corrupt was set aside, and torn writes only ever hit temporary files.
    assert.deepEqual(await readdir(join(directory, ".jobq", "corrupt")), []);
    const torn = fs.calls.filter((call) => call.torn);
    assert.ok(torn.length > 0, "no write was torn");
    assert.deepEqual(torn.filter((call) => !isTempFile(call.path)).map((call) => call.path), []);
    // (1) No job is lost: each completed (its last run succeeded) or failed
    // after its attempts (its last run threw); a failed schedule left no file.
    const ids = new Set([...resolved, ...after].map((job) => job.id));
    for (const id of onDisk.keys()) {
      assert.ok(ids.has(id), `job file of ${id}, whose scheduleJob() rejected`);
    }
    for (const job of [...resolved, ...after]) {
      const file = onDisk.get(job.id);
      const last = runs.get(job.id)?.at(-1);
      if (file?.state === JobState.FAILED) {
        assert.ok(failed.has(job.id), `job ${job.key} is FAILED on disk without a failed event`);
        assert.equal(last, "threw", `job ${job.key} is FAILED, yet its last run succeeded`);
        assert.ok(file.attempts >= MAX_ATTEMPTS, `job ${job.key} failed after ${file.attempts}`);
        assert.ok(file.error !== undefined);
        continue;
      }
      assert.ok(completed.has(job.id), `job ${job.key} never completed`);
      assert.equal(last, "ok", `job ${job.key} completed, yet its last run threw`);
      if (keepCompleted) assert.equal(file?.state, JobState.COMPLETED, `job ${job.key}`);
      else assert.equal(file, undefined, `the file of completed job ${job.key} is left`);
    }
  });
}

/** The seeds of this run: `JOBQ_FAULT_SEED` replays one. */
function seeds(): number[] {
  const replay = process.env.JOBQ_FAULT_SEED;
  if (replay !== undefined && replay !== "") {
    const seed = Number(replay);
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
      throw new RangeError(`JOBQ_FAULT_SEED must be an integer in [0, 2^32): it is ${replay}`);
    }
    return [seed];
  }
  return Array.from({ length: ROUNDS }, () => Math.floor(Math.random() * 2 ** 32));
}

describe("random faults", () => {
  for (const seed of seeds()) {
    test(
      `a queue whose disk fails at random loses no job, corrupts no file and runs no job twice at once (seed ${seed})`,
      { timeout: 30_000 },
      async () => {
        try {
          await runRound(seed);
        } catch (error) {
          console.error(`random faults: run this round again with JOBQ_FAULT_SEED=${seed}`);
          throw error;
        }
      },
    );
  }
});
