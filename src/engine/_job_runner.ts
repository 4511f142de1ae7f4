/**
 * Running a claimed job to its recorded outcome: the next occurrence of a
 * recurring job, the attempt, its timeout, retries and their backoff,
 * progress, results, and what becomes of handlers that outlive their
 * attempt. Shutdown asks it to stop.
 */
import { finishesWithin } from "../_async.ts";
import { MAX_EXECUTION_DATE } from "../job/_id.ts";
import { assertJsonFaithful } from "../job/_validate.ts";
import { type Job, occurrenceAfter } from "../job/job.ts";
import { type Backoff, backoffDelay, DEFAULT_BACKOFF, MAX_BACKOFF_DELAY } from "../job/retry.ts";
import { JobQueueError } from "../job_queue_error.ts";
import type { JobStore } from "../store/job_store.ts";
import { failureError, handedBackError, lostClaimError, toErrorRecord } from "./_errors.ts";
import { type Attempt, HandlerCalls, type Outcome } from "./_handler_calls.ts";
import type { JobQueuePayloadMap } from "./events.ts";
import type { Registration } from "./job_handler.ts";
import type { KeepCompleted } from "./options.ts";

/** How long shutdown waits for handlers to stop once it has aborted their signals. */
const ABORT_GRACE_MS = 100;

/** What the runner needs of its engine. */
export interface RunnerContext {
  readonly store: JobStore;
  readonly handlers: ReadonlyMap<string, Registration>;
  readonly keepCompleted: boolean | KeepCompleted;
  /** How often an outcome that cannot be written is tried again, in ms. */
  readonly pollInterval: number;
  readonly maxOverdueHandlers: number;
  emit<K extends keyof JobQueuePayloadMap>(name: K, payload: JobQueuePayloadMap[K]): void;
  emitError(error: unknown): void;
  /** Whether the engine still starts jobs. */
  isProcessing(): boolean;
  /** Whether dispose() has begun. */
  isDisposed(): boolean;
  /** Stores new jobs as `scheduleJob` does. */
  schedule(jobs: Job[]): Promise<Job[]>;
  /** Hands a job's end to whoever waits for it. */
  settled(id: string, job: Job | undefined): void;
  /** A slot is free or a job waits again: look for due jobs. */
  wake(): void;
}

/** A retry kept claimed while its timed-out predecessor's handler runs. */
interface HeldRetry {
  /** Lets go of the claim now (once), so that the retry can run. */
  release(): void;
  /** Resolves once the claim is let go of. */
  readonly ended: Promise<void>;
}

/** Runs claimed jobs, at most one run of a job at a time, and stops them at shutdown. */
export class JobRunner {
  readonly #context: RunnerContext;
  readonly #calls: HandlerCalls;
  /** Jobs being run here, by id: each holds a concurrency slot. */
  readonly #running = new Map<string, Promise<void>>();
  /** Handlers still running after their attempt was decided; they hold no slot. */
  readonly #overdue = new Set<Promise<unknown>>();
  /** Retries kept claimed while their timed-out predecessor's handler runs, by job id. */
  readonly #heldRetries = new Map<string, HeldRetry>();

  constructor(context: RunnerContext) {
    this.#context = context;
    this.#calls = new HandlerCalls((attempt, progress) => this.#reportProgress(attempt, progress));
  }

  /** How many jobs run here, each in a slot. */
  get running(): number {
    return this.#running.size;
  }

  /** How many handlers run on after their attempt was decided. */
  get overdue(): number {
    return this.#overdue.size;
  }

  /** How many retries wait for their timed-out predecessor's handler. */
  get held(): number {
    return this.#heldRetries.size;
  }

  /** Whether the job with this id runs here. */
  isRunning(id: string): boolean {
    return this.#running.has(id);
  }

