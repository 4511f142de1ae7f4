import { describe } from "./_validate.ts";

/**
 * How long to wait before the next attempt of a failed job.
 *
 * - `{ type: "exponential", delay }`: `delay · 2^(attempt − 1)` ms, capped at
 *   `maxDelay`, with "full jitter" (a random wait between zero and that) unless
 *   `jitter` is `false`, so that jobs that failed together do not all retry
 *   at the same instant.
 * - `{ type: "fixed", delay }`: `delay` ms every time.
 * - A function `(attempt, error) => ms`, only in handler options (a job file
 *   cannot hold a function).
 *
 * A wait is at most one year (31,536,000,000 ms): a longer `delay` or
 * `maxDelay` is refused with a `RangeError`; a function's result outside 0 to
 * one year is reported as an `error` event and brought within that range (a
 * result that is not a number, as the default backoff).
 *
 * @example
 * ```ts
 * import type { Backoff } from "@x/jobq";
 *
 * const gentle: Backoff = { type: "exponential", delay: 500, maxDelay: 60_000 };
 * const steady: Backoff = { type: "fixed", delay: 2000 };
 * const custom: Backoff = (attempt) => attempt * 1000;
 * ```
 */
export type Backoff = BackoffPolicy | ((attempt: number, error: unknown) => number);

/**
 * A backoff that a job file can hold: exponential or fixed.
 *
 * @example
 * ```ts
 * import type { BackoffPolicy } from "@x/jobq";
 *
 * const policy: BackoffPolicy = { type: "fixed", delay: 1000 };
 * ```
 */
export type BackoffPolicy =
  | {
    /** Doubling waits. */
    type: "exponential";
    /** The first wait, in ms. */
    delay: number;
    /**
     * The longest wait, in ms.
     *
     * @default {3_600_000}
     */
    maxDelay?: number;
    /**
     * Wait a random time between zero and the computed wait.
     *
     * @default {true}
     */
    jitter?: boolean;
  }
  | {
    /** Equal waits. */
    type: "fixed";
    /** The wait, in ms. */
    delay: number;
  };

/**
 * How a method's jobs are retried and timed out: the third argument of
 * `registerJobHandler`. A job spec can set the same (except a backoff
 * function) for one job, and wins.
 *
 * @example
 * ```ts
 * import type { JobHandlerOptions } from "@x/jobq";
 *
 * const options: JobHandlerOptions = {
 *   maxAttempts: 5,
 *   backoff: { type: "exponential", delay: 1000 },
 *   timeout: 30_000,
 * };
 * ```
 */
export interface JobHandlerOptions {
  /**
   * How many times a job may run before it is `FAILED`: 1 means no retry.
   *
   * @default {1}
   */
  maxAttempts?: number;
  /**
   * The wait between attempts.
   *
   * @default {{ type: "exponential", delay: 1000 }}
   */
  backoff?: Backoff;
  /**
   * How long, in ms, an attempt may run before it fails as timed out and its
   * `AbortSignal` is aborted.
   *
   * @default {Infinity}
   */
  timeout?: number;
}

/** The options of {@linkcode JobHandlerOptions} a job file can hold. */
export type StorableRetryOptions = Omit<JobHandlerOptions, "backoff"> & {
  backoff?: BackoffPolicy;
};

/**
 * Throws unless `options` holds valid retry settings: a `TypeError` for a
 * wrong type, a `RangeError` for a number out of range. `storable` refuses a
 * backoff function, for job specs and records, which are JSON.
 */
