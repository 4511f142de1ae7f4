/**
 * Calling handlers: one attempt of a job, decided when the handler settles,
 * at the attempt's timeout, or when shutdown hands the job back, whichever
 * comes first. A handler that ignores its signal runs on, but its attempt is
 * decided all the same.
 */
import type { Job } from "../job/job.ts";
import { JobQueueError } from "../job_queue_error.ts";
import type { Registration } from "./job_handler.ts";
import { runWithJobContext } from "./job_context.ts";

/** One attempt of a job: the job as last stored (progress replaces it), and whether it is decided. */
export interface Attempt {
  job: Job;
  done: boolean;
}

/** How an attempt ended. */
export type Outcome =
  | { readonly kind: "completed"; readonly result: unknown }
  | { readonly kind: "failed"; readonly error: unknown }
  /** Cut short by shutdown: neither completed nor failed; the job runs again. */
  | { readonly kind: "interrupted" };

/** How an attempt was decided, and its handler when that runs on regardless (overdue). */
export interface Decision {
  readonly outcome: Outcome;
  readonly overdue?: Promise<unknown>;
}

/** The handlers being called, so that shutdown can abort them or stop waiting for them. */
export class HandlerCalls {
  readonly #controllers = new Set<AbortController>();
  readonly #handBacks = new Set<() => void>();
  /** The reason handlers are aborted with at shutdown. */
  #shutdownReason: JobQueueError | undefined;
  readonly #reportProgress: (attempt: Attempt, progress: unknown) => Promise<void>;

  /** @param reportProgress Stores an attempt's progress (`jobContext().progress`). */
  constructor(reportProgress: (attempt: Attempt, progress: unknown) => Promise<void>) {
    this.#reportProgress = reportProgress;
  }

  /**
   * Calls the handler of `attempt.job` (a failed attempt when there is
   * none) and tells how the attempt was decided. Never rejects.
   */
  async decide(
    attempt: Attempt,
    registration: Registration | undefined,
    timeout: number,
  ): Promise<Decision> {
    const job = attempt.job;
    if (registration === undefined) {
      const error = new JobQueueError(
        `No handler is registered for method '${job.methodName}': register one with ` +
          `registerJobHandler('${job.methodName}', handler) before start(); job ${job.id} ` +
          "is kept as FAILED",
        { info: { job } },
      );
      return { outcome: { kind: "failed", error } };
    }
    const controller = new AbortController();
    this.#controllers.add(controller);
    let settled = false;
    const called = this.#call(attempt, registration, controller).finally(() => settled = true);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<Outcome>((resolve) => {
      if (timeout === Infinity) return;
      timer = setTimeout(() => {
        // Before the abort: nothing the handler does once it is told to stop counts.
        attempt.done = true;
        const cause = new DOMException(
          `The handler did not settle within ${timeout} ms`,
          "TimeoutError",
        );
        controller.abort(cause);
        resolve({
          kind: "failed",
          error: new JobQueueError(
            `Job ${job.key} timed out after ${timeout} ms: make the handler finish sooner, ` +
              "raise its timeout, or have it stop when jobContext().signal aborts",
            { cause, info: { job } },
          ),
        });
      }, timeout);
    });
    let handBack!: () => void;
    const handedBack = new Promise<Outcome>((resolve) => {
      handBack = () => {
        attempt.done = true;
        resolve({ kind: "interrupted" });
      };
    });
    this.#handBacks.add(handBack);
    try {
      const outcome = await Promise.race([called, timedOut, handedBack]);
      // Decided before the handler settled: it runs on, holding no slot, and
      // nothing it does from now on is recorded.
      return settled ? { outcome } : { outcome, overdue: called };
    } finally {
      clearTimeout(timer);
      this.#controllers.delete(controller);
      this.#handBacks.delete(handBack);
    }
  }

  /** Aborts the signal of every handler being called: the queue shuts down. */
  abortAll(): void {
    this.#shutdownReason = new JobQueueError(
      "The job queue is shutting down: the job will run again",
    );
    for (const controller of this.#controllers) controller.abort(this.#shutdownReason);
  }

  /** Decides every attempt still being called as interrupted, without its handler. */
  handBackAll(): void {
    for (const handBack of this.#handBacks) handBack();
  }

  /** Calls the handler with the job's context; tells how it ended. */
  async #call(
    attempt: Attempt,
    registration: Registration,
    controller: AbortController,
  ): Promise<Outcome> {
    const job = attempt.job;
    const args = Array.isArray(job.params) ? job.params : job.params === undefined ? [] : [
      job.params,
    ];
    try {
      const result = await runWithJobContext(
        {
          job,
          attempt: job.attempts,
          signal: controller.signal,
          progress: (progress) => this.#reportProgress(attempt, progress),
        },
        () => registration.handler(...args),
      );
      return { kind: "completed", result };
    } catch (error) {
      // Aborted by shutdown: the job did not fail, it was cut short.
      const shutdown = this.#shutdownReason;
      if (shutdown !== undefined && controller.signal.reason === shutdown) {
        return { kind: "interrupted" };
      }
      return { kind: "failed", error };
    }
  }
}
