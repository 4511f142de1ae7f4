/**
 * Jobs to rows and back. A job's queryable fields get columns of their own;
 * what only the engine reads (retry settings, schedule) sits in `options`.
 * Every JSON value crosses as text, serialized here, so that it comes back
 * byte for byte (`json`, not `jsonb`, keeps key order and `\u0000`).
 */
import { isScheduledOccurrence, Job } from "../../job/job.ts";

/** The most characters of JSON a job may hold: the file store's limit in bytes, roughly. */
export const MAX_JOB_CHARACTERS = 64 * 1024 * 1024;

/**
 * The columns every statement returns, in this order (`.values()` reads
 * them by position, so that a client's column-name transform cannot matter).
 */
export function columns(table: string): string {
  const t = `${table}.`;
  return [
    "id",
    "method_name",
    "state",
    "execution_date",
    "priority",
    "unique_key",
    "attempts",
    "interruptions",
    "created_at",
    "started_at",
    "finished_at",
  ].map((name) => t + name).concat(
    ["params", "result", "progress", "error", "options"].map((name) => `${t}${name}::text`),
  ).join(", ");
}

/** One row as `.values()` returns it; bigints may come as strings. */
export type Row = readonly unknown[];

function int(value: unknown): number | undefined {
  return value === null || value === undefined ? undefined : Number(value);
}

function json(value: unknown): unknown {
  return value === null || value === undefined ? undefined : JSON.parse(value as string);
}

/** Rebuilds a job from a row; throws a `TypeError` when the row is not a valid job. */
export function jobFromRow(row: Row): Job {
  const [
    id,
    methodName,
    state,
    executionDate,
    priority,
    uniqueKey,
    attempts,
    interruptions,
    createdAt,
    startedAt,
    finishedAt,
    params,
    result,
    progress,
    error,
    options,
  ] = row;
  return Job.fromJSON({
    id,
    methodName,
    executionDate: int(executionDate),
    state,
    params: json(params),
    createdAt: int(createdAt),
    attempts: int(attempts),
    startedAt: int(startedAt),
    finishedAt: int(finishedAt),
    error: json(error),
    ...json(options) as object | undefined,
    priority: int(priority),
    uniqueKey: uniqueKey ?? undefined,
    progress: json(progress),
    result: json(result),
    interruptions: int(interruptions),
  });
}

/**
 * The input of the insert statements: one object per job, JSON values as
 * JSON text. A field that is `undefined` is left out of the JSON text, and
 * the statement reads it as NULL (0 for the counts and the priority).
 */
export interface NewRow {
  id: string;
  method_name: string;
  state: string;
  execution_date: number;
  priority: number | undefined;
  unique_key: string | undefined;
  attempts: number | undefined;
  interruptions: number | undefined;
  created_at: number;
  started_at: number | undefined;
  finished_at: number | undefined;
  params: string | undefined;
  result: string | undefined;
  progress: string | undefined;
  error: string | undefined;
  options: string | undefined;
  /** A recurring job's occurrence: not stored when its date has come (`late`). */
  occurrence: true | undefined;
}

/** JSON text, or SQL NULL for a value the record leaves out. */
export function jsonText(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** JSON text, or `undefined` for a value the record leaves out (a field left out of a row). */
function fieldText(value: unknown): string | undefined {
  return value === undefined ? undefined : JSON.stringify(value);
}

/**
 * A job as the insert statements take it.
 *
 * @throws {RangeError} When the job is over {@linkcode MAX_JOB_CHARACTERS}.
 */
export function rowOfJob(job: Job): NewRow {
  const { maxAttempts, backoff, timeout, repeat } = job;
  const row: NewRow = {
    id: job.id,
    method_name: job.methodName,
    state: job.state,
    execution_date: job.executionDate,
    priority: job.priority || undefined,
    unique_key: job.uniqueKey,
    attempts: job.attempts || undefined,
    interruptions: job.interruptions || undefined,
    created_at: job.createdAt,
    started_at: job.startedAt,
    finished_at: job.finishedAt,
    params: fieldText(job.params),
    result: fieldText(job.result),
    progress: fieldText(job.progress),
    error: fieldText(job.error),
    options: maxAttempts === undefined && backoff === undefined && timeout === undefined &&
        repeat === undefined
      ? undefined
      : JSON.stringify({ maxAttempts, backoff, timeout, repeat }),
    occurrence: isScheduledOccurrence(job) || undefined,
  };
  const size = (row.params?.length ?? 0) + (row.result?.length ?? 0) +
    (row.progress?.length ?? 0) + (row.error?.length ?? 0) + (row.options?.length ?? 0);
  if (size > MAX_JOB_CHARACTERS) {
    throw new RangeError(
      `Cannot schedule job ${job.methodName}: it is over the limit of ${MAX_JOB_CHARACTERS} ` +
        "characters of JSON; keep large data elsewhere and pass a reference to it",
    );
  }
  return row;
}