export function assertRetryOptions(
  options: JobHandlerOptions,
  storable: boolean,
  context: string,
): void {
  const { maxAttempts, timeout, backoff } = options;
  if (maxAttempts !== undefined) {
    if (typeof maxAttempts !== "number") {
      throw new TypeError(
        `${context} as 'maxAttempts' must be a number: it is ${typeof maxAttempts}`,
      );
    }
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
      throw new RangeError(
        `${context} as 'maxAttempts' must be a positive integer: current value is ${maxAttempts}`,
      );
    }
  }
  if (timeout !== undefined) {
    if (typeof timeout !== "number") {
      throw new TypeError(`${context} as 'timeout' must be a number: it is ${typeof timeout}`);
    }
    // setTimeout cannot wait longer than 2^31-1 ms; no attempt should either.
    if (!(timeout > 0 && timeout <= 2 ** 31 - 1)) {
      throw new RangeError(
        `${context} as 'timeout' must be a positive number of milliseconds, at most 2147483647 (about 24.8 days): current value is ${timeout}`,
      );
    }
  }
  if (backoff !== undefined) assertBackoff(backoff, storable);
}

/**
 * The longest wait between attempts, in ms: one year. Longer waits are
 * mistakes, and far longer ones (beyond 2^53 ms, or past the year 9999) make
 * dates that no job file can hold.
 */
export const MAX_BACKOFF_DELAY = 365 * 24 * 3_600_000;

/** The backoff of jobs that set none: exponential from one second, with jitter. */
export const DEFAULT_BACKOFF: BackoffPolicy = { type: "exponential", delay: 1000 };

const DEFAULT_MAX_DELAY = 3_600_000;

/**
 * The wait before the attempt after `attempt` (counted from 1), in ms. A
 * policy's wait is within 0 to {@linkcode MAX_BACKOFF_DELAY}; a function's
 * may not be (the caller brings it within).
 *
 * @throws {RangeError} When a backoff function returns something other than
 *   a number.
 */
export function backoffDelay(backoff: Backoff, attempt: number, error: unknown): number {
  if (typeof backoff === "function") {
    const delay = backoff(attempt, error);
    if (typeof delay !== "number" || Number.isNaN(delay)) {
      throw new RangeError(
        `Cannot retry as the backoff function must return a number of milliseconds: it returned ${
          describe(delay)
        }`,
      );
    }
    return delay;
  }
  if (backoff.type === "fixed") return backoff.delay;
  const ceiling = Math.min(
    // Past 2^1023 the product is Infinity, or NaN for a delay of 0.
    backoff.delay * 2 ** Math.min(attempt - 1, 1023),
    backoff.maxDelay ?? DEFAULT_MAX_DELAY,
  );
  return backoff.jitter === false ? ceiling : Math.random() * ceiling;
}

/**
 * Throws unless `value` is a valid backoff; `storable` refuses functions,
 * for job specs whose settings go into the job file.
 */
function assertBackoff(value: unknown, storable: boolean): asserts value is Backoff {
  if (typeof value === "function" && !storable) return;
  const policy = value as Record<string, unknown> | null;
  const fail = (problem: string, Type = TypeError): never => {
    throw new Type(
      `Cannot use the backoff: ${problem}; use { type: "exponential", delay }, { type: "fixed", delay }` +
        (storable ? "" : ", or a function (attempt, error) => ms"),
    );
  };
  if (typeof value === "function") fail("a job spec cannot hold a function (it is stored as JSON)");
  if (typeof policy !== "object" || policy === null) return fail("it is not an object");
  if (policy.type !== "exponential" && policy.type !== "fixed") {
    return fail(`'type' is ${JSON.stringify(policy.type)}`);
  }
  const allowed = policy.type === "fixed"
    ? ["type", "delay"]
    : ["type", "delay", "maxDelay", "jitter"];
  for (const key of Object.keys(policy)) {
    if (!allowed.includes(key)) fail(`unknown option '${key}'`);
  }
  for (const key of ["delay", "maxDelay"]) {
    const number = policy[key];
    if (number === undefined && key === "maxDelay") continue;
    if (typeof number !== "number") fail(`'${key}' must be a number of milliseconds`);
    if (!(number as number >= 0 && number as number <= MAX_BACKOFF_DELAY)) {
      fail(
        `'${key}' must be a number of milliseconds from 0 to ${MAX_BACKOFF_DELAY} (one year): ` +
          `current value is ${String(number)}`,
        RangeError,
      );
    }
  }
  if (policy.jitter !== undefined && typeof policy.jitter !== "boolean") {
    fail("'jitter' must be a boolean");
  }
}
