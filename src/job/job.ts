import { createJobId, JOB_ID_PATTERN, MAX_EXECUTION_DATE } from "./_id.ts";
import { assertJsonFaithful, assertMethodName, describe, isWellFormed } from "./_validate.ts";
import { assertRepeat, nextOccurrence, type Repeat } from "./repeat.ts";
import { assertRetryOptions, type BackoffPolicy, type StorableRetryOptions } from "./retry.ts";

/**
 * The states of a job: `NOT_STARTED → IN_PROGRESS → COMPLETED | FAILED`.
 * Each value equals its name, so it reads the same in code and in job files.
 *
 * @example Filtering jobs by state
 * ```ts
 * import { JobState } from "@x/jobq";
 * import assert from "node:assert/strict";
 *
 * assert.equal(JobState.FAILED, "FAILED");
 * ```
 */
export const JobState = {
  /** Waiting for its execution date or for a free slot. */
  NOT_STARTED: "NOT_STARTED",
  /** Claimed by an engine whose handler is running it. */
  IN_PROGRESS: "IN_PROGRESS",
  /** Its handler resolved. */
  COMPLETED: "COMPLETED",
  /** Its handler threw or rejected, or no handler was registered. */
  FAILED: "FAILED",
} as const;

/** One of the {@linkcode JobState} values. */
export type JobState = typeof JobState[keyof typeof JobState];

const JOB_STATES: ReadonlySet<string> = new Set(Object.values(JobState));

/**
 * What to run and when: the argument of `scheduleJob`.
 *
 * @example A job that runs in five seconds
 * ```ts
 * import type { JobSpec } from "@x/jobq";
 *
 * const spec: JobSpec = {
 *   methodName: "sendEmail",
 *   params: { to: "user@example.com" },
 *   waitTime: 5000,
 * };
 * ```
 */
export interface JobSpec extends StorableRetryOptions {
  /** The name the handler was registered under. */
  methodName: string;
  /**
   * What the handler receives: an array is spread into its arguments,
   * anything else is its one argument. Must survive JSON unchanged.
   */
  params?: unknown;
  /**
   * Milliseconds from now until the job is due. Not with `executionDate`.
   *
   * @default {0}
   */
  waitTime?: number;
  /**
   * When the job is due, in epoch milliseconds or as a `Date`. Not with
   * `waitTime`. A date in the past means "as soon as possible".
   *
   * @default {Date.now()}
   */
  executionDate?: number | Date;
  /**
   * Among jobs that are due, those with a higher priority start first; equal
   * priorities start in execution-date order. Any safe integer.
   *
   * @default {0}
   */
  priority?: number;
  /**
   * Scheduling a job whose `uniqueKey` names a job still waiting or running
   * (in any process) resolves to that job instead of adding one. For a
   * recurring job, it names the schedule (default: the method name). 1 to
   * 512 characters of well-formed text (no lone surrogate).
   */
  uniqueKey?: string;
  /**
   * Makes the job recurring: it is due at the next occurrence of the
   * schedule, and each occurrence schedules the next when it starts. Not with
   * `waitTime` or `executionDate`.
   */
  repeat?: Repeat;
}

const SPEC_KEYS: ReadonlySet<string> = new Set([
  "methodName",
  "params",
  "waitTime",
  "executionDate",
  "maxAttempts",
  "backoff",
  "timeout",
  "priority",
  "uniqueKey",
  "repeat",
]);

/** Unique keys are stored in files and events: short, printable text. */
const MAX_UNIQUE_KEY_LENGTH = 512;

/** What an occurrence of a recurring job adds to its schedule's name: `@` and an ISO date. */
const OCCURRENCE_SUFFIX_LENGTH = "@2024-01-01T00:00:00.000Z".length;

/** The last error of a failed job, as stored in its file. */
export interface JobErrorRecord {
  /** The error's name, such as `"TypeError"` or `"JobQueueError"`. */
  name: string;
  /** The error's message. */
  message: string;
  /** The error's stack trace, when it had one. */
  stack?: string;
}

/**
 * A job as stored in its file: plain JSON. The essential fields (`id`,
 * `methodName`, `executionDate`, `state`, `params`) plus bookkeeping.
 *
 * @example The file of a job that has not run yet
 * ```ts
 * import type { JobRecord } from "@x/jobq";
 *
 * const record: JobRecord = {
 *   id: "2024-01-01T12-00-00-000Z-lqwa8x2o0000-0a1b2c3d",
 *   methodName: "sendEmail",
 *   executionDate: 1704110400000,
 *   state: "NOT_STARTED",
 *   params: { to: "user@example.com" },
 *   createdAt: 1704110395000,
 *   attempts: 0,
 * };
 * ```
 */
