import { AsyncLocalStorage } from "node:async_hooks";
import type { Job } from "../job/job.ts";

/**
 * What a running handler can learn about its job, through
 * {@linkcode jobContext}.
 *
 * @example Reading the context inside a handler
 * ```ts
 * import { type JobContext, jobContext } from "@x/jobq";
 *
 * async function handler(params: unknown) {
 *   const context: JobContext = jobContext();
 *   console.log(`job ${context.job.id}, attempt ${context.attempt}`);
 * }
 * ```
 */
export interface JobContext {
  /** The job being run, in state `IN_PROGRESS`. */
  readonly job: Job;
  /** Which attempt this is, from 1. */
  readonly attempt: number;
  /**
   * Aborted when the handler should stop: the attempt timed out, or the
   * queue is shutting down.
   */
  readonly signal: AbortSignal;
  /**
   * Records how far the handler has come (a percentage, a count, any JSON
   * value) in the job's file, and emits a `progress` event. Each call is a
   * file write: report steps, not every item.
   *
   * @throws {TypeError} When JSON cannot carry `progress` faithfully.
   */
  progress(progress: unknown): Promise<void>;
}

const storage = new AsyncLocalStorage<JobContext>();

/**
 * The context of the job whose handler is running: its job (and so its id),
 * the attempt number and an `AbortSignal`. It is found through the async
 * call chain, so handlers keep their plain signatures, `handler(params)` and
 * `handler(...items)`, and still reach it from any function they call.
 *
 * @returns The running job's context.
 * @throws {TypeError} When called outside a job handler.
 *
 * @example Passing the abort signal on to `fetch`
 * ```ts ignore
 * import { jobContext, JobQueue } from "@x/jobq";
 *
 * const queue = new JobQueue({ directory: "./jobs" });
 * queue.registerJobHandler("fetchPage", async (params: { url: string }) => {
 *   const { signal, attempt } = jobContext();
 *   console.log(`attempt ${attempt}`);
 *   await fetch(params.url, { signal });
 * });
 * ```
 */
export function jobContext(): JobContext {
  const context = currentJobContext();
  if (context === undefined) {
    throw new TypeError(
      "Cannot read the job context outside a job handler: call jobContext() while a handler runs",
    );
  }
  return context;
}

/** The context of the running handler that calls, or `undefined` outside handlers. */
export function currentJobContext(): JobContext | undefined {
  return storage.getStore();
}

/** Runs `task` with `context` as the job context of everything it calls. */
export function runWithJobContext<T>(context: JobContext, task: () => T): T {
  return storage.run(context, task);
}
