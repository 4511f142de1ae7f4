import * as nodeTimers from "node:timers";
import { positiveCount, positiveMilliseconds } from "../_options.ts";
import { assertMethodName } from "../job/_validate.ts";
import { Job, type JobSpec, JobState, occurrenceAfter, replacementOf } from "../job/job.ts";
import { assertRetryOptions, type JobHandlerOptions } from "../job/retry.ts";
import { JobQueueError } from "../job_queue_error.ts";
import { createEngineId } from "../store/_engine_id.ts";
import { FileJobStore } from "../store/file/file_job_store.ts";
import type { AddResult, EngineInfo, JobStore } from "../store/job_store.ts";
import { Dispatcher } from "./_dispatcher.ts";
import { asJobQueueError } from "./_errors.ts";
import { JobRunner } from "./_job_runner.ts";
import { Waiters } from "./_waiters.ts";
import type { JobQueueEventListener, JobQueueEventName, JobQueuePayloadMap } from "./events.ts";
import type { JobHandler, Registration } from "./job_handler.ts";
import { currentJobContext } from "./job_context.ts";
import {
  type DisposeOptions,
  FILE_STORE_OPTIONS,
  type JobQueueEngineOptions,
  type KeepCompleted,
  type PruneOptions,
  validateKeepCompleted,
} from "./options.ts";

/**
 * How many occurrences of a recurring job may come while each is being
 * stored before scheduling gives up: only a schedule whose interval is
 * shorter than a write gets there.
 */
const LATE_OCCURRENCE_LIMIT = 5;

/**
 * The core of jobq: keeps jobs in a {@linkcode JobStore} (a directory of
 * JSON files by default), asks the store for due jobs when a slot is free or
 * a job comes due, runs them with their handlers, and never runs more than
 * `maxConcurrency` at once. Engines in one process, in several, or (with a
 * shared store such as PostgreSQL) on several machines share a queue: every
 * run is claimed atomically, and a dead engine's claims are recovered.
 *
 * It is a coordinator of named parts: the dispatcher (due jobs and the
 * timer), the runner (one job from claim to recorded outcome: timeouts,
 * retries, progress), the waiters (`onIdle`, `drained`, `settled`) and the
 * upkeep (heartbeat, recovery, polling).
 *
 * Most programs use {@linkcode JobQueue}, which wraps an engine with events.
 * The methods the two share are documented on `JobQueue`; an engine tells
 * what happens to its `eventListener` and to {@linkcode listen}ers instead
 * of dispatching events.
 *
 * @example Processing jobs with an engine
 * ```ts
 * import { JobQueueEngine } from "@x/jobq";
 * import assert from "node:assert/strict";
 *
 * const engine = new JobQueueEngine({
 *   directory: await Deno.makeTempDir(),
 *   maxConcurrency: 3,
 *   eventListener: (eventName, event) => console.log(`${eventName}:`, event),
 * });
 * let processed!: (params: unknown) => void;
 * const done = new Promise((resolve) => processed = resolve);
 * engine.registerJobHandler("processData", async (params: unknown) => {
 *   processed(params);
 * });
 * await engine.load();
 * await engine.startNextJob();
 * await engine.scheduleJob({ methodName: "processData", params: { n: 1 } });
 * assert.deepEqual(await done, { n: 1 });
 * await engine.dispose();
 * ```
 */