export interface JobRecord {
  /** Unique, file-name safe; sorts by execution date, then creation order. */
  id: string;
  /** The handler's name. */
  methodName: string;
  /** When the job is due, in epoch milliseconds. */
  executionDate: number;
  /** Where the job is in its life. */
  state: JobState;
  /** What the handler receives; absent when the job has none. */
  params?: unknown;
  /** When the job was scheduled, in epoch milliseconds. */
  createdAt: number;
  /** How many times a handler has started on this job. */
  attempts: number;
  /** When the last attempt started, in epoch milliseconds. */
  startedAt?: number;
  /** When the job completed or failed, in epoch milliseconds. */
  finishedAt?: number;
  /** Why the job failed, or why its last attempt did. */
  error?: JobErrorRecord;
  /** This job's own attempt limit, overriding its handler's. */
  maxAttempts?: number;
  /** This job's own backoff, overriding its handler's. */
  backoff?: BackoffPolicy;
  /** This job's own attempt timeout in ms, overriding its handler's. */
  timeout?: number;
  /** Its priority among due jobs, when not 0. */
  priority?: number;
  /** What makes it unique among waiting jobs; see {@linkcode JobSpec.uniqueKey}. */
  uniqueKey?: string;
  /** Its schedule, for a recurring job. */
  repeat?: Repeat;
  /** The last progress its handler reported. */
  progress?: unknown;
  /** What its handler resolved to, for a completed job. */
  result?: unknown;
  /** How many of its runs were cut short by the death of their process. */
  interruptions?: number;
}

/**
 * One unit of work: a method name, its params, when it is due and where it is
 * in its life. Jobs are immutable; the engine makes a new `Job` at each
 * transition.
 *
 * @example Creating a deferred job
 * ```ts
 * import { Job } from "@x/jobq";
 * import assert from "node:assert/strict";
 *
 * const job = Job.fromSpec({
 *   methodName: "processOrder",
 *   params: { orderId: "12345", userId: "user123" },
 *   waitTime: 10000,
 * });
 * assert.equal(job.state, "NOT_STARTED");
 * assert.equal(job.isReady(), false);
 * assert.equal(job.key, `processOrder__${job.id}`);
 * ```
 */
export class Job {
  /** Unique across processes, safe as a file name; sorts by due date, then creation. */
  readonly id: string;
  /** The name of the handler that runs the job. */
  readonly methodName: string;
  /** What the handler receives. */
  readonly params: unknown;
  /** When the job is due, in epoch milliseconds. */
  readonly executionDate: number;
  /** Where the job is in its life. */
  readonly state: JobState;
  /** When the job was scheduled, in epoch milliseconds. */
  readonly createdAt: number;
  /** How many times a handler has started on this job. */
  readonly attempts: number;
  /** When the last attempt started, in epoch milliseconds. */
  readonly startedAt: number | undefined;
  /** When the job completed or failed, in epoch milliseconds. */
  readonly finishedAt: number | undefined;
  /** Why the job failed, or why its last attempt did (a job waiting for a retry). */
  readonly error: JobErrorRecord | undefined;
  /** This job's own attempt limit, if its spec set one. */
  readonly maxAttempts: number | undefined;
  /** This job's own backoff, if its spec set one. */
  readonly backoff: BackoffPolicy | undefined;
  /** This job's own attempt timeout in ms, if its spec set one. */
  readonly timeout: number | undefined;
  /** Its priority among due jobs: higher starts first. */
  readonly priority: number;
  /** What makes it unique among waiting jobs, if anything. */
  readonly uniqueKey: string | undefined;
  /** Its schedule, for a recurring job. */
  readonly repeat: Repeat | undefined;
  /** The last progress its handler reported with `jobContext().progress()`. */
  readonly progress: unknown;
  /** What its handler resolved to, once completed (kept with `keepCompleted`). */
  readonly result: unknown;
  /** How many of its runs were cut short by the death of their process. */
  readonly interruptions: number;

