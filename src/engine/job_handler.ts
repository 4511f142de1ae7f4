import type { JobHandlerOptions } from "../job/retry.ts";

/**
 * A function that runs jobs of one method. Array params are spread into its
 * arguments (`handler(...params)`), anything else is its one argument
 * (`handler(params)`). It completes the job by resolving and fails it by
 * throwing or rejecting. {@linkcode jobContext} gives it the job, the
 * attempt number and an `AbortSignal`.
 *
 * @example
 * ```ts
 * import type { JobHandler } from "@x/jobq";
 *
 * const sendEmail: JobHandler = async (params: { to: string }) => {
 *   console.log(`sending to ${params.to}`);
 * };
 * ```
 */
// deno-lint-ignore no-explicit-any -- params are whatever was scheduled; typed queues narrow them
export type JobHandler = (...params: any[]) => unknown;

/** A registered handler and how its jobs are retried. */
export interface Registration {
  readonly handler: JobHandler;
  readonly options: JobHandlerOptions;
}
