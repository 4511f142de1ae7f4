import * as nodeTimers from "node:timers";
import { defaultFileSystem } from "../fs/_default_file_system.ts";
import { createEngineId, FileJobStore } from "../store/file/file_job_store.ts";
import { finishesWithin, mapLimit } from "../_async.ts";
import { MAX_EXECUTION_DATE } from "../job/_id.ts";
import { byDate, byPriority, JobIndex } from "../store/file/_job_index.ts";
import type { EngineInfo, JobRef, JobStore } from "../store/job_store.ts";
import { assertJsonFaithful, assertMethodName } from "../job/_validate.ts";
import type { JobQueueEventListener, JobQueueEventName, JobQueuePayloadMap } from "./events.ts";
import type { FileSystemAdapter } from "../fs/file_system.ts";
import { Job, type JobErrorRecord, type JobSpec, JobState, occurrenceAfter } from "../job/job.ts";
import { currentJobContext, runWithJobContext } from "./job_context.ts";
import { JobQueueError } from "../job_queue_error.ts";
import { LockingQueue } from "../store/file/locking_queue.ts";
import {
  assertRetryOptions,
  type Backoff,
  backoffDelay,
  DEFAULT_BACKOFF,
  type JobHandlerOptions,
  MAX_BACKOFF_DELAY,
} from "../job/retry.ts";

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

/**
 * Options of {@linkcode JobQueueEngine}.
 *
 * @example
 * ```ts
 * import type { JobQueueEngineOptions } from "@x/jobq";
 *
 * const options: JobQueueEngineOptions = { directory: "./jobs", maxConcurrency: 3 };
 * ```
 */
export interface JobQueueEngineOptions {
  /** The directory that holds the job files; created if missing. */
  directory: string;
  /**
   * How many handlers may run at once in this engine.
   *
   * @default {1}
   */
  maxConcurrency?: number;
  /**
   * Serialises file operations on one job within the process.
   *
   * @default {new LockingQueue()}
   */
  lockingQueue?: LockingQueue;
  /** Receives every event: `error`, `debug` and each job transition. */
  eventListener?: JobQueueEventListener;
  /**
   * The file-system adapter.
   *
   * @default {the adapter for the running runtime}
   */
  fs?: FileSystemAdapter;
  /**
   * Flush each job file and its directory to the disk (fsync) before a write
   * resolves, so that a scheduled job survives a power loss, not only a
   * crash. Turning it off makes writes faster; the README says what each
   * setting promises.
   *
   * @default {true}
   */
  fsync?: boolean;
  /**
   * How often, in ms, the engine looks in the directory for jobs written by
   * other processes and for claims left by dead ones. With a directory so
   * large that listing it takes longer than a ninth of this, polls are
   * spaced further apart, so that they take at most a tenth of the time.
   * An outcome that cannot be written (a full disk) is tried again as often,
   * under the same claim, rather than running the handler again.
   *
   * @default {1000}
   */
  pollInterval?: number;
  /**
   * What becomes of a completed job's file: `false` removes it, `true` keeps
   * it (state `COMPLETED`), `{ count }` keeps the newest `count` this engine
   * knows of, `{ age }` keeps those completed in the last `age` ms. Failed
   * jobs are always kept, until removed, retried or pruned.
   *
   * @default {false}
   */
  keepCompleted?: boolean | KeepCompleted;
  /**
   * How long, in ms, an engine may go without a heartbeat before other
   * engines take its claims back and run its jobs again. Engines on the same
   * host whose process is gone are recovered at once.
   *
   * @default {30000}
   */
  claimTimeout?: number;
  /**
   * How many handlers may still run after their attempt was decided (it timed
   * out, or `dispose()` handed its job back) before this engine stops
   * starting jobs. JavaScript cannot stop a handler that ignores its signal:
   * this bounds how many can pile up. Each that settles makes room again.
   *
   * @default {100}
   */
  maxOverdueHandlers?: number;
  /**
   * The permission bits of the files jobq creates (job files hold their
   * params); the folders it creates get the same bits plus search (`x`)
   * wherever reading is allowed: `0o600` gives folders `0o700`, `0o640`
   * gives `0o750`. The process umask applies, as to any file it creates.
   * Must allow the owner to read and write. A file jobq rewrites keeps the
   * mode it has (the umask applies there too).
   *
   * @default {0o600}
   */
  fileMode?: number;
}

/**
 * Options of {@linkcode JobQueueEngine.dispose}.
 *
 * @example
 * ```ts
 * import type { DisposeOptions } from "@x/jobq";
 *
 * const options: DisposeOptions = { timeout: 10_000 };
 * ```
 */
export interface DisposeOptions {
  /**
   * How long, in ms, to wait for running handlers before aborting their
   * signals. Their jobs are not failed: they are handed back, attempt not
   * counted, and run again at the next start or on another engine. A handler
   * that has not settled 100 ms after the abort is not waited for: its job is
   * handed back all the same (an `error` event names it) and nothing it does
   * later is recorded. So `dispose({ timeout })` resolves within `timeout`
   * plus 100 ms, plus the time to write the handed-back jobs.
   *
   * @default {Infinity}
   */
  timeout?: number;
}

/**
 * Which completed jobs to keep: the newest `count`, those younger than
 * `age` ms, or both rules at once.
 *
 * @example
 * ```ts
 * import type { KeepCompleted } from "@x/jobq";
 *
 * const lastHundred: KeepCompleted = { count: 100 };
 * const lastDay: KeepCompleted = { age: 24 * 60 * 60 * 1000 };
 * ```
 */
export interface KeepCompleted {
  /** How many of the newest completed jobs to keep. */
  count?: number;
  /** How long, in ms after completion, to keep a completed job. */
  age?: number;
}

/**
 * Options of {@linkcode JobQueueEngine.pruneFailedJobs}.
 *
 * @example
 * ```ts
 * import type { PruneOptions } from "@x/jobq";
 *
 * const weekOld: PruneOptions = { olderThan: 7 * 24 * 60 * 60 * 1000 };
 * ```
 */
export interface PruneOptions {
  /** Remove failed jobs that failed more than this many ms ago. */
  olderThan: number;
}

/** A registered handler and how its jobs are retried. */
interface Registration {
  readonly handler: JobHandler;
  readonly options: JobHandlerOptions;
}

/** A caller of onIdle() or drained(). */
interface StateWaiter {
  holds(): boolean;
  /** At dispose(): onIdle() holds (nothing runs any more), drained() does not. */
  readonly holdsOnceDisposed: boolean;
  resolve(): void;
  reject(error: unknown): void;
}

/** A caller of settled(). */
interface SettledWaiter {
  resolve(job: Job | undefined): void;
  reject(error: unknown): void;
}

/**
 * A completed job kept on disk, as pruning knows it: its file's name parts
 * and when it completed, not its params or result.
 */