  private constructor(record: JobRecord) {
    this.id = record.id;
    this.methodName = record.methodName;
    this.params = record.params;
    this.executionDate = record.executionDate;
    this.state = record.state;
    this.createdAt = record.createdAt;
    this.attempts = record.attempts;
    this.startedAt = record.startedAt;
    this.finishedAt = record.finishedAt;
    this.error = record.error;
    this.maxAttempts = record.maxAttempts;
    this.backoff = record.backoff;
    this.timeout = record.timeout;
    this.priority = record.priority ?? 0;
    this.uniqueKey = record.uniqueKey;
    this.repeat = record.repeat;
    this.progress = record.progress;
    this.result = record.result;
    this.interruptions = record.interruptions ?? 0;
  }

  /**
   * Creates a new job from a spec, validating it: a safe method name, params
   * that JSON carries faithfully, a valid `waitTime` or `executionDate` (not
   * both). The params are copied, so later changes to the caller's object do
   * not reach the job.
   *
   * @param spec What to run and when.
   * @param now The current time in epoch milliseconds.
   * @returns A job in state `NOT_STARTED`.
   * @throws {TypeError} When the spec is malformed.
   * @throws {RangeError} When a date or wait time is out of range.
   *
   * @example A job due at a given date
   * ```ts
   * import { Job } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const job = Job.fromSpec({
   *   methodName: "sendReport",
   *   params: { reportType: "monthly" },
   *   executionDate: new Date("2024-02-01T09:00:00Z"),
   * });
   * assert.equal(job.executionDateString, "2024-02-01T09:00:00.000Z");
   * assert.ok(job.id.startsWith("2024-02-01T09-00-00-000Z-"));
   * ```
   */
  static fromSpec(spec: JobSpec, now: number = Date.now()): Job {
    if (typeof spec !== "object" || spec === null) {
      throw new TypeError(
        `Cannot schedule a job: the spec must be an object like { methodName, params }, but it is ${
          describe(spec)
        }`,
      );
    }
    for (const key of Object.keys(spec)) {
      if (!SPEC_KEYS.has(key)) {
        throw new TypeError(
          `Cannot schedule a job: unknown option '${key}'; the options are ${
            [...SPEC_KEYS].join(", ")
          }`,
        );
      }
    }
    assertMethodName(spec.methodName);
    assertRetryOptions(spec, true, "Cannot schedule a job");
    if (spec.priority !== undefined) assertPriority(spec.priority, "Cannot schedule a job");
    if (spec.uniqueKey !== undefined) {
      assertUniqueKey(spec.uniqueKey, "Cannot schedule a job");
      // Only new keys: a stored job with such a key still runs.
      if (!isWellFormed(spec.uniqueKey)) {
        throw new TypeError(
          "Cannot schedule a job as its 'uniqueKey' is not well-formed text: it holds a lone " +
            "surrogate, which would make it collide with other keys; use whole characters",
        );
      }
    }
    let executionDate: number;
    let uniqueKey = spec.uniqueKey;
    if (spec.repeat === undefined) {
      executionDate = resolveExecutionDate(spec, now);
    } else {
      assertRepeat(spec.repeat, "Cannot schedule a job");
      if (spec.waitTime !== undefined || spec.executionDate !== undefined) {
        throw new TypeError(
          "Cannot schedule a recurring job with 'waitTime' or 'executionDate': its schedule " +
            "says when it is due; leave them out",
        );
      }
      const next = nextOccurrence(spec.repeat, now);
      if (next === undefined || next > MAX_EXECUTION_DATE) {
        throw new RangeError(
          "Cannot schedule a recurring job whose schedule has no occurrence left before the end of 9999: check its cron expression",
        );
      }
      executionDate = next;
      // One key per occurrence: however many processes schedule the same
      // recurring job, each occurrence is stored once.
      const schedule = uniqueKey ?? spec.methodName;
      if (schedule.length > MAX_UNIQUE_KEY_LENGTH - OCCURRENCE_SUFFIX_LENGTH) {
        throw new TypeError(
          `Cannot schedule a recurring job as its 'uniqueKey' names its schedule in at most ${
            MAX_UNIQUE_KEY_LENGTH - OCCURRENCE_SUFFIX_LENGTH
          } characters (each occurrence adds '@' and its date): it has ${schedule.length}`,
        );
      }
      uniqueKey = occurrenceKey(schedule, executionDate);
    }
    let params: unknown;
    if (spec.params !== undefined) {
      assertJsonFaithful(spec.params);
      params = JSON.parse(JSON.stringify(spec.params));
    }
    return new Job(compact<JobRecord>({
      id: createJobId(executionDate),
      methodName: spec.methodName,
      executionDate,
      state: JobState.NOT_STARTED,
      params,
      createdAt: now,
      attempts: 0,
      startedAt: undefined,
      finishedAt: undefined,
      error: undefined,
      maxAttempts: spec.maxAttempts,
      backoff: spec.backoff && { ...spec.backoff },
      timeout: spec.timeout,
      priority: spec.priority || undefined,
      uniqueKey,
      repeat: spec.repeat && { ...spec.repeat },
      progress: undefined,
      result: undefined,
      interruptions: undefined,
    }));
  }