export class JobQueueEngine {
  readonly #store: JobStore;
  readonly #engineId = createEngineId();
  readonly #claimTimeout: number;
  readonly #pollInterval: number;
  readonly #keepCompleted: boolean | KeepCompleted;
  readonly #listeners = new Set<JobQueueEventListener>();
  readonly #handlers = new Map<string, Registration>();
  #maxConcurrency: number;
  readonly #maxOverdueHandlers: number;
  /** Whether processing is paused for every method. */
  #pausedAll = false;
  /** Methods whose processing is paused. */
  readonly #pausedMethods = new Set<string>();
  readonly #runner: JobRunner;
  readonly #dispatcher: Dispatcher;
  readonly #waiters: Waiters;
  #opened: Promise<void> | undefined;
  /** Whether the store is open: the parts may use it. */
  #isOpen = false;
  #loaded: Promise<void> | undefined;
  #processing = false;
  #disposed: Promise<void> | undefined;
  /** Set once running handlers have settled: the heartbeat may stop. */
  #closing = false;
  #upkeepTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof nodeTimers.setTimeout> | undefined;
  #unwatch: (() => void) | undefined;
  /** Looks, checks, recoveries and heartbeats under way, awaited by dispose(). */
  readonly #maintenance = new Set<Promise<void>>();
  /**
   * Jobs being scheduled here, until their `scheduled` event: a store that
   * notifies may hand one out to this engine before `add` has returned.
   */
  readonly #announcing = new Map<string, Promise<void>>();