interface KeptCompletion extends JobRef {
  readonly finishedAt: number;
}

/** What pruning needs to know of a completed job. */
function keptCompletion(job: Job): KeptCompletion {
  const { id, methodName, key, executionDate, finishedAt = 0 } = job;
  return { id, methodName, key, executionDate, finishedAt };
}

/** A run of a job's handler: the job as last stored (progress replaces it), and whether it ended. */
interface Run {
  job: Job;
  done: boolean;
}

/** How a handler's run ended. */
type Outcome =
  | { readonly kind: "completed"; readonly result: unknown }
  | { readonly kind: "failed"; readonly error: unknown }
  | { readonly kind: "interrupted" };

/** A retry kept claimed while its timed-out predecessor's handler runs. */
interface HeldRetry {
  /** Lets go of the claim now (once), so that the retry can run. */
  release(): void;
  /** Resolves once the claim is let go of and the retry waits in the index. */
  readonly ended: Promise<void>;
}

/** How an attempt was decided, and the handler when it runs on regardless (overdue). */
interface Invocation {
  readonly outcome: Outcome;
  readonly overdue?: Promise<unknown>;
}

/** How long dispose() waits for handlers to stop once it has aborted their signals. */
const ABORT_GRACE_MS = 100;

/** `setTimeout` fires at once for delays beyond 2^31−1 ms: longer waits are split. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * The core of jobq: stores jobs as files, keeps the pending ones in an
 * in-memory index ordered by execution date, starts them when due with one
 * timer for the next one, and never runs more than `maxConcurrency` at once.
 * Engines in one process or in several may share a directory: every run is
 * claimed atomically, and a dead engine's claims are recovered.
 *
 * Most programs use {@linkcode JobQueue}, which wraps an engine with events.
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
  readonly #directory: string;
  readonly #store: JobStore;
  readonly #lockingQueue: LockingQueue;
  readonly #pollInterval: number;
  readonly #heartbeatInterval: number;
  readonly #listeners = new Set<JobQueueEventListener>();
  readonly #handlers = new Map<string, Registration>();
  readonly #keepCompleted: boolean | KeepCompleted;
  /**
   * Completed jobs kept on disk that this engine knows of, oldest first, for
   * pruning by `{ count }` or `{ age }`: only what pruning needs of each.
   */
  #completedKept: KeptCompletion[] = [];
  /** The reason handlers are aborted with when dispose() times out. */
  #shutdownReason: JobQueueError | undefined;
  /** Jobs waiting for their date; those found in the directory not due yet are known by name. */
  readonly #pending = new JobIndex<JobRef>(byDate);
  /** Due jobs waiting for a free slot, highest priority first. */
  readonly #ready = new JobIndex<Job>(byPriority);
  /** Jobs known by name whose file is being read, now that they are due. */
  readonly #reading = new Set<string>();
  /** Whether processing is paused for every method. */
  #pausedAll = false;
  /** Methods whose processing is paused. */
  readonly #pausedMethods = new Set<string>();
  /** Due jobs of paused methods, set aside until their method resumes. */
  readonly #pausedJobs = new Map<string, Job>();
  /** Jobs another engine holds, retried when their claim disappears. */
  readonly #heldElsewhere = new Map<string, JobRef>();
  /** Callers of onIdle() and drained(), with what they wait for. */
  readonly #stateWaiters = new Set<StateWaiter>();
  /** Callers of settled(), by job id. */
  readonly #settledWaiters = new Map<string, Set<SettledWaiter>>();
  /** Timers of settled() calls that watch a job's file while this engine does not process. */
  readonly #watchTimers = new Set<ReturnType<typeof setTimeout>>();
  /** Jobs being claimed or run here, by id. */
  readonly #running = new Map<string, Promise<void>>();
  /** Abort controllers of the running handlers. */
  readonly #controllers = new Set<AbortController>();
  /** Handlers still running after their attempt was decided; they hold no slot. */
  readonly #overdue = new Set<Promise<unknown>>();
  readonly #maxOverdueHandlers: number;
  /** Retries kept claimed while their timed-out predecessor's handler runs, by job id. */
  readonly #heldRetries = new Map<string, HeldRetry>();
  /** Ends the attempts of the running handlers at once, when dispose() stops waiting for them. */
  readonly #handBacks = new Set<() => void>();
  #maxConcurrency: number;
  #opened: Promise<void> | undefined;
  #loaded: Promise<void> | undefined;
  #processing = false;
  #disposed: Promise<void> | undefined;
  /** Set once running handlers have settled: the heartbeat may stop. */
  #closing = false;
  #dueTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof nodeTimers.setTimeout> | undefined;
  /** Polls and heartbeats under way, awaited by dispose(). */
  readonly #maintenance = new Set<Promise<void>>();

  /**
   * Creates an engine; nothing touches the disk until the first operation.
   *
   * @param options The directory and how to work on it.
   * @throws {TypeError} When `directory` is missing.
   * @throws {RangeError} When a number option is out of range.
   */
  constructor(options: JobQueueEngineOptions) {
    if (typeof options?.directory !== "string" || options.directory === "") {
      throw new TypeError(
        "Cannot create a job queue without a directory: pass { directory: '/path/to/jobs' }",
      );
    }
    this.#directory = options.directory;
    this.#maxConcurrency = validateCount("maxConcurrency", options.maxConcurrency ?? 1);
    this.#pollInterval = validatePositive("pollInterval", options.pollInterval ?? 1000);
    const claimTimeout = validatePositive("claimTimeout", options.claimTimeout ?? 30_000);
    this.#heartbeatInterval = claimTimeout / 3;
    this.#lockingQueue = options.lockingQueue ?? new LockingQueue();
    this.#keepCompleted = validateKeepCompleted(options.keepCompleted ?? false);
    this.#maxOverdueHandlers = validateCount(
      "maxOverdueHandlers",
      options.maxOverdueHandlers ?? 100,
    );
    if (options.eventListener !== undefined) this.#listeners.add(options.eventListener);
    this.#store = new FileJobStore({
      directory: options.directory,
      fs: options.fs ?? defaultFileSystem(),
      fsync: options.fsync ?? true,
      claimTimeout,
      fileMode: validateFileMode(options.fileMode ?? 0o600),
      engineId: createEngineId(),
      report: (error) => this.#emit("error", error),
    });
  }

  /** The directory that holds the job files. */
  get directory(): string {
    return this.#directory;
  }

  /** Whether as many handlers are running as `maxConcurrency` allows. */
  get hasReachedMaxConcurrency(): boolean {
    return this.#running.size >= this.#maxConcurrency;
  }

  /**
   * How many handlers still run after their attempt was decided: it timed
   * out, or `dispose()` handed its job back. They hold no concurrency slot;
   * past `maxOverdueHandlers` of them, no job starts until one settles.
   */
  get overdueHandlers(): number {
    return this.#overdue.size;
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
    this.#maxConcurrency = validateCount("maxConcurrency", maxConcurrency);
    this.#pump();
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
   * Registers the function that runs jobs of `methodName`, replacing any
   * earlier one.
   *
   * @param methodName The name jobs are scheduled under.
   * @param handler The function that runs them.
   * @param options How its jobs are retried and timed out; a job's spec wins.
   * @throws {TypeError} When the name is unsafe, the handler is not a
   *   function or an option has the wrong type.
   * @throws {RangeError} When an option is out of range.
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
    this.#pump();
  }

  /**
   * Reads the directory: recovers the claims of dead engines, and indexes
   * every job that is waiting or was cut short by a crash. Unreadable files
   * are set aside and reported as `error` events. Runs once; later calls
   * resolve with the first.
   */
  load(): Promise<void> {
    if (this.#disposed !== undefined) {
      return Promise.reject(this.#disposedError("load the directory"));
    }
    this.#loaded ??= (async () => {
      await this.#open();
      await this.#store.recover();
      await this.#poll();
      this.#emit("debug", { message: "loaded jobs", info: { count: this.#pending.size } });
    })().catch((error) => {
      this.#loaded = undefined;
      throw error;
    });
    return this.#loaded;
  }

  /**
   * Starts processing: loads the directory if that has not happened, then
   * starts due jobs up to the concurrency limit. From then on the engine
   * keeps going by itself: a finished job, a newly scheduled one or the due
   * timer starts the next, and the directory is polled for jobs written by
   * other processes.
   */
  async startNextJob(): Promise<void> {
    this.#assertNotDisposed("start processing");
    await this.load();
    if (this.#disposed !== undefined || this.#processing) {
      this.#pump();
      return;
    }
    this.#processing = true;
    this.#schedulePoll();
    this.#pump();
  }

  /**
   * Validates a job spec, writes the job's file and indexes the job. Once the
   * promise resolves, the job is on disk (and flushed to it, with `fsync`).
   *
   * @param spec What to run and when.
   * @returns The stored job.
   * @throws {TypeError} When the spec is malformed; nothing is written.
   * @throws {RangeError} When a date or wait time is out of range, or the job
   *   would take a file over 64 MiB.
   * @throws {JobQueueError} When the file cannot be written or the engine is disposed.
   */
  async scheduleJob(spec: JobSpec): Promise<Job> {
    this.#assertNotDisposed("schedule a job");
    const [job] = await this.#schedule([Job.fromSpec(spec)]);
    return job!;
  }

  /**
   * Schedules many jobs at once: validates every spec first, then writes the
   * files in parallel with one flush of the directory, so it is much faster
   * than awaiting `scheduleJob` for each. All or none: when one spec is
   * invalid or one file cannot be written, no job is stored.
   *
   * @param specs What to run and when, one spec per job.
   * @returns The stored jobs, in the order of `specs` (for a spec whose
   *   `uniqueKey` a waiting job holds, that job).
   * @throws {TypeError} When a spec is malformed; its index is in the message.
   * @throws {RangeError} When a date or wait time is out of range, or the job
   *   would take a file over 64 MiB.
   * @throws {JobQueueError} When a file cannot be written or the engine is disposed.
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

  /** Stores new jobs and indexes those that were not already waiting under their unique key. */
  async #schedule(jobs: Job[]): Promise<Job[]> {
    await this.#open();
    const stored = await this.#store.add(jobs);
    for (const { job, added } of stored) {
      if (!added) {
        this.#emit("debug", { message: "kept the job that holds the unique key", info: { job } });
        continue;
      }
      this.#pending.add(job);
      this.#emit("scheduled", job);
      this.#emit("debug", { message: "scheduled job", info: { job } });
    }
    this.#pump();
    return stored.map(({ job }) => job);
  }

  /**
   * Reads every job file in the directory, in id order (first due date, then
   * creation). Unreadable files are set aside and reported. Works after
   * `dispose()` too, to look at what is left.
   *
   * @returns The jobs as they are on disk.
   */
  async getAllJobs(): Promise<Job[]> {
    // After dispose() the directory can still be read, without registering
    // this engine again.
    if (this.#disposed === undefined) await this.#open();
    return await this.#store.list();
  }

  /**
   * Lists the engines registered on the directory (in this process or any
   * other), with their last heartbeat and whether they count as alive. This
   * engine is among them once it has opened the directory.
   *
   * @returns The engines, as their engine files tell.
   */
  async getEngines(): Promise<EngineInfo[]> {
    if (this.#disposed === undefined) await this.#open();
    return await this.#store.engines();
  }

  /**
   * Removes one job, whatever its state, unless it is running (in any
   * engine).
   *
   * @param id The job's id.
   * @returns `true` if the job was removed, `false` if there is no job with
   *   that id or it is running.
   */
  async removeJob(id: string): Promise<boolean> {
    if (typeof id !== "string") {
      throw new TypeError(`Cannot remove a job: its id must be a string, not ${typeof id}`);
    }
    this.#assertNotDisposed("remove a job");
    await this.#open();
    if (this.#running.has(id)) return false;
    const job = await this.#store.find(id);
    if (job === undefined || !await this.#lockingQueue.run(id, () => this.#store.remove(job))) {
      return false;
    }
    this.#forget(id);
    this.#emit("debug", { message: "removed job", info: { job } });
    return true;
  }

  /**
   * Pauses processing: of one method's jobs, or of all jobs when no method is
   * given. Running handlers finish; jobs still get scheduled and wait. Pausing
   * is this engine's own: other processes on the directory go on.
   *
   * @param methodName The method to pause; all methods when omitted.
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
   * Resumes processing: of one method's jobs, or of every paused method and
   * the whole queue when no method is given.
   *
   * @param methodName The method to resume; all when omitted.
   */
  resume(methodName?: string): void {
    if (methodName === undefined) {
      this.#pausedAll = false;
      this.#pausedMethods.clear();
    } else {
      assertMethodName(methodName);
      this.#pausedMethods.delete(methodName);
    }
    for (const [id, job] of this.#pausedJobs) {
      if (!this.#pausedMethods.has(job.methodName)) {
        this.#pausedJobs.delete(id);
        this.#ready.add(job);
      }
    }
    this.#emit("debug", { message: "resumed", info: { methodName: methodName ?? "*" } });
    this.#pump();
  }

  /**
   * Tells whether processing is paused: for all jobs, or (with a method) for
   * that method's jobs.
   *
   * @param methodName The method to ask about.
   * @returns `true` when jobs of `methodName` (or any job) would not start now.
   */
  isPaused(methodName?: string): boolean {
    return this.#pausedAll || (methodName !== undefined && this.#pausedMethods.has(methodName));
  }

  /**
   * Resolves once this engine is idle: no handler running and no due job
   * waiting that it would start (due jobs of paused methods do not count).
   * Jobs due later may still be waiting. Resolves at once if it is idle now,
   * and at `dispose()`. An engine that is not processing starts no job: one
   * due job waiting keeps it from being idle until `startNextJob()`.
   *
   * @returns A promise that resolves when the engine is idle.
   */
  onIdle(): Promise<void> {
    return this.#waitUntil(() => this.#isIdle(), true);
  }

  /**
   * Resolves once this engine has no job left at all: none running, none
   * waiting, now or later, none paused. Resolves at once if that holds now.
   * Recurring jobs never drain: each occurrence schedules the next.
   *
   * @returns A promise that resolves when the engine is drained.
   * @throws {JobQueueError} When the engine is disposed with jobs left.
   */
  drained(): Promise<void> {
    return this.#waitUntil(
      () =>
        this.#isIdle() && this.#pending.size === 0 && this.#ready.size === 0 &&
        this.#pausedJobs.size === 0 && this.#heldElsewhere.size === 0 &&
        this.#heldRetries.size === 0,
      false,
    );
  }

  /**
   * Resolves with the job once it has completed or failed for good,
   * at once if it already has. Resolves with `undefined` when the job is gone
   * without this engine seeing how it ended: it was removed, or another
   * process ran it and removed its file (completed jobs are removed unless
   * `keepCompleted`), or there never was a job with that id.
   *
   * An engine that is not processing (not started, or only scheduling)
   * looks at the job's file every `pollInterval` ms meanwhile.
   *
   * @param id The job's id.
   * @returns The job in state `COMPLETED` or `FAILED`, or `undefined`.
   * @throws {JobQueueError} When the engine is disposed before the job settles.
   */
  async settled(id: string): Promise<Job | undefined> {
    if (typeof id !== "string") {
      throw new TypeError(`Cannot wait for a job: its id must be a string, not ${typeof id}`);
    }
    this.#assertNotDisposed("wait for a job");
    let waiter!: SettledWaiter;
    const settled = new Promise<Job | undefined>((resolve, reject) => {
      waiter = { resolve, reject };
    });
    // Listening before looking: the job may settle while its file is read.
    const waiters = this.#settledWaiters.get(id) ?? new Set();
    waiters.add(waiter);
    this.#settledWaiters.set(id, waiters);
    try {
      await this.#open();
      const job = await this.#store.find(id);
      if (job === undefined || !isWaiting(job)) this.#notifySettled(id, job);
      else if (!this.#processing) this.#watchSettled(job);
    } catch (error) {
      waiters.delete(waiter);
      throw error;
    }
    return await settled;
  }

  /** Reads a job's file every poll interval until it settles or nobody waits for it. */
  #watchSettled(job: Job): void {
    if (this.#disposed !== undefined) return;
    const timer = setTimeout(() => {
      this.#watchTimers.delete(timer);
      if (!this.#settledWaiters.has(job.id) || this.#disposed !== undefined) return;
      void this.#maintain(async () => {
        const current = await this.#store.read(job);
        if (current === undefined || !isWaiting(current)) this.#notifySettled(job.id, current);
        else this.#watchSettled(job);
      });
    }, this.#pollInterval);
    this.#watchTimers.add(timer);
  }

  /**
   * Removes the jobs of a method, whatever their state, except those running
   * (in any engine): those are left to finish.
   *
   * @param methodName The method whose jobs to remove.
   * @returns How many jobs were removed.
   */
  async removeJobsByMethodName(methodName: string): Promise<number> {
    assertMethodName(methodName);
    this.#assertNotDisposed("remove jobs");
    return await this.#removeWhere((job) => job.methodName === methodName);
  }

  /**
   * Removes the failed jobs that failed more than `olderThan` ms ago.
   *
   * @param options How old a failed job must be to go.
   * @returns How many jobs were removed.
   * @throws {RangeError} When `olderThan` is not a non-negative number.
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
    const cutoff = Date.now() - olderThan;
    return await this.#removeWhere((job) =>
      job.state === JobState.FAILED && (job.finishedAt ?? 0) <= cutoff
    );
  }

  /**
   * Runs a failed job again, with a new set of attempts, as soon as possible:
   * its file is replaced by a new job with a new id (which sorts by the new
   * date, and which every engine on the directory finds).
   *
   * @param id The failed job's id.
   * @returns The new job, `NOT_STARTED`.
   * @throws {JobQueueError} When there is no failed job with that id, or a
   *   waiting or running job holds its unique key.
   */
  async retryJob(id: string): Promise<Job> {
    this.#assertNotDisposed("retry a job");
    const { revived: [job], errors: [error] } = await this.#reviveWhere((job) => job.id === id);
    if (error !== undefined) throw error;
    if (job === undefined) {
      throw new JobQueueError(
        `Cannot retry job ${id}: there is no failed job with that id; getAllJobs() lists the jobs and their states`,
      );
    }
    return job;
  }

  /**
   * Runs the failed jobs (of one method, or all) again, with a new set of
   * attempts, as soon as possible.
   *
   * @param methodName Retry only this method's failed jobs.
   * @returns How many jobs will run again.
   */
  async retryFailedJobs(methodName?: string): Promise<number> {
    if (methodName !== undefined) assertMethodName(methodName);
    this.#assertNotDisposed("retry jobs");
    const { revived, errors } = await this.#reviveWhere((job) =>
      methodName === undefined || job.methodName === methodName
    );
    // The others are retried all the same; each failure is reported.
    for (const error of errors) this.#emitError(error);
    return revived.length;
  }

  /** Removes the stored jobs that `matches` and no engine holds. */
  async #removeWhere(matches: (job: Job) => boolean): Promise<number> {
    await this.#open();
    let removed = 0;
    for (const job of await this.#store.list()) {
      if (!matches(job) || this.#running.has(job.id)) continue;
      if (await this.#lockingQueue.run(job.id, () => this.#store.remove(job))) {
        this.#forget(job.id);
        removed++;
      }
    }
    this.#emit("debug", { message: "removed jobs", info: { count: removed } });
    return removed;
  }

  /** Forgets a job that is gone from the directory; whoever waits for it learns so. */
  #forget(id: string): void {
    this.#pending.delete(id);
    this.#ready.delete(id);
    this.#reading.delete(id);
    this.#pausedJobs.delete(id);
    this.#heldElsewhere.delete(id);
    this.#notifySettled(id, undefined);
    this.#checkStateWaiters();
  }

  /** Replaces the failed jobs that `matches` by new ones, due now. */
  async #reviveWhere(
    matches: (job: Job) => boolean,
  ): Promise<{ revived: Job[]; errors: unknown[] }> {
    await this.#open();
    const revived: Job[] = [];
    const errors: unknown[] = [];
    for (const job of await this.#store.list()) {
      if (job.state !== JobState.FAILED || !matches(job)) continue;
      let waiting: Job | undefined;
      try {
        waiting = await this.#lockingQueue.run(job.id, () => this.#store.revive(job));
      } catch (error) {
        errors.push(error);
        continue;
      }
      if (waiting === undefined) continue;
      if (!this.#running.has(waiting.id)) this.#pending.add(waiting);
      this.#emit("debug", { message: "retrying job", info: { job: waiting } });
      revived.push(waiting);
    }
    this.#pump();
    return { revived, errors };
  }

  /**
   * Stops starting jobs at once, waits for running handlers to settle and
   * their outcome to be written, then lets go of the directory. Afterwards no
   * timer is left and `scheduleJob` rejects. Later calls return the same
   * promise, except in a handler of this engine: there it resolves once the
   * other handlers have settled, and the engine finishes disposing when the
   * calling handler has.
   *
   * With a `timeout`, it resolves within about that long whatever the
   * handlers do: see {@linkcode DisposeOptions}. Handlers whose attempt timed
   * out are not waited for beyond their retry's hold (see the README).
   *
   * @param options How long to wait for running handlers.
   * @throws {RangeError} When `timeout` is negative or not a number.
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
      clearTimeout(this.#dueTimer);
      clearTimeout(this.#pollTimer);
      for (const timer of this.#watchTimers) clearTimeout(timer);
      await Promise.all(this.#maintenance);
      await this.#settleRunning(deadline);
      // Jobs still running settled above; the others will not here.
      for (const [id, waiters] of this.#settledWaiters) {
        const error = new JobQueueError(
          `Job ${id} did not settle before the queue was disposed; it runs at a later start`,
        );
        for (const { reject } of waiters) reject(error);
      }
      this.#settledWaiters.clear();
      for (const { holds, holdsOnceDisposed, resolve, reject } of this.#stateWaiters) {
        if (holds() || holdsOnceDisposed) resolve();
        else reject(new JobQueueError("The queue was disposed before it drained: jobs are left"));
      }
      this.#stateWaiters.clear();
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
    if (caller !== undefined && this.#running.has(caller)) return this.#runsSettled(caller);
    return this.#disposed;
  }

  /**
   * Waits for running jobs and held retries until `deadline` (a
   * `performance.now()` time); then aborts the handlers' signals, waits a
   * moment for them to stop, and hands back the jobs of those that do not.
   */
  async #settleRunning(deadline: number): Promise<void> {
    const settled = this.#runsSettled();
    // Timers may fire a millisecond early: the clock says when the deadline has come.
    for (let left = deadline - performance.now(); left > 0; left = deadline - performance.now()) {
      if (await finishesWithin(settled, left)) return;
    }
    this.#shutdownReason = new JobQueueError(
      "The job queue is shutting down: the job will run again",
    );
    for (const controller of this.#controllers) controller.abort(this.#shutdownReason);
    for (const hold of this.#heldRetries.values()) hold.release();
    if (!await finishesWithin(settled, ABORT_GRACE_MS)) {
      for (const handBack of this.#handBacks) handBack();
    }
    await settled;
  }

  /** Resolves once no job runs here (but `except`'s) and no retry is held. */
  async #runsSettled(except?: string): Promise<void> {
    for (;;) {
      const runs = [...this.#running].filter(([id]) => id !== except).map(([, run]) => run);
      const holds = [...this.#heldRetries.values()].map((hold) => hold.ended);
      if (runs.length === 0 && holds.length === 0) return;
      await Promise.all([...runs, ...holds]);
    }
  }

  /**
   * Opens the store once, then keeps this engine's heartbeat going until
   * dispose(); a failed open is retried by the next call.
   */
  #open(): Promise<void> {
    this.#opened ??= this.#store.open().then(
      () => this.#scheduleHeartbeat(),
      (error) => {
        this.#opened = undefined;
        throw error;
      },
    );
    return this.#opened;
  }

  /**
   * Moves due jobs to the ready queue, starts ready jobs in priority order
   * while there is room, then sets the timer for the next due date.
   */
  #pump(): void {
    if (this.#processing) {
      const now = Date.now();
      this.#promoteDue(now);
      while (
        this.#running.size < this.#maxConcurrency &&
        this.#overdue.size < this.#maxOverdueHandlers && !this.#pausedAll
      ) {
        const next = this.#ready.pop();
        if (next === undefined) break;
        if (this.#pausedMethods.has(next.methodName)) this.#pausedJobs.set(next.id, next);
        // Indexed twice while it runs (found by a poll as it was being
        // stored): one run is enough.
        else if (!this.#running.has(next.id)) this.#start(next);
      }
      this.#armDueTimer(now);
    }
    this.#checkStateWaiters();
  }

  /** Moves the jobs due by `now` from the date order to the priority order. */
  #promoteDue(now: number): void {
    const unread: JobRef[] = [];
    for (let next = this.#pending.peek(); next !== undefined && next.executionDate <= now;) {
      this.#pending.pop();
      if (next instanceof Job) this.#ready.add(next);
      else unread.push(next);
      next = this.#pending.peek();
    }
    if (unread.length > 0) this.#readDue(unread);
  }

  /**
   * Reads the files of due jobs known only by name: their priority, their
   * params, whether they still wait (a retry may have made one due later).
   */
  #readDue(refs: JobRef[]): void {
    for (const ref of refs) this.#reading.add(ref.id);
    void this.#maintain(async () => {
      const jobs = await mapLimit(refs, 32, (ref) => this.#store.read(ref));
      refs.forEach((ref, index) => {
        // Removed while it was read: forget it.
        if (!this.#reading.delete(ref.id)) return;
        const job = jobs[index];
        if (job !== undefined && !isWaiting(job)) this.#notifySettled(job.id, job);
        else if (job !== undefined && !this.#running.has(job.id)) this.#pending.add(job);
      });
      this.#pump();
    });
  }

  #armDueTimer(now: number): void {
    clearTimeout(this.#dueTimer);
    this.#dueTimer = undefined;
    const next = this.#pending.peek();
    // Armed even when every slot is taken: a due job must join the priority
    // order in time to compete for the next free slot.
    if (next === undefined) return;
    // A timer may fire a little early; #pump() checks the clock and re-arms.
    const delay = Math.min(Math.max(next.executionDate - now, 0), MAX_TIMER_DELAY);
    this.#dueTimer = setTimeout(() => this.#pump(), delay);
  }

  /** Whether nothing runs here and nothing due waits that this engine would start. */
  #isIdle(): boolean {
    const next = this.#pending.peek();
    return this.#running.size === 0 && this.#reading.size === 0 &&
      (this.#ready.size === 0 || this.#pausedAll) &&
      (next === undefined || next.executionDate > Date.now());
  }

  #waitUntil(holds: () => boolean, holdsOnceDisposed: boolean): Promise<void> {
    if (holds() || (this.#disposed !== undefined && holdsOnceDisposed)) return Promise.resolve();
    if (this.#disposed !== undefined) {
      return Promise.reject(this.#disposedError("wait for the queue to drain"));
    }
    return new Promise((resolve, reject) =>
      this.#stateWaiters.add({ holds, holdsOnceDisposed, resolve, reject })
    );
  }

  #checkStateWaiters(): void {
    for (const waiter of this.#stateWaiters) {
      if (waiter.holds()) {
        this.#stateWaiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /** Hands a job's end (or `undefined`: it is gone) to whoever waits for it. */
  #notifySettled(id: string, job: Job | undefined): void {
    const waiters = this.#settledWaiters.get(id);
    if (waiters === undefined) return;
    this.#settledWaiters.delete(id);
    for (const { resolve } of waiters) resolve(job);
  }

  #start(job: Job): void {
    // #run reports its own failures; the catch is for bugs, so that no
    // rejection goes unhandled. What it hands back waits in the index again,
    // but only once this run is over: a job never runs twice at once here.
    const run: Promise<void> = this.#run(job)
      .catch((error) => void this.#emitError(error))
      .then((next) => {
        if (this.#running.get(job.id) === run) this.#running.delete(job.id);
        if (next !== undefined && this.#disposed === undefined) this.#pending.add(next);
        this.#pump();
      });
    this.#running.set(job.id, run);
  }

  /**
   * Claims, runs and records one job; reports instead of rejecting. Resolves
   * to the job when it must wait in the index again (a retry, a job not due
   * yet, a transient fault).
   */
  async #run(job: JobRef): Promise<JobRef | undefined> {
    let claimed: Job;
    try {
      const claim = await this.#lockingQueue.run(job.id, () => this.#store.claim(job));
      if (claim.kind === "busy") this.#heldElsewhere.set(job.id, job);
      if (claim.kind === "notDue") return claim.job;
      if (claim.kind === "gone") {
        this.#notifySettled(job.id, claim.job && !isWaiting(claim.job) ? claim.job : undefined);
      }
      if (claim.kind !== "claimed") return undefined;
      claimed = claim.job;
    } catch (error) {
      this.#emitError(error);
      return this.#later(job);
    }
    if (!this.#processing) return await this.#giveBack(claimed);
    // Not run before the next occurrence is stored: a schedule must not end
    // because one write failed. Given back, it runs (and tries) again later.
    if (claimed.repeat !== undefined && !await this.#scheduleNextOccurrence(claimed)) {
      return await this.#giveBack(claimed);
    }
    const limit = this.#attemptLimit(claimed);
    if (claimed.interruptions > limit) {
      // Its process died each time it ran this job, more often than the job
      // has attempts: running it again would crash-loop.
      return await this.#recordOutcome(claimed, {
        kind: "failed",
        error: new JobQueueError(
          `Job ${claimed.key} is not run again: its process died during ${claimed.interruptions} ` +
            `of its runs, more than its ${limit} attempt(s); find out why it kills its ` +
            "process, then retry it",
          { info: { job: claimed } },
        ),
      });
    }
    this.#emit("debug", { message: "starting job", info: { job: claimed } });
    this.#emit("started", claimed);
    // Progress reports replace the job with its newer form.
    const run: Run = { job: claimed, done: false };
    const { outcome, overdue } = await this.#invoke(run);
    run.done = true;
    if (overdue !== undefined) this.#countOverdue(overdue);
    if (outcome.kind === "interrupted") {
      if (overdue !== undefined) this.#emit("error", handedBackError(run.job));
      return await this.#giveBack(run.job);
    }
    return await this.#recordOutcome(run.job, outcome, overdue);
  }

  /**
   * Records how a run ended. While that cannot be written (a full disk), the
   * claim is kept and the write tried again every poll interval, reporting
   * each failure: giving the job back would run its handler again. Stops
   * when the write succeeds or the claim turns out lost; at dispose(), the
   * job is given back, to run again at a later start. `overdue` is the
   * handler of an attempt that timed out, if it still runs.
   */
  async #recordOutcome(
    job: Job,
    outcome: Exclude<Outcome, { kind: "interrupted" }>,
    overdue?: Promise<unknown>,
  ): Promise<JobRef | undefined> {
    for (;;) {
      try {
        return outcome.kind === "completed"
          ? await this.#recordCompletion(job, outcome.result)
          : await this.#recordFailure(job, outcome.error, overdue);
      } catch (error) {
        this.#emitError(error);
      }
      if (this.#disposed !== undefined) return await this.#giveBack(job);
      await new Promise((resolve) => setTimeout(resolve, this.#pollInterval));
      if (this.#disposed !== undefined) return await this.#giveBack(job);
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
      const next = occurrenceAfter(job, Date.now());
      await this.#schedule([next]);
      return true;
    } catch (cause) {
      this.#emitError(
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

  async #recordCompletion(job: Job, value: unknown): Promise<undefined> {
    const keep = this.#keepCompleted !== false;
    const result = this.#storableResult(job, value);
    const completed = await this.#lockingQueue.run(
      job.id,
      () => this.#store.complete(job, keep, result),
    );
    if (completed === undefined) return this.#reportLostClaim(job);
    this.#emit("debug", { message: "completed job", info: { job: completed } });
    this.#emit("completed", completed);
    this.#notifySettled(job.id, completed);
    // keepCompleted: true keeps every file, so there is nothing to remember.
    if (typeof this.#keepCompleted === "object") {
      this.#completedKept.push(keptCompletion(completed));
      // Reported, not thrown: the outcome is written, and must not be again.
      await this.#pruneCompleted().catch((error) => this.#emitError(error));
    }
  }

  /**
   * Reschedules a failed attempt when attempts are left, and resolves to the
   * job waiting for its retry; fails the job otherwise. With the handler of a
   * timed-out attempt still running (`overdue`), the retry stays claimed
   * until that handler settles or has had the attempt's timeout once more.
   */
  async #recordFailure(
    job: Job,
    error: unknown,
    overdue?: Promise<unknown>,
  ): Promise<Job | undefined> {
    const registration = this.#handlers.get(job.methodName);
    // A job without a handler fails at once: waiting would not bring one.
    if (registration !== undefined && job.attempts < this.#attemptLimit(job)) {
      const backoff = job.backoff ?? registration.options.backoff ?? DEFAULT_BACKOFF;
      // No later than a job file can hold, whatever the clock says.
      const due = Math.min(
        Math.ceil(Date.now() + this.#retryDelay(backoff, job, error)),
        MAX_EXECUTION_DATE,
      );
      const retrying = await this.#lockingQueue.run(
        job.id,
        () => this.#store.reschedule(job, toErrorRecord(error), due, overdue !== undefined),
      );
      if (retrying === undefined) return this.#reportLostClaim(job);
      this.#emit("debug", { message: "retrying job", info: { job: retrying } });
      this.#emit("retrying", retrying);
      if (overdue === undefined) return retrying;
      this.#holdRetry(retrying, overdue, this.#timeoutOf(job));
      return undefined;
    }
    const failed = await this.#lockingQueue.run(
      job.id,
      () => this.#store.fail(job, toErrorRecord(error)),
    );
    if (failed === undefined) return this.#reportLostClaim(job);
    this.#emit("debug", { message: "failed job", info: { job: failed } });
    this.#emit("failed", failed);
    this.#emit("error", this.#failureError(failed, error));
    this.#notifySettled(job.id, failed);
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
      this.#emitError(
        new JobQueueError(
          `The result of job ${job.key} is not stored: ${toErrorRecord(cause).message}`,
          { cause, info: { job } },
        ),
      );
      return undefined;
    }
  }

  /** Stores a running job's progress and tells listeners; reports a failure to store it. */
  async #reportProgress(run: Run, progress: unknown): Promise<void> {
    assertJsonFaithful(progress, "progress");
    const copy = JSON.parse(JSON.stringify(progress));
    try {
      // A report that comes after its run ended (from work the handler left
      // behind) is dropped: a later run may own the file by then.
      const updated = await this.#lockingQueue.run(
        run.job.id,
        () => run.done ? Promise.resolve(undefined) : this.#store.progress(run.job, copy),
      );
      if (updated === undefined) return;
      run.job = updated;
      this.#emit("progress", updated);
    } catch (error) {
      // Progress is advice: failing to store it does not fail the job.
      this.#emitError(error);
    }
  }

  /** How long an attempt of a job may run: its own `timeout`, its handler's, or no limit. */
  #timeoutOf(job: Job): number {
    return job.timeout ?? this.#handlers.get(job.methodName)?.options.timeout ?? Infinity;
  }

  /**
   * Counts a handler that runs on after its attempt was decided, until it
   * settles; reports reaching `maxOverdueHandlers`, where starts stop.
   */
  #countOverdue(handler: Promise<unknown>): void {
    this.#overdue.add(handler);
    if (this.#overdue.size === this.#maxOverdueHandlers) {
      this.#emit(
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
      this.#pump();
    });
  }

  /**
   * Keeps a retry claimed while its timed-out predecessor's handler still
   * runs, so that no engine starts it beside that handler: until the handler
   * settles, or for `grace` ms, after which the handler is abandoned (an
   * `error` event says so) and the retry may run.
   */
  #holdRetry(job: Job, handler: Promise<unknown>, grace: number): void {
    let release!: () => void;
    const ended = new Promise<void>((resolve) => {
      release = () => {
        if (this.#heldRetries.get(job.id) !== hold) return;
        this.#heldRetries.delete(job.id);
        clearTimeout(timer);
        void this.#maintain(async () => {
          const unclaimed = await this.#lockingQueue.run(job.id, () => this.#store.unclaim(job));
          if (unclaimed && this.#disposed === undefined) this.#pending.add(job);
          this.#pump();
        }).then(resolve);
      };
    });
    const hold: HeldRetry = { release, ended };
    this.#heldRetries.set(job.id, hold);
    const timer = setTimeout(() => {
      this.#emit(
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

  /** How many attempts a job gets: its own `maxAttempts`, its handler's, or 1. */
  #attemptLimit(job: Job): number {
    return job.maxAttempts ?? this.#handlers.get(job.methodName)?.options.maxAttempts ?? 1;
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
        this.#emitError(
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
      this.#emitError(
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
   * Runs the job's handler and tells how the attempt ended: when the handler
   * settled, or at its timeout, or when dispose() hands the job back,
   * whichever comes first. Never rejects.
   */
  async #invoke(run: Run): Promise<Invocation> {
    const job = run.job;
    const registration = this.#handlers.get(job.methodName);
    if (registration === undefined) {
      const error = new JobQueueError(
        `No handler is registered for method '${job.methodName}': register one with ` +
          `registerJobHandler('${job.methodName}', handler) before start(); job ${job.id} ` +
          "is kept in the directory as FAILED",
        { info: { job } },
      );
      return { outcome: { kind: "failed", error } };
    }
    const controller = new AbortController();
    this.#controllers.add(controller);
    const args = Array.isArray(job.params)
      ? job.params
      : job.params === undefined
      ? []
      : [job.params];
    let settled = false;
    const ran = (async (): Promise<Outcome> => {
      try {
        const result = await runWithJobContext(
          {
            job,
            attempt: job.attempts,
            signal: controller.signal,
            progress: (progress) => this.#reportProgress(run, progress),
          },
          () => registration.handler(...args),
        );
        return { kind: "completed", result };
      } catch (error) {
        // Aborted by dispose(): the job did not fail, it was cut short.
        const shutdown = this.#shutdownReason;
        if (shutdown !== undefined && controller.signal.reason === shutdown) {
          return { kind: "interrupted" };
        }
        return { kind: "failed", error };
      } finally {
        settled = true;
      }
    })();
    const timeout = this.#timeoutOf(job);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<Outcome>((resolve) => {
      if (timeout === Infinity) return;
      timer = setTimeout(() => {
        // Before the abort: nothing the handler does once it is told to stop counts.
        run.done = true;
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
        run.done = true;
        resolve({ kind: "interrupted" });
      };
    });
    this.#handBacks.add(handBack);
    try {
      const outcome = await Promise.race([ran, timedOut, handedBack]);
      // Decided before the handler settled: it runs on, holding no slot, and
      // nothing it does from now on is recorded.
      return settled ? { outcome } : { outcome, overdue: ran };
    } finally {
      clearTimeout(timer);
      this.#controllers.delete(controller);
      this.#handBacks.delete(handBack);
    }
  }

  #failureError(job: Job, failure: unknown): JobQueueError {
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

  /**
   * Removes the kept completed jobs that `keepCompleted`'s count or age no
   * longer covers, oldest first.
   */
  async #pruneCompleted(): Promise<void> {
    if (typeof this.#keepCompleted !== "object") return;
    const { count = Infinity, age = Infinity } = this.#keepCompleted;
    const oldestKept = Date.now() - age;
    const excess = this.#completedKept.length - count;
    // Decided before the first await: prunes run concurrently (completions,
    // polls), and each must work on the list as it is, not a stale copy.
    const expired = new Set(
      this.#completedKept.filter((job, index) => index < excess || job.finishedAt < oldestKept),
    );
    this.#completedKept = this.#completedKept.filter((job) => !expired.has(job));
    for (const job of expired) {
      await this.#lockingQueue.run(job.id, () => this.#store.remove(job));
    }
  }

  #reportLostClaim(job: Job): undefined {
    // The engine that took the job over may die or stall in turn: watched as
    // any job held elsewhere, it runs here again once that claim is recovered.
    this.#heldElsewhere.set(job.id, job);
    this.#emit("error", lostClaimError(job));
    return undefined;
  }

  /**
   * Releases a claimed job unrun so that it runs again; reports failures.
   * Resolves to the job to wait in the index again.
   */
  async #giveBack(job: Job): Promise<JobRef> {
    try {
      await this.#lockingQueue.run(job.id, () => this.#store.release(job));
    } catch (error) {
      this.#emitError(error);
    }
    return this.#later(job);
  }

  /** The job, waiting again and due after one poll interval, after a transient fault. */
  #later(job: JobRef): JobRef {
    const executionDate = Math.max(job.executionDate, Math.ceil(Date.now() + this.#pollInterval));
    if (!(job instanceof Job)) {
      return { id: job.id, methodName: job.methodName, key: job.key, executionDate };
    }
    return Job.fromJSON({ ...job.toJSON(), state: JobState.NOT_STARTED, executionDate });
  }

  /**
   * Polls the directory while processing; this timer keeps the process
   * alive. A poll lists the whole directory, which takes a while with
   * hundreds of thousands of files: polls are spaced so that they take at
   * most a tenth of the time, whatever `pollInterval` says.
   */
  #schedulePoll(delay = this.#pollInterval): void {
    this.#pollTimer = setTimeout(() => {
      const started = performance.now();
      this.#maintain(async () => {
        await this.#store.recover();
        await this.#poll();
      }).then(() => {
        const took = performance.now() - started;
        if (this.#processing) this.#schedulePoll(Math.max(this.#pollInterval, 9 * took));
      });
    }, delay);
  }

  /**
   * Refreshes the heartbeat while the engine is open. The timer is unref'd:
   * a queue that only schedules jobs must not keep its process alive.
   */
  #scheduleHeartbeat(): void {
    if (this.#closing) return;
    // node:timers, because only its timers can be unref'd in every runtime.
    this.#heartbeatTimer = nodeTimers.setTimeout(() => {
      this.#maintain(() => this.#store.heartbeat()).then(() => this.#scheduleHeartbeat());
    }, this.#heartbeatInterval).unref();
  }

  /** Runs background work that dispose() waits for; reports its failure. */
  #maintain(task: () => Promise<void>): Promise<void> {
    const run = task().catch((error) => this.#emitError(error));
    this.#maintenance.add(run);
    return run.finally(() => this.#maintenance.delete(run));
  }

  /** Brings the index up to date with the directory. */
  async #poll(): Promise<void> {
    const { added, removed, claimed } = await this.#store.poll();
    if (typeof this.#keepCompleted === "object") {
      // Completed jobs found in the directory count towards the rule too.
      const completed = added.filter((job): job is Job =>
        job instanceof Job && job.state === JobState.COMPLETED
      ).map(keptCompletion);
      this.#completedKept = [...this.#completedKept, ...completed]
        .sort((a, b) => a.finishedAt - b.finishedAt);
    }
    for (const job of added) {
      if (job instanceof Job && !isWaiting(job)) {
        this.#notifySettled(job.id, job);
        continue;
      }
      if (this.#running.has(job.id) || this.#heldRetries.has(job.id)) continue;
      if (claimed.has(job.id)) this.#heldElsewhere.set(job.id, job);
      else this.#pending.add(job);
    }
    for (const id of removed) this.#forget(id);
    await this.#pruneCompleted();
    for (const [id, job] of this.#heldElsewhere) {
      if (!claimed.has(id)) {
        this.#heldElsewhere.delete(id);
        this.#pending.add(job);
      }
    }
    this.#pump();
  }

  #assertNotDisposed(action: string): void {
    if (this.#disposed !== undefined) throw this.#disposedError(action);
  }

  #disposedError(action: string): JobQueueError {
    return new JobQueueError(`Cannot ${action}: this queue has been disposed; create a new one`);
  }

  #emitError(error: unknown): void {
    this.#emit(
      "error",
      isJobQueueError(error)
        ? error
        : new JobQueueError(`Unexpected error: ${toErrorRecord(error).message}`, {
          cause: error,
        }),
    );
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