  /**
   * Rebuilds a job from its stored record, validating every field.
   *
   * @param record A value read from a job file.
   * @returns The job the record describes.
   * @throws {TypeError} When the record is not a valid job record.
   *
   * @example Reading a job back from JSON
   * ```ts
   * import { Job } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const job = Job.fromSpec({ methodName: "ping", params: [1, 2] });
   * const copy = Job.fromJSON(JSON.parse(JSON.stringify(job)));
   * assert.deepEqual(copy.toJSON(), job.toJSON());
   * ```
   */
  static fromJSON(record: unknown): Job {
    return new Job(parseRecord(record));
  }

  /**
   * `${methodName}__${id}`: the job's file name without `.json`.
   *
   * @example
   * ```ts
   * import { Job } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const job = Job.fromSpec({ methodName: "sendEmail" });
   * assert.equal(job.key, "sendEmail__" + job.id);
   * ```
   */
  get key(): string {
    return `${this.methodName}__${this.id}`;
  }

  /**
   * The execution date as an ISO 8601 string.
   *
   * @example
   * ```ts
   * import { Job } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const job = Job.fromSpec({ methodName: "tick", executionDate: 0 });
   * assert.equal(job.executionDateString, "1970-01-01T00:00:00.000Z");
   * ```
   */
  get executionDateString(): string {
    return new Date(this.executionDate).toISOString();
  }

  /**
   * Tells whether the job is waiting to run and due.
   *
   * @param now The time to compare with, in epoch milliseconds.
   * @returns `true` if the job is `NOT_STARTED` and its execution date has come.
   *
   * @example
   * ```ts
   * import { Job } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const job = Job.fromSpec({ methodName: "later", waitTime: 1000 }, 0);
   * assert.equal(job.isReady(999), false);
   * assert.equal(job.isReady(1000), true);
   * ```
   */
  isReady(now: number = Date.now()): boolean {
    return this.state === JobState.NOT_STARTED && this.executionDate <= now;
  }

  /**
   * The job's stored form: what its file holds.
   *
   * @returns A plain record that `JSON.stringify` writes faithfully.
   *
   * @example
   * ```ts
   * import { Job } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const job = Job.fromSpec({ methodName: "sendEmail", params: { to: "a@b.c" } });
   * assert.deepEqual(job.toJSON().params, { to: "a@b.c" });
   * ```
   */
  toJSON(): JobRecord {
    return compact<JobRecord>({
      id: this.id,
      methodName: this.methodName,
      executionDate: this.executionDate,
      state: this.state,
      params: this.params,
      createdAt: this.createdAt,
      attempts: this.attempts,
      startedAt: this.startedAt,
      finishedAt: this.finishedAt,
      error: this.error,
      maxAttempts: this.maxAttempts,
      backoff: this.backoff,
      timeout: this.timeout,
      priority: this.priority || undefined,
      uniqueKey: this.uniqueKey,
      repeat: this.repeat,
      progress: this.progress,
      result: this.result,
      interruptions: this.interruptions || undefined,
    });
  }
}

/**
 * Drops the fields whose value is `undefined`: JSON drops them anyway, and
 * with exact optional types a record must not hold them. Every field is
 * spelled out, `undefined` where absent, so that none is forgotten.
 */
function compact<T extends object>(record: { [K in keyof T]-?: T[K] | undefined }): T {
  // A loop, not Object.entries and fromEntries, which were the largest part
  // of the process's own time when scheduling many jobs at once.
  const result: Record<string, unknown> = {};
  for (const key in record) {
    const value = record[key];
    if (value !== undefined) result[key] = value;
  }
  return result as T;
}

