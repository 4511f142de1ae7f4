/**
 * Helpers for tests that run queues in child processes, kill them, and look
 * at what they left in a job directory.
 */
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { Job, JobQueue, JobState } from "../mod.ts";
import type { Fixture } from "./_helpers.ts";

/** Settles like `promise`, or rejects after `timeout` ms saying that `what` did not happen. */
export async function withDeadline<T>(
  promise: Promise<T>,
  timeout: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not happen within ${timeout} ms`)),
      timeout,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms` ms: only for bounded waits that check that something does NOT happen. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether the fixture's process has not exited yet. */
function isRunning(fixture: Fixture): boolean {
  return fixture.child.exitCode === null && fixture.child.signalCode === null;
}

/** SIGKILLs a fixture and waits until it is gone. */
export async function killFixture(fixture: Fixture): Promise<void> {
  fixture.child.kill("SIGKILL");
  assert.deepEqual(await fixture.exited, { code: null, signal: "SIGKILL" });
}

/**
 * Sends SIGTERM to a worker fixture and waits until it has disposed its queue
 * and exited. The exit code is not checked: Deno reports a child it sent a
 * signal to as killed by that signal even when the child handled it and
 * exited with code 0; the `disposed` line tells that it did.
 */
export async function stopWorker(fixture: Fixture, timeout = 20_000): Promise<void> {
  fixture.child.kill("SIGTERM");
  await withDeadline(fixture.exited, timeout, "the worker's exit");
  // 'exit' may come before the last output: read stdout to its end.
  await finished(fixture.child.stdout!);
  assert.match(fixture.stdout(), /^disposed$/m);
}

/** Kills whichever fixtures still run and waits for them: no child outlives its test. */
export async function cleanUpFixtures(...fixtures: Fixture[]): Promise<void> {
  await Promise.all(fixtures.map(async (fixture) => {
    if (isRunning(fixture)) fixture.child.kill("SIGKILL");
    await fixture.exited;
  }));
}

/** The words of each line a fixture printed that starts with `word`. */
export function printed(fixture: Fixture, word: string): string[][] {
  return fixture.stdout().split("\n")
    .map((line) => line.split(" "))
    .filter((words) => words[0] === word);
}

/**
 * Resolves once `condition` holds, checking it whenever one of the fixtures
 * prints something; rejects after `timeout` ms or when they have all exited.
 */
export function untilPrinted(
  fixtures: Fixture[],
  condition: () => boolean,
  what: string,
  timeout = 20_000,
): Promise<void> {
  return withDeadline(
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        for (const fixture of fixtures) fixture.child.stdout!.off("data", check);
        resolve();
      };
      for (const fixture of fixtures) fixture.child.stdout!.on("data", check);
      Promise.all(fixtures.map((fixture) => fixture.exited)).then(() => {
        if (!condition()) reject(new Error(`The fixtures exited before ${what}`));
      });
      check();
    }),
    timeout,
    what,
  );
}

/** The names in one of jobq's own folders: `<directory>/.jobq/<folder>`. */
export async function internalFiles(
  directory: string,
  folder: "claims" | "engines" | "corrupt",
): Promise<string[]> {
  return (await readdir(join(directory, ".jobq", folder))).sort();
}

/** Reads a job straight from its file, as it is on disk now. */
export async function readJobFile(directory: string, job: Job): Promise<Job> {
  return Job.fromJSON(JSON.parse(await readFile(join(directory, `${job.key}.json`), "utf8")));
}

/**
 * Writes by hand the file of a job that some engine started and never
 * finished: state IN_PROGRESS, one attempt.
 */
export async function writeCutShortJob(directory: string): Promise<Job> {
  const created = Job.fromSpec({ methodName: "work", params: { cut: "short" } });
  const job = Job.fromJSON({
    ...created.toJSON(),
    state: JobState.IN_PROGRESS,
    attempts: 1,
    startedAt: Date.now(),
  });
  await mkdir(join(directory, ".jobq", "claims"), { recursive: true });
  await writeFile(join(directory, `${job.key}.json`), JSON.stringify(job));
  return job;
}

/**
 * Writes `count` immediate "work" jobs with a queue that is never started,
 * so that only other engines run them.
 */
export async function scheduleWork(directory: string, count: number): Promise<Job[]> {
  const queue = new JobQueue({ directory, fsync: false });
  try {
    const jobs: Job[] = [];
    for (let n = 0; n < count; n++) {
      jobs.push(await queue.scheduleJob({ methodName: "work", params: { n } }));
    }
    return jobs;
  } finally {
    await queue.dispose();
  }
}

/** One run of a job as the run log of the worker fixture tells it. */
export interface Run {
  readonly pid: number;
  readonly start: number;
  end: number | undefined;
}

/**
 * Reads a run log (`start <id> <pid> <time>` / `end <id> <pid> <time>`
 * lines) into the runs of each job, in the order they started.
 */
export async function readRuns(path: string): Promise<Map<string, Run[]>> {
  const runs = new Map<string, Run[]>();
  const text = await readFile(path, "utf8").catch(() => "");
  for (const line of text.split("\n").filter((line) => line !== "")) {
    const [event, id, pid, time] = line.split(" ");
    assert.ok(id !== undefined && pid !== undefined && time !== undefined, `bad log line ${line}`);
    const jobRuns = runs.get(id) ?? [];
    runs.set(id, jobRuns);
    if (event === "start") {
      jobRuns.push({ pid: Number(pid), start: Number(time), end: undefined });
    } else {
      const run = jobRuns.find((run) => run.pid === Number(pid) && run.end === undefined);
      assert.ok(event === "end" && run !== undefined, `log line without its start: ${line}`);
      run.end = Number(time);
    }
  }
  return runs;
}

/** Asserts that each run of a job ended before the next run of that job started. */
export function assertNoOverlap(runs: Map<string, Run[]>): void {
  for (const [id, jobRuns] of runs) {
    for (let i = 1; i < jobRuns.length; i++) {
      const before = jobRuns[i - 1]!;
      const after = jobRuns[i]!;
      assert.ok(
        before.end !== undefined && before.end <= after.start,
        `job ${id} ran twice at once: ${JSON.stringify(jobRuns)}`,
      );
    }
  }
}