function handedBackError(job: Job): JobQueueError {
  return new JobQueueError(
    `Job ${job.key} was handed back unfinished: its handler did not stop when the queue shut ` +
      "down, so it runs again at the next start or on another engine, and nothing this run " +
      "does from now on is recorded; make the handler stop when jobContext().signal aborts",
    { info: { job } },
  );
}

function lostClaimError(job: Job): JobQueueError {
  return new JobQueueError(
    `Job ${job.key} was taken over by another engine while this one ran it, so this run's ` +
      "outcome is not recorded: the other engine took this one for dead, because its " +
      "heartbeat was older than claimTimeout (a blocked event loop, a suspended process, " +
      "a slow disk) or its engine file was gone; raise claimTimeout if handlers block",
    { info: { job } },
  );
}

function validateKeepCompleted(value: boolean | KeepCompleted): boolean | KeepCompleted {
  if (typeof value === "boolean") return value;
  if (typeof value !== "object" || value === null) {
    throw new TypeError(
      "Cannot set 'keepCompleted': use true, false, { count } or { age }",
    );
  }
  for (const [key, number] of Object.entries(value)) {
    if (key !== "count" && key !== "age") {
      throw new TypeError(`Cannot set 'keepCompleted': unknown option '${key}'; use count or age`);
    }
    if (
      typeof number !== "number" || !(number >= 0) || (key === "count" && !Number.isInteger(number))
    ) {
      throw new RangeError(
        `Cannot set 'keepCompleted' as '${key}' must be a non-negative ${
          key === "count" ? "integer" : "number"
        }: current value is ${String(number)}`,
      );
    }
  }
  return { ...value };
}