  /**
   * Creates an engine; nothing touches the store until the first operation.
   *
   * @param options The store (or directory) and how to work on it.
   * @throws {TypeError} When neither `store` nor `directory` is given, or
   *   both, or file-store options beside `store`.
   * @throws {RangeError} When a number option is out of range.
   */
  constructor(options: JobQueueEngineOptions) {
    this.#store = storeOf(options);
    this.#maxConcurrency = positiveCount("maxConcurrency", options.maxConcurrency ?? 1);
    this.#pollInterval = positiveMilliseconds("pollInterval", options.pollInterval ?? 1000);
    this.#claimTimeout = positiveMilliseconds("claimTimeout", options.claimTimeout ?? 30_000);
    this.#keepCompleted = validateKeepCompleted(options.keepCompleted ?? false);
    this.#maxOverdueHandlers = positiveCount(
      "maxOverdueHandlers",
      options.maxOverdueHandlers ?? 100,
    );
    if (options.eventListener !== undefined) this.#listeners.add(options.eventListener);
    const store = this.#store;
    const emit = this.#emit.bind(this);
    const emitError = this.#emitError.bind(this);
    const inBackground = this.#inBackground.bind(this);
    this.#runner = new JobRunner({
      store,
      handlers: this.#handlers,
      keepCompleted: this.#keepCompleted,
      pollInterval: this.#pollInterval,
      maxOverdueHandlers: this.#maxOverdueHandlers,
      emit,
      emitError,
      isProcessing: () => this.#processing,
      isDisposed: () => this.#disposed !== undefined,
      schedule: (jobs) => this.#schedule(jobs),
      settled: (id, job) => this.#waiters.notifySettled(id, job),
      wake: () => this.#wake(),
    });
    this.#dispatcher = new Dispatcher({
      store,
      freeSlots: () => this.#freeSlots(),
      paused: () => this.#pausedMethods,
      start: (job) => {
        this.#waiters.changed();
        this.#runner.start(job, this.#announcing.get(job.id));
      },
      inBackground,
      looked: () => this.#waiters.check(),
    });
    this.#waiters = new Waiters({
      store,
      isIdle: () => this.#isIdle(),
      holdsJobs: () => this.#runner.held > 0,
      inBackground,
    });
  }

  /** The store that keeps this engine's jobs. */
  get store(): JobStore {
    return this.#store;
  }

  /** The directory of the file store, when the jobs are kept in one. */
  get directory(): string | undefined {
    return this.#store instanceof FileJobStore ? this.#store.directory : undefined;
  }

  /** Whether as many handlers are running as `maxConcurrency` allows. */
  get hasReachedMaxConcurrency(): boolean {
    return this.#runner.running >= this.#maxConcurrency;
  }

  /**
   * How many handlers still run after their attempt was decided; see
   * {@linkcode JobQueue.overdueHandlers}.
   */
  get overdueHandlers(): number {
    return this.#runner.overdue;
  }

  /**
   * Changes how many handlers may run at once, with immediate effect: a
   * higher limit starts waiting jobs now; a lower one lets running handlers
   * finish and starts no more until the count is below it.
   *
   * @param maxConcurrency A positive integer, or `Infinity`.
   * @throws {RangeError} When `maxConcurrency` is not a positive integer.
   */
  setMaxConcurrency(maxConcurrency: number): void {
    this.#maxConcurrency = positiveCount("maxConcurrency", maxConcurrency);
    this.#wake();
  }

  /**
   * Adds a listener for every event of this engine.
   *
   * @param listener Receives each event's name and payload.
   * @returns A function that removes the listener.
   */
  listen(listener: JobQueueEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Registers the function that runs jobs of `methodName`; see
   * {@linkcode JobQueue.registerJobHandler}.
   */
  registerJobHandler(
    methodName: string,
    handler: JobHandler,
    options: JobHandlerOptions = {},
  ): void {
    assertMethodName(methodName);
    if (typeof handler !== "function") {
      throw new TypeError(
        `Cannot register the handler of '${methodName}': it must be a function`,
      );
    }
    assertRetryOptions(options, false, `Cannot register the handler of '${methodName}'`);
    this.#handlers.set(methodName, { handler, options: { ...options } });
    this.#wake();
  }

  /**
   * Opens the store and recovers the claims of dead engines. Runs once;
   * later calls resolve with the first.
   */
  load(): Promise<void> {
    if (this.#disposed !== undefined) {
      return Promise.reject(this.#disposedError("load the jobs"));
    }
    this.#loaded ??= (async () => {
      await this.#open();
      await this.#store.recover();
      // A first look: the store gets ready to hand out due jobs.
      await this.#dispatcher.wake();
      this.#emit("debug", { message: "loaded jobs", info: {} });
    })().catch((error) => {
      this.#loaded = undefined;
      throw error;
    });
    return this.#loaded;
  }

  /**
   * Starts processing, after {@linkcode load} if it has not happened; see
   * {@linkcode JobQueue.start}, which calls it.
   */
  async startNextJob(): Promise<void> {
    this.#assertNotDisposed("start processing");
    await this.load();
    if (this.#disposed === undefined && !this.#processing) {
      this.#processing = true;
      this.#unwatch = this.#store.watch?.(() => this.#wake());
      this.#scheduleUpkeep();
    }
    this.#wake();
  }

  /**
   * Validates a spec and stores the job; see {@linkcode JobQueue.scheduleJob}.
   */
  async scheduleJob(spec: JobSpec): Promise<Job> {
    this.#assertNotDisposed("schedule a job");
    const [job] = await this.#schedule([Job.fromSpec(spec)]);
    return job!;
  }

  /**
   * Schedules many jobs at once, all or none; see
   * {@linkcode JobQueue.scheduleJobs}.
   */
  async scheduleJobs(specs: readonly JobSpec[]): Promise<Job[]> {
    this.#assertNotDisposed("schedule jobs");
    if (!Array.isArray(specs)) {
      throw new TypeError(
        `Cannot schedule jobs: pass an array of specs like [{ methodName, params }], not ${typeof specs}`,
      );
    }
    const now = Date.now();
    const jobs = specs.map((spec, index) => {
      try {
        return Job.fromSpec(spec, now);
      } catch (error) {
        const Type = error instanceof RangeError ? RangeError : TypeError;
        throw new Type(`Spec ${index} of ${specs.length}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    });
    return await this.#schedule(jobs);
  }

  /** Stores new jobs; tells of those stored, and wakes the dispatcher. */
  async #schedule(jobs: Job[]): Promise<Job[]> {
    await this.#open();
    let announce!: () => void;
    const announced = new Promise<void>((resolve) => announce = resolve);
    for (const job of jobs) this.#announcing.set(job.id, announced);
    let results: AddResult[];
    try {
      results = await this.#add(jobs);
      for (const result of results) {
        if (result.kind !== "added") {
          this.#emit("debug", {
            message: "kept the job that holds the unique key",
            info: { job: result.job },
          });
          continue;
        }
        this.#emit("scheduled", result.job);
        this.#emit("debug", { message: "scheduled job", info: { job: result.job } });
      }
    } finally {
      for (const job of jobs) this.#announcing.delete(job.id);
      announce();
    }
    this.#waiters.changed();
    this.#noteScheduled(results.flatMap((result) => result.kind === "added" ? [result.job] : []));
    return results.map((result) => result.job);
  }

  /**
   * Adds jobs to the store; an occurrence of a recurring job that came due
   * while it was being stored may have run elsewhere already, so the
   * schedule's next occurrence is added in its place.
   */
  async #add(jobs: readonly Job[]): Promise<AddResult[]> {
    const results = await this.#store.add(jobs);
    for (let round = 1;; round++) {
      const late = results.flatMap((result, index) => result.kind === "late" ? [index] : []);
      if (late.length === 0) return results;
      const job = results[late[0]!]!.job;
      if (round === LATE_OCCURRENCE_LIMIT) {
        throw new JobQueueError(
          `Cannot schedule recurring job ${job.methodName}: ${LATE_OCCURRENCE_LIMIT} of its ` +
            "occurrences came while they were being stored; give it a longer interval",
          { info: { job } },
        );
      }
      const next = await this.#store.add(
        late.map((index) => occurrenceAfter(results[index]!.job, Date.now())),
      );
      late.forEach((index, position) => results[index] = next[position]!);
    }
  }

  /**
   * Reads every stored job, in id order; see {@linkcode JobQueue.getAllJobs}.
   */
  async getAllJobs(): Promise<Job[]> {
    if (this.#disposed === undefined) await this.#open();
    else await this.#opened;
    return await this.#store.list();
  }

  /**
   * Lists the engines registered on the store, as their last heartbeat
   * tells, whether alive or not yet recovered. Read only: nothing is
   * recovered.
   *
   * @returns The engines, in no particular order.
   */
  async getEngines(): Promise<EngineInfo[]> {
    if (this.#disposed === undefined) await this.#open();
    else await this.#opened;
    return await this.#store.engines();
  }

  /**
   * Removes one job unless it is running; see {@linkcode JobQueue.removeJob}.
   */
  async removeJob(id: string): Promise<boolean> {
    if (typeof id !== "string") {
      throw new TypeError(`Cannot remove a job: its id must be a string, not ${typeof id}`);
    }
    this.#assertNotDisposed("remove a job");
    await this.#open();
    if (this.#runner.isRunning(id)) return false;
    const job = await this.#store.get(id);
    if (job === undefined || !await this.#store.remove(id)) return false;
    this.#waiters.notifySettled(id, undefined);
    this.#emit("debug", { message: "removed job", info: { job } });
    return true;
  }

  /**
   * Pauses processing in this engine, of one method or all; see
   * {@linkcode JobQueue.pause}.
   */
  pause(methodName?: string): void {
    if (methodName === undefined) this.#pausedAll = true;
    else {
      assertMethodName(methodName);
      this.#pausedMethods.add(methodName);
    }
    this.#emit("debug", { message: "paused", info: { methodName: methodName ?? "*" } });
  }

  /**
   * Resumes processing, of one method or all; see {@linkcode JobQueue.resume}.
   */
  resume(methodName?: string): void {
    if (methodName === undefined) {
      this.#pausedAll = false;
      this.#pausedMethods.clear();
    } else {
      assertMethodName(methodName);
      this.#pausedMethods.delete(methodName);
    }
    this.#emit("debug", { message: "resumed", info: { methodName: methodName ?? "*" } });
    this.#wake();
  }

  /**
   * Tells whether processing is paused; see {@linkcode JobQueue.isPaused}.
   */
  isPaused(methodName?: string): boolean {
    return this.#pausedAll || (methodName !== undefined && this.#pausedMethods.has(methodName));
  }

  /**
   * Resolves once this engine is idle; see {@linkcode JobQueue.onIdle}.
   */
  onIdle(): Promise<void> {
    if (this.#disposed !== undefined) return Promise.resolve();
    return this.#waiters.onIdle();
  }

  /**
   * Resolves once no job is left; see {@linkcode JobQueue.drained}.
   */
  async drained(): Promise<void> {
    if (this.#disposed !== undefined) {
      throw this.#disposedError("wait for the queue to drain");
    }
    await this.#open();
    const drained = this.#waiters.drained();
    this.#wake();
    this.#scheduleUpkeep();
    return await drained;
  }

  /**
   * Resolves with a job once it has completed or failed for good; see
   * {@linkcode JobQueue.settled}.
   */
  async settled(id: string): Promise<Job | undefined> {
    if (typeof id !== "string") {
      throw new TypeError(`Cannot wait for a job: its id must be a string, not ${typeof id}`);
    }
    this.#assertNotDisposed("wait for a job");
    await this.#open();
    const settled = this.#waiters.settled(id);
    this.#scheduleUpkeep();
    return await settled;
  }

  /**
   * Removes the jobs of a method that are not running; see
   * {@linkcode JobQueue.removeJobsByMethodName}.
   */
  async removeJobsByMethodName(methodName: string): Promise<number> {
    assertMethodName(methodName);
    this.#assertNotDisposed("remove jobs");
    await this.#open();
    const removed = await this.#store.removeWhere({ methodName });
    await this.#afterRemoving(removed);
    return removed;
  }

  /**
   * Removes the failed jobs that failed `olderThan` ms ago or more; see
   * {@linkcode JobQueue.pruneFailedJobs}.
   */
  async pruneFailedJobs(options: PruneOptions): Promise<number> {
    const olderThan = options?.olderThan;
    if (typeof olderThan !== "number" || !(olderThan >= 0)) {
      throw new RangeError(
        `Cannot prune failed jobs as 'olderThan' must be a non-negative number of milliseconds: current value is ${
          String(olderThan)
        }`,
      );
    }
    this.#assertNotDisposed("prune failed jobs");
    await this.#open();
    // Failed at or before the cutoff.
    const finishedBefore = Date.now() - olderThan + 1;
    const removed = await this.#store.removeWhere({ state: JobState.FAILED, finishedBefore });
    await this.#afterRemoving(removed);
    return removed;
  }

  /** Tells whoever waits for removed jobs that they are gone. */
  async #afterRemoving(removed: number): Promise<void> {
    this.#emit("debug", { message: "removed jobs", info: { count: removed } });
    if (removed > 0) await this.#waiters.checkSettled();
  }

  /**
   * Runs a failed job again under a new id; see {@linkcode JobQueue.retryJob}.
   */
  async retryJob(id: string): Promise<Job> {
    this.#assertNotDisposed("retry a job");
    await this.#open();
    const failed = await this.#store.get(id);
    const retried = failed?.state === JobState.FAILED ? await this.#retry(failed) : undefined;
    if (retried === undefined) {
      throw new JobQueueError(
        `Cannot retry job ${id}: there is no failed job with that id; getAllJobs() lists the jobs and their states`,
      );
    }
    return retried;
  }

  /**
   * Runs the failed jobs (of one method, or all) again; see
   * {@linkcode JobQueue.retryFailedJobs}.
   */
  async retryFailedJobs(methodName?: string): Promise<number> {
    if (methodName !== undefined) assertMethodName(methodName);
    this.#assertNotDisposed("retry jobs");
    await this.#open();
    const failed = await this.#store.list({
      state: JobState.FAILED,
      ...(methodName === undefined ? {} : { methodName }),
    });
    let retried = 0;
    for (const job of failed) {
      try {
        if (await this.#retry(job) !== undefined) retried++;
      } catch (error) {
        // The others are retried all the same; each failure is reported.
        this.#emitError(error);
      }
    }
    return retried;
  }

  /**
   * Replaces a failed job by its retry; `undefined` when it is no longer
   * failed or another engine holds it.
   */
  async #retry(failed: Job): Promise<Job | undefined> {
    const result = await this.#store.replace(failed, replacementOf(failed, Date.now()));
    if (result === undefined) return undefined;
    if (result.kind === "held") {
      throw new JobQueueError(
        `Cannot retry job ${failed.key} yet: job ${result.job.key} holds its unique key ` +
          `'${failed.uniqueKey}' and waits or runs; retry it once that job has finished`,
        { info: { job: failed } },
      );
    }
    this.#emit("debug", { message: "retrying job", info: { job: result.job } });
    this.#waiters.changed();
    this.#noteScheduled([result.job]);
    return result.job;
  }

  /**
   * Stops processing and lets go of the store; see {@linkcode JobQueue.dispose}.
   */
  dispose(options: DisposeOptions = {}): Promise<void> {
    const timeout = options.timeout ?? Infinity;
    if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
      throw new RangeError(
        `Cannot dispose as 'timeout' must be a non-negative number of milliseconds: current value is ${
          String(timeout)
        }`,
      );
    }
    this.#disposed ??= (async () => {
      const deadline = performance.now() + timeout;
      this.#processing = false;
      this.#dispatcher.stop();
      this.#unwatch?.();
      clearTimeout(this.#upkeepTimer);
      await Promise.all(this.#maintenance);
      await this.#runner.stop(deadline);
      if (this.#isOpen) await this.#waiters.dispose().catch((error) => this.#emitError(error));
      // The heartbeat goes on until here: while handlers run, other engines
      // must not take this one for dead and run the same jobs.
      this.#closing = true;
      nodeTimers.clearTimeout(this.#heartbeatTimer);
      await Promise.all(this.#maintenance);
      if (this.#opened !== undefined) {
        await this.#opened.then(() => this.#store.close()).catch((error) => this.#emitError(error));
      }
    })();
    // Awaited by a handler of this engine, the whole disposal would wait for
    // that handler, which waits for it.
    const caller = currentJobContext()?.job.id;
    if (caller !== undefined && this.#runner.isRunning(caller)) return this.#runner.settled(caller);
    return this.#disposed;
  }

  /**
   * Opens the store once, then keeps this engine's heartbeat going until
   * dispose(); a failed open is retried by the next call.
   */
  #open(): Promise<void> {
    this.#opened ??= this.#store.open({
      engineId: this.#engineId,
      claimTimeout: this.#claimTimeout,
      report: (error) => this.#emit("error", error),
    }).then(
      () => {
        this.#isOpen = true;
        this.#scheduleHeartbeat();
      },
      (error) => {
        this.#opened = undefined;
        throw error;
      },
    );
    return this.#opened;
  }

  /**
   * Looks for due jobs, while processing. An engine that only schedules
   * never looks: with a file store, a look lists the directory.
   */
  #wake(): void {
    if (this.#processing && this.#disposed === undefined) void this.#dispatcher.wake();
    else this.#waiters.check();
  }

  /** Starts the jobs this engine stored when due; not processing, notes when they are. */
  #noteScheduled(jobs: readonly Job[]): void {
    if (!this.#processing) { for (const job of jobs) this.#dispatcher.noteDue(job.executionDate); }
    this.#wake();
  }

  /** How many jobs may start now. */
  #freeSlots(): number {
    if (!this.#processing || this.#pausedAll) return 0;
    return Math.min(
      this.#maxConcurrency - this.#runner.running,
      this.#maxOverdueHandlers - this.#runner.overdue,
    );
  }

  /** Whether nothing runs here and nothing due waits that this engine would start. */
  #isIdle(): boolean {
    return this.#runner.running === 0 && !this.#dispatcher.looking &&
      (this.#pausedAll || !this.#dispatcher.dueNow);
  }

  /**
   * Looks at the store every `pollInterval` while processing, or while
   * someone waits for a job to settle: claims of dead engines, jobs that
   * other engines stored or freed, jobs that settled elsewhere. This timer
   * keeps the process alive.
   */
  #scheduleUpkeep(): void {
    if (this.#upkeepTimer !== undefined || this.#disposed !== undefined) return;
    if (!this.#processing && !this.#waiters.waitingForJobs && !this.#waiters.waitingForState) {
      return;
    }
    this.#upkeepTimer = setTimeout(() => {
      void this.#inBackground(() => this.#upkeep()).then(() => {
        this.#upkeepTimer = undefined;
        this.#scheduleUpkeep();
      });
    }, this.#pollInterval);
  }

  async #upkeep(): Promise<void> {
    if (this.#processing) {
      await this.#store.recover();
      const age = typeof this.#keepCompleted === "object" ? this.#keepCompleted.age : undefined;
      if (age !== undefined) await this.#store.pruneCompleted({ finishedAfter: Date.now() - age });
    }
    await this.#waiters.checkSettled();
    this.#wake();
  }

  /**
   * Refreshes the heartbeat while the engine is open. The timer is unref'd:
   * a queue that only schedules jobs must not keep its process alive.
   */
  #scheduleHeartbeat(): void {
    if (this.#closing) return;
    // node:timers, because only its timers can be unref'd in every runtime.
    this.#heartbeatTimer = nodeTimers.setTimeout(() => {
      this.#inBackground(() => this.#store.heartbeat()).then(() => this.#scheduleHeartbeat());
    }, this.#claimTimeout / 3).unref();
  }

  /** Runs background work that dispose() waits for; reports its failure. */
  #inBackground(task: () => Promise<void>): Promise<void> {
    const run = task().catch((error) => this.#emitError(error));
    this.#maintenance.add(run);
    return run.finally(() => this.#maintenance.delete(run));
  }

  #assertNotDisposed(action: string): void {
    if (this.#disposed !== undefined) throw this.#disposedError(action);
  }

  #disposedError(action: string): JobQueueError {
    return new JobQueueError(`Cannot ${action}: this queue has been disposed; create a new one`);
  }

  #emitError(error: unknown): void {
    this.#emit("error", asJobQueueError(error));
  }

  #emit<K extends JobQueueEventName>(name: K, payload: JobQueuePayloadMap[K]): void {
    for (const listener of this.#listeners) {
      try {
        listener(name, payload);
      } catch (error) {
        // A listener's bug must not break the engine's bookkeeping; surface
        // it the way EventTarget does, as an uncaught error.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** The store that `options` name: `store`, or a file store on `directory`. */
function storeOf(options: JobQueueEngineOptions): JobStore {
  const { store, directory } = options ?? {};
  if (store !== undefined) {
    const misplaced = [
      ...(directory === undefined ? [] : ["directory"]),
      ...FILE_STORE_OPTIONS.filter((key) => options[key] !== undefined),
    ];
    if (misplaced.length > 0) {
      throw new TypeError(
        `Cannot create a job queue: ${
          misplaced.map((key) => `'${key}'`).join(", ")
        } would be ignored beside 'store'; give them to the store`,
      );
    }
    return store;
  }
  if (typeof directory !== "string" || directory === "") {
    throw new TypeError(
      "Cannot create a job queue without a directory: pass { directory: '/path/to/jobs' }, " +
        "or a store: { store }",
    );
  }
  const { fs, fsync, fileMode, lockingQueue, pollInterval } = options;
  return new FileJobStore({
    directory,
    ...(fs === undefined ? {} : { fs }),
    ...(fsync === undefined ? {} : { fsync }),
    ...(fileMode === undefined ? {} : { fileMode }),
    ...(lockingQueue === undefined ? {} : { lockingQueue }),
    ...(pollInterval === undefined ? {} : { pollInterval }),
  });
}
