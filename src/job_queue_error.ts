import type { Job } from "./job/job.ts";

/** What a {@linkcode JobQueueError} is about: the job, the file, or both. */
export interface JobQueueErrorInfo {
  /** The job involved, as it was when the error happened. */
  readonly job?: Job;
  /** The file involved, for errors about a file on disk. */
  readonly file?: string;
}

/** Options for constructing a {@linkcode JobQueueError}. */
export interface JobQueueErrorOptions {
  /** The underlying error. */
  cause?: unknown;
  /**
   * What the error is about.
   *
   * @default {{}}
   */
  info?: JobQueueErrorInfo;
}

/**
 * The error jobq raises for everything that is not a misuse of its API
 * (misuse raises a `TypeError` or a `RangeError`): a failed handler, a job
 * without a handler, a job file that cannot be read or written.
 *
 * The message says what happened and what to do; `cause` holds the
 * underlying error and `info` the job or file involved.
 *
 * @example Telling a failed job from other errors
 * ```ts
 * import { JobQueueError } from "@x/jobq";
 * import assert from "node:assert/strict";
 *
 * const error = new JobQueueError("Job failed", { cause: new Error("SMTP down") });
 * assert.equal(error.name, "JobQueueError");
 * assert.equal((error.cause as Error).message, "SMTP down");
 * assert.equal(error.info.job, undefined);
 * ```
 */
export class JobQueueError extends Error {
  /** Always `"JobQueueError"`, also after minification. */
  override readonly name: "JobQueueError" = "JobQueueError";
  /** The job or file the error is about. */
  readonly info: JobQueueErrorInfo;

  /**
   * Creates an error with a message that says what to do.
   *
   * @param message What happened and what to do about it.
   * @param options The cause and the job or file involved.
   */
  constructor(message: string, options: JobQueueErrorOptions = {}) {
    super(
      message,
      "cause" in options ? { cause: options.cause } : undefined,
    );
    this.info = options.info ?? {};
  }
}
