/**
 * The operations of the `jobq` command that look at or change jobs, with
 * their rules and their errors: shared by the command line and the
 * dashboard, so that both say and do the same.
 */
import { type Job, type JobRecord, JobState } from "../job/job.ts";
import type { JobQueueEngine } from "../engine/job_queue_engine.ts";

/** Wrong arguments: exit status 2 for the command, 400 for the dashboard. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * An operation that could not do its work (no such job, a job in the wrong
 * state), with a message saying what to do: exit status 1 for the command.
 */
export class CommandError extends Error {
  override name = "CommandError";
}

export function isOneOf<T extends string>(value: string, options: readonly T[]): value is T {
  return (options as readonly string[]).includes(value);
}

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `3600000`, `90s`, `15m`, `1h30m`, `7d`, `2w` as milliseconds. */
export function parseAge(text: string): number {
  if (/^\d+(?:\.\d+)?$/.test(text)) return Number(text);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let end = 0;
  for (const match of text.matchAll(part)) {
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    end = match.index + match[0].length;
  }
  if (end === 0 || end !== text.length) {
    throw new UsageError(
      `--older-than takes milliseconds or a duration such as 90s, 15m, 12h or 7d, not ${
        JSON.stringify(text)
      }`,
    );
  }
  return total;
}

/** A state name in any case (`failed`, `FAILED`). */
export function parseState(text: string): JobState {
  const state = text.toUpperCase().replace(/-/g, "_");
  if (!isOneOf(state, Object.values(JobState))) {
    throw new UsageError(
      `--state takes ${Object.values(JobState).join(", ")}, not ${JSON.stringify(text)}`,
    );
  }
  return state;
}

/**
 * The job of `jobs` that `reference` names: its id, its key (`method__id`)
 * or its file name, with or without the directory. Only compared with the
 * listed jobs: a reference never becomes a path. `queue` names the queue in
 * the error: its directory, or its URL without the password.
 */
export function findJob(jobs: readonly Job[], reference: string, queue: string): Job {
  const name = reference.slice(reference.lastIndexOf("/") + 1).replace(/\.json$/, "");
  const job = jobs.find((job) => job.id === name || job.key === name);
  if (job === undefined) {
    throw new CommandError(
      `No job ${reference} in ${queue}: 'jobq ${queue} list' shows the jobs`,
    );
  }
  return job;
}

/** Counts per state, zero for each. */
export type StateCounts = Record<JobState, number>;

/** What `stats --json` prints after where the queue is. */
export interface Stats {
  total: number;
  byState: StateCounts;
  byMethod: Record<string, StateCounts & { total: number }>;
  /** The job not started yet that was scheduled first. */
  oldestWaiting: JobRecord | null;
  /** The job not started yet that is due first (it may be overdue). */
  nextDue: JobRecord | null;
}

export function zeroCounts(): StateCounts {
  return { NOT_STARTED: 0, IN_PROGRESS: 0, COMPLETED: 0, FAILED: 0 };
}

export function computeStats(jobs: readonly Job[]): Stats {
  const byState = zeroCounts();
  const byMethod = new Map<string, StateCounts & { total: number }>();
  for (const job of jobs) {
    byState[job.state]++;
    let counts = byMethod.get(job.methodName);
    if (counts === undefined) {
      counts = { ...zeroCounts(), total: 0 };
      byMethod.set(job.methodName, counts);
    }
    counts[job.state]++;
    counts.total++;
  }
  const waiting = jobs.filter((job) => job.state === JobState.NOT_STARTED);
  const first = (key: (job: Job) => number) =>
    waiting.reduce<Job | undefined>(
      (best, job) =>
        best === undefined || key(job) < key(best) ||
          (key(job) === key(best) && creationStamp(job) < creationStamp(best))
          ? job
          : best,
      undefined,
    )?.toJSON() ?? null;
  return {
    total: jobs.length,
    byState,
    byMethod: Object.fromEntries(
      [...byMethod].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
    ),
    oldestWaiting: first((job) => job.createdAt),
    nextDue: first((job) => job.executionDate),
  };
}

/**
 * The part of a job's id after its date: the creation time and a sequence
 * number of the process, fixed-width, so that it sorts jobs created in the
 * same millisecond by creation.
 */
export function creationStamp(job: Job): string {
  return job.id.slice(job.id.indexOf("Z-") + 2);
}

/** Runs a failed job again (it gets a new id); refuses any other. */
export async function retryOne(engine: JobQueueEngine, job: Job): Promise<Job> {
  if (job.state !== JobState.FAILED) {
    throw new CommandError(
      `Cannot retry job ${job.id}: it is ${job.state}, and only failed jobs can be retried`,
    );
  }
  return await engine.retryJob(job.id);
}

/** Runs every failed job (of `method`) again; resolves to how many. */
export function retryFailed(engine: JobQueueEngine, method: string | undefined): Promise<number> {
  return asUsage(() => engine.retryFailedJobs(method));
}

/** Removes a job unless it is running. */
export async function removeOne(engine: JobQueueEngine, job: Job): Promise<void> {
  if (!await engine.removeJob(job.id)) {
    throw new CommandError(
      `Cannot remove job ${job.id}: it is running (or has just been removed); ` +
        "try again once it has finished",
    );
  }
}

/** Removes the failed jobs (of `method`) that failed more than `olderThan` ms ago. */
export async function removeFailed(
  engine: JobQueueEngine,
  method: string | undefined,
  olderThan: number,
): Promise<number> {
  if (method === undefined) return await engine.pruneFailedJobs({ olderThan });
  const cutoff = Date.now() - olderThan;
  const failed = (await engine.getAllJobs()).filter((job) =>
    job.state === JobState.FAILED && job.methodName === method &&
    (job.finishedAt ?? 0) <= cutoff
  );
  let removed = 0;
  for (const job of failed) if (await engine.removeJob(job.id)) removed++;
  return removed;
}

/** Removes every job of a method, except those running. */
export function removeMethod(engine: JobQueueEngine, method: string): Promise<number> {
  return asUsage(() => engine.removeJobsByMethodName(method));
}

/** Runs `action`; a `TypeError` it throws (a malformed method name) is a usage error. */
async function asUsage<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
}