function resolveExecutionDate(spec: JobSpec, now: number): number {
  const { waitTime, executionDate } = spec;
  if (waitTime !== undefined && executionDate !== undefined) {
    throw new TypeError(
      "Cannot schedule a job with both 'waitTime' and 'executionDate': pass only one of them",
    );
  }
  let date = now;
  if (waitTime !== undefined) {
    const problem = "'waitTime' must be a non-negative number of milliseconds";
    if (typeof waitTime !== "number") throw new TypeError(invalidDate(problem, waitTime));
    if (!Number.isFinite(waitTime) || waitTime < 0) {
      throw new RangeError(invalidDate(problem, waitTime));
    }
    date = now + waitTime;
  } else if (executionDate !== undefined) {
    const problem = "'executionDate' must be a valid Date or epoch milliseconds";
    if (typeof executionDate !== "number" && !(executionDate instanceof Date)) {
      throw new TypeError(invalidDate(problem, executionDate));
    }
    date = executionDate instanceof Date ? executionDate.getTime() : executionDate;
    if (!Number.isFinite(date)) {
      throw new RangeError(
        invalidDate(problem, executionDate instanceof Date ? "Invalid Date" : executionDate),
      );
    }
  }
  date = Math.floor(date);
  if (date < 0 || date > MAX_EXECUTION_DATE) {
    throw new RangeError(
      `Cannot schedule a job due at ${date} ms: use a date between 1970 and the end of 9999`,
    );
  }
  return date;
}

function invalidDate(problem: string, value: unknown): string {
  return `Cannot schedule a job as ${problem}: current value is ${describe(value)}`;
}

