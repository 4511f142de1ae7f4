/**
 * The errors the engine reports about jobs, and how it turns whatever a
 * handler throws into something that can be recorded.
 */
import type { Job, JobErrorRecord } from "../job/job.ts";
import { JobQueueError } from "../job_queue_error.ts";

/**
 * What a thrown value records: always strings, and never throws, whatever
 * was thrown (an object without `toString`, a proxy, an Error whose stack is
 * `null`), so that every failed attempt can be written and counted.
 */
export function toErrorRecord(error: unknown): JobErrorRecord {
  try {
    if (error instanceof Error) {
      const { name, message, stack } = error;
      return {
        name: typeof name === "string" ? name : "Error",
        message: typeof message === "string" ? message : textOf(message),
        ...(typeof stack === "string" ? { stack } : {}),
      };
    }
  } catch {
    // A getter or a proxy trap threw: described as any other value.
  }
  return { name: "Error", message: textOf(error) };
}

/** `String(value)`, or a placeholder when that throws. */
function textOf(value: unknown): string {
  try {
    return String(value);
  } catch {
    return "a value that cannot be turned into text";
  }
}

/** `instanceof JobQueueError`, false for a value (a proxy) that throws when asked. */
export function isJobQueueError(value: unknown): value is JobQueueError {
  try {
    return value instanceof JobQueueError;
  } catch {
    return false;
  }
}

/** `error` as a `JobQueueError`: itself, or one that wraps it. */
export function asJobQueueError(error: unknown): JobQueueError {
  return isJobQueueError(error)
    ? error
    : new JobQueueError(`Unexpected error: ${toErrorRecord(error).message}`, { cause: error });
}

/** The `error` event of a job that failed for good with `failure`. */
export function failureError(job: Job, failure: unknown): JobQueueError {
  if (isJobQueueError(failure)) {
    return new JobQueueError(failure.message, {
      ...(failure.cause === undefined ? {} : { cause: failure.cause }),
      info: { job },
    });
  }
  return new JobQueueError(
    `Job ${job.key} failed: ${toErrorRecord(failure).message}`,
    { cause: failure, info: { job } },
  );
}

/** A job whose handler did not stop when the queue shut down. */
export function handedBackError(job: Job): JobQueueError {
  return new JobQueueError(
    `Job ${job.key} was handed back unfinished: its handler did not stop when the queue shut ` +
      "down, so it runs again at the next start or on another engine, and nothing this run " +
      "does from now on is recorded; make the handler stop when jobContext().signal aborts",
    { info: { job } },
  );
}

/** A job whose claim another engine took while this one ran it. */
export function lostClaimError(job: Job): JobQueueError {
  return new JobQueueError(
    `Job ${job.key} was taken over by another engine while this one ran it, so this run's ` +
      "outcome is not recorded: the other engine took this one for dead, because its " +
      "heartbeat was older than claimTimeout (a blocked event loop, a suspended process, " +
      "a slow disk) or its engine file was gone; raise claimTimeout if handlers block",
    { info: { job } },
  );
}