function isWaiting(job: Job): boolean {
  return job.state === JobState.NOT_STARTED || job.state === JobState.IN_PROGRESS;
}

/**
 * What a thrown value records: always strings, and never throws, whatever
 * was thrown (an object without `toString`, a proxy, an Error whose stack is
 * `null`), so that every failed attempt can be written and counted.
 */
function toErrorRecord(error: unknown): JobErrorRecord {
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
function isJobQueueError(value: unknown): value is JobQueueError {
  try {
    return value instanceof JobQueueError;
  } catch {
    return false;
  }
}

function validateCount(name: string, value: number): number {
  if (!(value === Infinity || (Number.isSafeInteger(value) && value >= 1))) {
    throw new RangeError(
      `Cannot set '${name}' as it must be a positive integer or Infinity: current value is ${
        String(value)
      }`,
    );
  }
  return value;
}

function validateFileMode(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0o777 || (value & 0o600) !== 0o600) {
    throw new RangeError(
      "Cannot set 'fileMode' as it must be permission bits from 0o600 to 0o777 that let the " +
        `owner read and write: current value is ${
          typeof value === "number" && Number.isInteger(value) && value >= 0
            ? `0o${value.toString(8)}`
            : String(value)
        }`,
    );
  }
  return value;
}

function validatePositive(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(
      `Cannot set '${name}' as it must be a positive number of milliseconds: current value is ${
        String(value)
      }`,
    );
  }
  return value;
}