function parseRecord(value: unknown): JobRecord {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Invalid job record: expected an object, got ${describe(value)}`);
  }
  const record = value as Record<string, unknown>;
  const id = record.id;
  if (typeof id !== "string" || !JOB_ID_PATTERN.test(id)) {
    throw new TypeError(`Invalid job record: 'id' is ${describe(id)}, not a jobq id`);
  }
  assertMethodName(record.methodName);
  const state = record.state;
  if (typeof state !== "string" || !JOB_STATES.has(state)) {
    throw new TypeError(
      `Invalid job record ${id}: 'state' is ${describe(state)}, not one of ${
        [...JOB_STATES].join(", ")
      }`,
    );
  }
  const executionDate = expectTime(record, "executionDate");
  const createdAt = expectTime(record, "createdAt");
  const attempts = expectCount(record, "attempts");
  if (record.params !== undefined) assertJsonFaithful(record.params);
  const retry = record as StorableRetryOptions;
  try {
    assertRetryOptions(retry, true, "Cannot use it");
  } catch (error) {
    throw new TypeError(`Invalid job record ${id}: ${(error as Error).message}`);
  }
  return compact<JobRecord>({
    id,
    methodName: record.methodName,
    executionDate,
    state: state as JobState,
    params: record.params,
    createdAt,
    attempts,
    interruptions: record.interruptions === undefined
      ? undefined
      : expectCount(record, "interruptions"),
    startedAt: record.startedAt === undefined ? undefined : expectTime(record, "startedAt"),
    finishedAt: record.finishedAt === undefined ? undefined : expectTime(record, "finishedAt"),
    error: record.error === undefined ? undefined : parseErrorRecord(id, record.error),
    maxAttempts: retry.maxAttempts,
    backoff: retry.backoff,
    timeout: retry.timeout,
    ...parseFeatures(id, record),
  });
}

/** The optional fields of a record beyond the seed's and the retry settings. */
function parseFeatures(
  id: string,
  record: Record<string, unknown>,
): { [K in FeatureField]-?: JobRecord[K] | undefined } {
  const context = "Cannot use it";
  try {
    if (record.priority !== undefined) assertPriority(record.priority, context);
    if (record.uniqueKey !== undefined) assertUniqueKey(record.uniqueKey, context);
    if (record.repeat !== undefined) assertRepeat(record.repeat, context);
    if (record.progress !== undefined) assertJsonFaithful(record.progress, "progress");
    if (record.result !== undefined) assertJsonFaithful(record.result, "result");
  } catch (error) {
    throw new TypeError(`Invalid job record ${id}: ${(error as Error).message}`);
  }
  return {
    priority: record.priority === 0 ? undefined : record.priority as number | undefined,
    uniqueKey: record.uniqueKey as string | undefined,
    repeat: record.repeat as Repeat | undefined,
    progress: record.progress,
    result: record.result,
  };
}

type FeatureField = "priority" | "uniqueKey" | "repeat" | "progress" | "result";

/** The unique key of one occurrence of a recurring job: `<schedule>@<ISO date>`. */
export function occurrenceKey(schedule: string, date: number): string {
  return `${schedule}@${new Date(date).toISOString()}`;
}

/** The schedule's name in an occurrence's unique key. */
function scheduleOf(job: Job): string {
  const key = job.uniqueKey ?? job.methodName;
  const at = key.lastIndexOf("@");
  return at === -1 ? key : key.slice(0, at);
}

/**
 * The first occurrence after `now` of a recurring job's schedule: a new job
 * with the same method, params, priority and retry settings, and that
 * occurrence's date and key.
 */
export function occurrenceAfter(job: Job, now: number): Job {
  return Job.fromSpec({
    methodName: job.methodName,
    ...(job.params === undefined ? {} : { params: job.params }),
    repeat: job.repeat!,
    uniqueKey: scheduleOf(job),
    ...(job.priority === 0 ? {} : { priority: job.priority }),
    ...(job.maxAttempts === undefined ? {} : { maxAttempts: job.maxAttempts }),
    ...(job.backoff === undefined ? {} : { backoff: job.backoff }),
    ...(job.timeout === undefined ? {} : { timeout: job.timeout }),
  }, now);
}

/**
 * Whether a job still waits or runs: `NOT_STARTED`, or `IN_PROGRESS` (which a
 * job with no live claim is after its engine died: it runs again).
 */
export function isUnfinished(job: Job): boolean {
  return job.state === JobState.NOT_STARTED || job.state === JobState.IN_PROGRESS;
}

/**
 * The job that replaces a failed one when it is retried: its params and
 * settings, a new id (which sorts by the new date), due `now`, with a clean
 * slate: no attempt, no crashed run, no error, no progress.
 */
export function replacementOf(failed: Job, now: number): Job {
  return Job.fromJSON({
    ...failed.toJSON(),
    id: createJobId(now),
    state: JobState.NOT_STARTED,
    attempts: 0,
    interruptions: undefined,
    executionDate: now,
    createdAt: now,
    startedAt: undefined,
    finishedAt: undefined,
    error: undefined,
    progress: undefined,
    result: undefined,
  });
}

/**
 * Whether `job` is an occurrence of a recurring job as its schedule made it:
 * due on the date its key names (a retried occurrence is due later).
 */
export function isScheduledOccurrence(job: Job): boolean {
  return job.repeat !== undefined &&
    job.uniqueKey === occurrenceKey(scheduleOf(job), job.executionDate);
}

function assertPriority(priority: unknown, context: string): void {
  if (typeof priority !== "number") {
    throw new TypeError(`${context} as 'priority' must be a number: it is ${describe(priority)}`);
  }
  if (!Number.isSafeInteger(priority)) {
    throw new RangeError(
      `${context} as 'priority' must be an integer: current value is ${priority}`,
    );
  }
}

function assertUniqueKey(uniqueKey: unknown, context: string): void {
  if (
    typeof uniqueKey !== "string" || uniqueKey === "" ||
    uniqueKey.length > MAX_UNIQUE_KEY_LENGTH
  ) {
    throw new TypeError(
      `${context} as 'uniqueKey' must be a string of 1 to ${MAX_UNIQUE_KEY_LENGTH} characters: it is ${
        describe(uniqueKey)
      }`,
    );
  }
}

function expectCount(record: Record<string, unknown>, field: string): number {
  const value = record[field];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(
      `Invalid job record ${String(record.id)}: '${field}' is ${describe(value)}, not a count`,
    );
  }
  return value;
}

function expectTime(record: Record<string, unknown>, field: string): number {
  const value = record[field];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(
      `Invalid job record ${String(record.id)}: '${field}' is ${
        describe(value)
      }, not epoch milliseconds`,
    );
  }
  return value;
}

function parseErrorRecord(id: string, value: unknown): JobErrorRecord {
  const error = value as Record<string, unknown> | null;
  if (
    typeof error !== "object" || error === null ||
    typeof error.name !== "string" || typeof error.message !== "string" ||
    (error.stack !== undefined && typeof error.stack !== "string")
  ) {
    throw new TypeError(
      `Invalid job record ${id}: 'error' must be { name, message, stack? } strings`,
    );
  }
  return compact<JobErrorRecord>({
    name: error.name,
    message: error.message,
    stack: error.stack as string | undefined,
  });
}