  /**
   * Runs a job this engine has claimed, in a slot of its own until its
   * outcome is recorded; after `announced`, when given (the job's
   * `scheduled` event, which comes first).
   */
  start(job: Job, announced?: Promise<void>): void {
    // #run reports its own failures; the catch is for bugs, so that no
    // rejection goes unhandled.
    const run: Promise<void> =
      (announced === undefined ? this.#run(job) : announced.then(() => this.#run(job)))
        .catch((error) => this.#context.emitError(error))
        .then(() => {
          if (this.#running.get(job.id) === run) this.#running.delete(job.id);
          this.#context.wake();
        });
    this.#running.set(job.id, run);
  }

  /** Resolves once no job runs here (but `except`'s) and no retry is held. */
  async settled(except?: string): Promise<void> {
    for (;;) {
      const runs = [...this.#running].filter(([id]) => id !== except).map(([, run]) => run);
      const holds = [...this.#heldRetries.values()].map((hold) => hold.ended);
      if (runs.length === 0 && holds.length === 0) return;
      await Promise.all([...runs, ...holds]);
    }
  }

  /**
   * Waits for running jobs and held retries until `deadline` (a
   * `performance.now()` time); then aborts the handlers' signals, lets go of
   * held retries, waits a moment for handlers to stop, and hands back the
   * jobs of those that do not.
   */
  async stop(deadline: number): Promise<void> {
    const settled = this.settled();
    // Timers may fire a millisecond early: the clock says when the deadline has come.
    for (let left = deadline - performance.now(); left > 0; left = deadline - performance.now()) {
      if (await finishesWithin(settled, left)) return;
    }
    this.#calls.abortAll();
    for (const hold of this.#heldRetries.values()) hold.release();
    if (!await finishesWithin(settled, ABORT_GRACE_MS)) this.#calls.handBackAll();
    await settled;
  }

  /** Runs and records one claimed job; reports instead of rejecting. */
  async #run(job: Job): Promise<void> {
    const context = this.#context;
    if (!context.isProcessing()) return await this.#release(job);
    // Not run before the next occurrence is stored: a schedule must not end
    // because one write failed. Given back, it runs (and tries) again later.
    if (job.repeat !== undefined && !await this.#scheduleNextOccurrence(job)) {
      return await this.#release(job, Date.now() + context.pollInterval);
    }
    const limit = this.#attemptLimit(job);
    if (job.interruptions > limit) {
      // Its process died each time it ran this job, more often than the job
      // has attempts: running it again would crash-loop.
      return await this.#record(job, {
        kind: "failed",
        error: new JobQueueError(
          `Job ${job.key} is not run again: its process died during ${job.interruptions} ` +
            `of its runs, more than its ${limit} attempt(s); find out why it kills its ` +
            "process, then retry it",
          { info: { job } },
        ),
      });
    }
    context.emit("debug", { message: "starting job", info: { job } });
    context.emit("started", job);
    const attempt: Attempt = { job, done: false };
    const { outcome, overdue } = await this.#calls.decide(
      attempt,
      context.handlers.get(job.methodName),
      this.#timeoutOf(job),
    );
    attempt.done = true;
    if (overdue !== undefined) this.#countOverdue(overdue);
    if (outcome.kind === "interrupted") {
      if (overdue !== undefined) context.emit("error", handedBackError(attempt.job));
      return await this.#release(attempt.job);
    }
    await this.#record(attempt.job, outcome, overdue);
  }

  /**
   * Records how an attempt ended. While that cannot be written (a full
   * disk), the claim is kept and the write tried again every poll interval,
   * reporting each failure: giving the job back would run its handler again.
   * Stops when the write succeeds or the claim turns out lost; at dispose(),
   * the job is given back, to run again at a later start. `overdue` is the
   * handler of an attempt that timed out, if it still runs.
   */
  async #record(
    job: Job,
    outcome: Exclude<Outcome, { kind: "interrupted" }>,
    overdue?: Promise<unknown>,
  ): Promise<void> {
    const context = this.#context;
    for (;;) {
      try {
        return outcome.kind === "completed"
          ? await this.#recordCompletion(job, outcome.result)
          : await this.#recordFailure(job, outcome.error, overdue);
      } catch (error) {
        context.emitError(error);
      }
      if (context.isDisposed()) return await this.#release(job);
      await new Promise((resolve) => setTimeout(resolve, context.pollInterval));
      if (context.isDisposed()) return await this.#release(job);
    }
  }

  /**
   * Schedules the occurrence after a recurring job's, when it starts: the
   * occurrence's unique key keeps it single however many engines (or runs
   * of this one, after a crash) schedule it. Occurrences missed while no
   * engine ran are skipped: the next is the first one after now.
   */
  async #scheduleNextOccurrence(job: Job): Promise<boolean> {
    try {
      await this.#context.schedule([occurrenceAfter(job, Date.now())]);
      return true;
    } catch (cause) {
      this.#context.emitError(
        new JobQueueError(
          `Cannot schedule the next occurrence of recurring job ${job.key}: ${
            toErrorRecord(cause).message
          }; this occurrence waits and tries again`,
          { cause, info: { job } },
        ),
      );
      return false;
    }
  }

  async #recordCompletion(job: Job, value: unknown): Promise<void> {
    const context = this.#context;
    const keep = context.keepCompleted !== false;
    const result = this.#storableResult(job, value);
    const completed = await context.store.complete(job, result, keep);
    if (completed === undefined) return context.emit("error", lostClaimError(job));
    context.emit("debug", { message: "completed job", info: { job: completed } });
    context.emit("completed", completed);
    context.settled(job.id, completed);
    if (typeof context.keepCompleted === "object") {
      const { count, age = Infinity } = context.keepCompleted;
      // Reported, not thrown: the outcome is written, and must not be again.
      await context.store.pruneCompleted({
        ...(count === undefined ? {} : { count }),
        finishedAfter: Date.now() - age,
      }).catch((error) => context.emitError(error));
    }
  }

  /**
   * Records a failed attempt: a retry, due after its backoff, when attempts
   * are left; the job's failure otherwise. With the handler of a timed-out
   * attempt still running (`overdue`), the retry stays claimed until that
   * handler settles or has had the attempt's timeout once more.
   */
  async #recordFailure(job: Job, error: unknown, overdue?: Promise<unknown>): Promise<void> {
    const context = this.#context;
    const registration = context.handlers.get(job.methodName);
    // A job without a handler fails at once: waiting would not bring one.
    if (registration !== undefined && job.attempts < this.#attemptLimit(job)) {
      const backoff = job.backoff ?? registration.options.backoff ?? DEFAULT_BACKOFF;
      // No later than a job can be due, whatever the clock says.
      const due = Math.min(
        Math.ceil(Date.now() + this.#retryDelay(backoff, job, error)),
        MAX_EXECUTION_DATE,
      );
      const retrying = await context.store.retryLater(
        job,
        toErrorRecord(error),
        due,
        overdue !== undefined,
      );
      if (retrying === undefined) return context.emit("error", lostClaimError(job));
      context.emit("debug", { message: "retrying job", info: { job: retrying } });
      context.emit("retrying", retrying);
      if (overdue !== undefined) this.#holdRetry(retrying, overdue, this.#timeoutOf(job));
      return;
    }
    const failed = await context.store.fail(job, toErrorRecord(error));
    if (failed === undefined) return context.emit("error", lostClaimError(job));
    context.emit("debug", { message: "failed job", info: { job: failed } });
    context.emit("failed", failed);
    context.emit("error", failureError(failed, error));
    context.settled(job.id, failed);
  }

  /** Gives a claimed job back unrun, due again at `executionDate`; reports failures. */
  async #release(job: Job, executionDate?: number): Promise<void> {
    try {
      await this.#context.store.release(job, executionDate);
    } catch (error) {
      this.#context.emitError(error);
    }
  }

  /**
   * A handler's return value as it can be stored: a copy through JSON, or
   * `undefined` (reported) when JSON cannot carry it faithfully.
   */
  #storableResult(job: Job, value: unknown): unknown {
    if (value === undefined) return undefined;
    try {
      assertJsonFaithful(value, "the result");
      return JSON.parse(JSON.stringify(value));
    } catch (cause) {
      this.#context.emitError(
        new JobQueueError(
          `The result of job ${job.key} is not stored: ${toErrorRecord(cause).message}`,
          { cause, info: { job } },
        ),
      );
      return undefined;
    }
  }

  /** Stores an attempt's progress and tells listeners; reports a failure to store it. */
  async #reportProgress(attempt: Attempt, progress: unknown): Promise<void> {
    assertJsonFaithful(progress, "progress");
    const copy = JSON.parse(JSON.stringify(progress));
    // A report that comes after its attempt was decided (from work the
    // handler left behind) is dropped: a later run may own the job by then.
    if (attempt.done) return;
    try {
      const updated = await this.#context.store.progress(attempt.job, copy);
      if (updated === undefined || attempt.done) return;
      attempt.job = updated;
      this.#context.emit("progress", updated);
    } catch (error) {
      // Progress is advice: failing to store it does not fail the job.
      this.#context.emitError(error);
    }
  }

  /** How long an attempt of a job may run: its own `timeout`, its handler's, or no limit. */
  #timeoutOf(job: Job): number {
    return job.timeout ?? this.#context.handlers.get(job.methodName)?.options.timeout ?? Infinity;
  }

  /** How many attempts a job gets: its own `maxAttempts`, its handler's, or 1. */
  #attemptLimit(job: Job): number {
    return job.maxAttempts ?? this.#context.handlers.get(job.methodName)?.options.maxAttempts ??
      1;
  }

  /**
   * The wait before the next attempt; a broken backoff function falls back to
   * the default, and one whose wait is out of range is brought within 0 to
   * MAX_BACKOFF_DELAY: either is reported.
   */
  #retryDelay(backoff: Backoff, job: Job, error: unknown): number {
    try {
      const delay = backoffDelay(backoff, job.attempts, error);
      const clamped = Math.min(Math.max(delay, 0), MAX_BACKOFF_DELAY);
      if (clamped !== delay) {
        this.#context.emitError(
          new JobQueueError(
            `The backoff of '${job.methodName}' returned ${delay} ms, outside 0 to ` +
              `${MAX_BACKOFF_DELAY} (one year), so job ${job.id} waits ${clamped} ms: make it ` +
              "return a wait within that range",
            { info: { job } },
          ),
        );
      }
      return clamped;
    } catch (cause) {
      this.#context.emitError(
        new JobQueueError(
          `The backoff of '${job.methodName}' failed, so job ${job.id} waits the default backoff: ${
            toErrorRecord(cause).message
          }`,
          { cause, info: { job } },
        ),
      );
      return backoffDelay(DEFAULT_BACKOFF, job.attempts, error);
    }
  }

  /**
   * Counts a handler that runs on after its attempt was decided, until it
   * settles; reports reaching `maxOverdueHandlers`, where starts stop.
   */
  #countOverdue(handler: Promise<unknown>): void {
    this.#overdue.add(handler);
    if (this.#overdue.size === this.#context.maxOverdueHandlers) {
      this.#context.emit(
        "error",
        new JobQueueError(
          `${this.#overdue.size} handlers still run after their attempts timed out or were ` +
            "handed back, as many as maxOverdueHandlers allows: no job starts until one of " +
            "them settles; make handlers stop when jobContext().signal aborts, or restart " +
            "the process",
        ),
      );
    }
    void handler.then(() => {
      this.#overdue.delete(handler);
      this.#context.wake();
    });
  }

  /**
   * Keeps a retry claimed while its timed-out predecessor's handler still
   * runs, so that no engine starts it beside that handler: until the handler
   * settles, or for `grace` ms, after which the handler is abandoned (an
   * `error` event says so) and the retry may run.
   */
  #holdRetry(job: Job, handler: Promise<unknown>, grace: number): void {
    const context = this.#context;
    let release!: () => void;
    const ended = new Promise<void>((resolve) => {
      release = () => {
        if (this.#heldRetries.get(job.id) !== hold) return;
        this.#heldRetries.delete(job.id);
        clearTimeout(timer);
        context.store.unclaim(job).catch((error) => context.emitError(error)).then(() => {
          context.wake();
          resolve();
        });
      };
    });
    const hold: HeldRetry = { release, ended };
    this.#heldRetries.set(job.id, hold);
    const timer = setTimeout(() => {
      context.emit(
        "error",
        new JobQueueError(
          `The handler of job ${job.key} still runs ${grace} ms after its attempt timed out: ` +
            "it is abandoned, and the retry may start beside it; make the handler stop when " +
            "jobContext().signal aborts",
          { info: { job } },
        ),
      );
      release();
    }, grace);
    void handler.then(release);
  }
}
