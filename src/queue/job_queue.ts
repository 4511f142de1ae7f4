import {
  type JobQueueEventMap,
  type JobQueueEventName,
  type JobQueuePayloadMap,
  toEvent,
} from "../engine/events.ts";
import type { Job, JobSpec } from "../job/job.ts";
import { JobQueueEngine } from "../engine/job_queue_engine.ts";
import type { JobHandler } from "../engine/job_handler.ts";
import type { DisposeOptions, JobQueueEngineOptions, PruneOptions } from "../engine/options.ts";
import type { JobHandlerOptions } from "../job/retry.ts";

/**
 * The handler of jobs whose params are `Params`: spread when `Params` is an
 * array, one argument otherwise (none when it is `undefined`).
 *
 * @example
 * ```ts
 * import type { TypedJobHandler } from "@x/jobq";
 *
 * const send: TypedJobHandler<{ to: string }> = async ({ to }) => console.log(to);
 * const resize: TypedJobHandler<string[]> = async (...paths) => console.log(paths);
 * ```
 */
export type TypedJobHandler<Params> = [Params] extends [readonly unknown[]]
  ? (...params: Params) => unknown
  : [Params] extends [undefined] ? () => unknown
  : (params: Params) => unknown;

/**
 * A spec for method `K` of a queue typed by `Jobs` (an interface or type
 * mapping each method name to its params): `params` has the
 * method's type, and may be left out only when it accepts `undefined`.
 *
 * @example
 * ```ts
 * import type { TypedJobSpec } from "@x/jobq";
 *
 * type Jobs = { sendEmail: { to: string } };
 * const spec: TypedJobSpec<Jobs, "sendEmail"> = {
 *   methodName: "sendEmail",
 *   params: { to: "user@example.com" },
 * };
 * ```
 */
export type TypedJobSpec<Jobs extends object, K extends keyof Jobs & string> =
  & Omit<JobSpec, "methodName" | "params">
  & { methodName: K }
  & (undefined extends Jobs[K] ? { params?: Jobs[K] } : { params: Jobs[K] });

/**
 * A spec for any method of a queue typed by `Jobs`; for an untyped queue,
 * any {@linkcode JobSpec}.
 *
 * @example
 * ```ts
 * import type { JobSpecOf } from "@x/jobq";
 *
 * type Jobs = { ping: undefined; add: [number, number] };
 * const specs: JobSpecOf<Jobs>[] = [
 *   { methodName: "ping" },
 *   { methodName: "add", params: [1, 2] },
 * ];
 * ```
 */
export type JobSpecOf<Jobs extends object> = {
  [K in keyof Jobs & string]: TypedJobSpec<Jobs, K>;
}[keyof Jobs & string];

/**
 * The params of an untyped queue, `new JobQueue(…)` without a type
 * argument: any method name, any params, checked at run time only.
 *
 * @example
 * ```ts
 * import { JobQueue, type UntypedJobs } from "@x/jobq";
 *
 * const queue: JobQueue<UntypedJobs> = new JobQueue({ directory: await Deno.makeTempDir() });
 * await queue.dispose();
 * ```
 */
// deno-lint-ignore no-explicit-any -- an untyped queue checks params at run time only
export type UntypedJobs = Record<string, any>;

/**
 * The handler type of method `K` of a queue typed by `Jobs`: a
 * {@linkcode TypedJobHandler}, or any {@linkcode JobHandler} for an untyped
 * queue.
 *
 * @example
 * ```ts
 * import type { JobHandlerOf } from "@x/jobq";
 *
 * type Jobs = { add: [number, number] };
 * const add: JobHandlerOf<Jobs, "add"> = (a, b) => a + b;
 * ```
 */
export type JobHandlerOf<Jobs extends object, K extends keyof Jobs & string> = string extends
  keyof Jobs ? JobHandler : TypedJobHandler<Jobs[K]>;

/**
 * Options of {@linkcode JobQueue}: those of the engine it creates, or an
 * engine of your own.
 *
 * @example
 * ```ts
 * import type { JobQueueOptions } from "@x/jobq";
 *
 * const options: JobQueueOptions = { directory: "./jobs", maxConcurrency: 2 };
 * ```
 */
export interface JobQueueOptions extends Partial<Omit<JobQueueEngineOptions, "eventListener">> {
  /**
   * An engine to use instead of creating one; `directory`, when also given,
   * must be the engine's, and `maxConcurrency` is applied to it.
   */
  engine?: JobQueueEngine;
}

/**
 * A persistent background job queue: one JSON file per job in a directory,
 * handlers registered by method name, deferred execution, a concurrency
 * limit, and jobs that survive restarts and crashes.
 *
 * It is an `EventTarget`: listen with `addEventListener` (typed by
 * {@linkcode JobQueueEventMap}) or with `on(type, listener)`, which hands the
 * listener the payload and returns a function that unsubscribes.
 *
 * @example Quick start
 * ```ts
 * import { JobQueue } from "@x/jobq";
 *
 * const queue = new JobQueue({ directory: await Deno.makeTempDir(), maxConcurrency: 2 });
 * let sent!: () => void;
 * const done = new Promise<void>((resolve) => sent = resolve);
 * queue.registerJobHandler("sendEmail", async (params) => {
 *   console.log(`to ${params.to}: ${params.subject}`);
 *   sent();
 * });
 * queue.on("error", (error) => console.error("Job error:", error));
 * await queue.scheduleJob({
 *   methodName: "sendEmail",
 *   params: { to: "user@example.com", subject: "Hello", body: "Welcome!" },
 * });
 * await queue.start();
 * await done;
 * await queue.dispose();
 * ```
 *
 * @example A typed queue: method names and params checked at compile time
 * ```ts
 * import { JobQueue } from "@x/jobq";
 *
 * interface Jobs {
 *   sendEmail: { to: string; subject: string };
 *   resizeImages: string[];
 *   cleanUp: undefined;
 * }
 * const queue = new JobQueue<Jobs>({ directory: await Deno.makeTempDir() });
 * queue.registerJobHandler("sendEmail", async ({ to, subject }) => console.log(to, subject));
 * queue.registerJobHandler("resizeImages", async (...paths) => console.log(paths.join(", ")));
 * await queue.scheduleJob({ methodName: "resizeImages", params: ["a.png", "b.png"] });
 * await queue.scheduleJob({ methodName: "cleanUp" });
 * await queue.dispose();
 * ```
 */
export class JobQueue<Jobs extends object = UntypedJobs> extends EventTarget {
  /**
   * The event types that ever had a listener: only those are dispatched,
   * which spares creating events nobody listens to (a `debug` per step).
   */
  readonly #listened = new Set<string>();
  readonly #engine: JobQueueEngine;

  /**
   * Creates a queue on a store or a directory; nothing runs until {@linkcode start}.
   *
   * @param options The store, the directory or an engine, and how to work.
   * @throws {TypeError} When none of `store`, `directory` and `engine` is given, when
   *   they disagree, or when engine options are given beside `engine`.
   * @throws {RangeError} When a number option is out of range.
   */
  constructor(options: JobQueueOptions) {
    super();
    const { engine, ...engineOptions } = options ?? {};
    if (engine === undefined) {
      this.#engine = new JobQueueEngine(engineOptions);
    } else {
      const { directory: _, maxConcurrency: __, ...ignored } = engineOptions;
      const misplaced = Object.keys(ignored).filter((key) =>
        ignored[key as keyof typeof ignored] !== undefined
      );
      if (misplaced.length > 0) {
        throw new TypeError(
          `Cannot create the queue: ${
            misplaced.map((key) => `'${key}'`).join(", ")
          } would be ignored beside 'engine'; pass them to the engine's constructor`,
        );
      }
      if (engineOptions.directory !== undefined && engineOptions.directory !== engine.directory) {
        throw new TypeError(
          `Cannot create the queue: 'directory' is ${engineOptions.directory}, but the engine's is ${engine.directory}; pass one of them`,
        );
      }
      if (engineOptions.maxConcurrency !== undefined) {
        engine.setMaxConcurrency(engineOptions.maxConcurrency);
      }
      this.#engine = engine;
    }
    this.#engine.listen((name, payload) => {
      if (this.#listened.has(name)) this.dispatchEvent(toEvent(name, payload));
    });
  }

  /**
   * How many handlers still run after their attempt was decided: it timed
   * out, or `dispose()` handed its job back. They hold no concurrency slot;
   * past `maxOverdueHandlers` of them, no job starts until one settles.
   *
   * @example
   * ```ts
   * import { JobQueue } from "@x/jobq";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * console.log(`${queue.overdueHandlers} handlers ignore their timeout`);
   * await queue.dispose();
   * ```
   */
  get overdueHandlers(): number {
    return this.#engine.overdueHandlers;
  }

  /** The engine that does the work, for its lower-level methods. */
  get engine(): JobQueueEngine {
    return this.#engine;
  }

  /**
   * Registers the function that runs jobs of `methodName`, replacing any
   * earlier one. Array params are spread into its arguments; anything else
   * is its one argument.
   *
   * @param methodName The name jobs are scheduled under.
   * @param handler The function that runs them.
   * @param options How its jobs are retried and timed out; a job's spec wins.
   * @throws {TypeError} When the name is unsafe, the handler is not a
   *   function or an option has the wrong type.
   * @throws {RangeError} When an option is out of range.
   *
   * @example Retries with backoff, and a timeout
   * ```ts
   * import { jobContext, JobQueue } from "@x/jobq";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * queue.registerJobHandler("callWebhook", async (params: { url: string }) => {
   *   const response = await fetch(params.url, { signal: jobContext().signal });
   *   if (!response.ok) throw new Error(`HTTP ${response.status}`);
   * }, { maxAttempts: 5, backoff: { type: "exponential", delay: 1000 }, timeout: 10_000 });
   * await queue.dispose();
   * ```
   *
   * @example A handler with array params
   * ```ts
   * import { JobQueue } from "@x/jobq";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * queue.registerJobHandler("processBatch", async (...items: string[]) => {
   *   for (const item of items) console.log(item);
   * });
   * await queue.scheduleJob({ methodName: "processBatch", params: ["item1", "item2"] });
   * await queue.dispose();
   * ```
   */
  registerJobHandler<K extends keyof Jobs & string>(
    methodName: K,
    handler: JobHandlerOf<Jobs, K>,
    options?: JobHandlerOptions,
  ): void {
    this.#engine.registerJobHandler(methodName, handler as JobHandler, options);
  }

  /**
   * Stores a job: once the promise resolves, its file is on disk. It can be
   * called before {@linkcode start}; the job then waits for it.
   *
   * @param spec What to run and when.
   * @returns The stored job.
   * @throws {TypeError} When the spec is malformed; nothing is written.
   * @throws {RangeError} When a date or wait time is out of range, or the job
   *   would take a file over 64 MiB.
   * @throws {JobQueueError} When the file cannot be written or the queue is disposed.
   *
   * @example A job for tomorrow
   * ```ts
   * import { JobQueue } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * const job = await queue.scheduleJob({
   *   methodName: "sendReminder",
   *   params: { userId: "123" },
   *   waitTime: 24 * 60 * 60 * 1000,
   * });
   * assert.equal(job.state, "NOT_STARTED");
   * await queue.dispose();
   * ```
   */
  scheduleJob(spec: JobSpecOf<Jobs>): Promise<Job> {
    return this.#engine.scheduleJob(spec as JobSpec);
  }

  /**
   * Schedules many jobs at once, all or none: much faster than awaiting
   * `scheduleJob` for each, as the files are written in parallel and the
   * directory is flushed once. See {@linkcode JobQueueEngine.scheduleJobs}.
   *
   * @param specs One spec per job.
   * @returns The stored jobs, in the order of `specs`.
   * @throws {TypeError} When a spec is malformed; nothing is written.
   * @throws {JobQueueError} When a file cannot be written; nothing is kept.
   *
   * @example Scheduling a batch
   * ```ts
   * import { JobQueue } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * const jobs = await queue.scheduleJobs(
   *   ["a.png", "b.png", "c.png"].map((path) => ({ methodName: "resize", params: { path } })),
   * );
   * assert.equal(jobs.length, 3);
   * await queue.dispose();
   * ```
   */
  scheduleJobs(specs: readonly JobSpecOf<Jobs>[]): Promise<Job[]> {
    return this.#engine.scheduleJobs(specs as readonly JobSpec[]);
  }

  /**
   * Removes one job, whatever its state, unless it is running.
   *
   * @param id The job's id.
   * @returns `true` if it was removed; `false` if there is no such job or it runs.
   *
   * @example
   * ```ts
   * import { JobQueue } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * const job = await queue.scheduleJob({ methodName: "report", waitTime: 60_000 });
   * assert.equal(await queue.removeJob(job.id), true);
   * assert.deepEqual(await queue.getAllJobs(), []);
   * await queue.dispose();
   * ```
   */
  removeJob(id: string): Promise<boolean> {
    return this.#engine.removeJob(id);
  }

  /**
   * Pauses processing of one method's jobs, or of all jobs; running handlers
   * finish, and jobs wait until resumed. Only this queue pauses: other
   * processes on the directory go on.
   *
   * @param methodName The method to pause; all when omitted.
   *
   * @example Pausing one method
   * ```ts
   * import { JobQueue } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * queue.pause("sendEmail");
   * assert.equal(queue.isPaused("sendEmail"), true);
   * assert.equal(queue.isPaused("resize"), false);
   * queue.resume("sendEmail");
   * await queue.dispose();
   * ```
   */
  pause(methodName?: keyof Jobs & string): void {
    this.#engine.pause(methodName);
  }

  /**
   * Resumes processing of one method, or of everything paused.
   *
   * @param methodName The method to resume; all when omitted.
   *
   * @example
   * ```ts
   * import { JobQueue } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * queue.pause();
   * queue.resume();
   * assert.equal(queue.isPaused(), false);
   * await queue.dispose();
   * ```
   */
  resume(methodName?: keyof Jobs & string): void {
    this.#engine.resume(methodName);
  }

  /**
   * Tells whether processing is paused, for all jobs or for one method.
   *
   * @param methodName The method to ask about.
   * @returns `true` when its jobs would not start now.
   *
   * @example
   * ```ts
   * import { JobQueue } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * queue.pause();
   * assert.equal(queue.isPaused("anything"), true);
   * await queue.dispose();
   * ```
   */
  isPaused(methodName?: keyof Jobs & string): boolean {
    return this.#engine.isPaused(methodName);
  }

  /**
   * Resolves once the queue is idle: no handler running and no due job
   * waiting to start (jobs due later may wait). At once if idle now.
   *
   * @returns A promise that resolves when the queue is idle.
   *
   * @example Waiting for the due jobs of a script
   * ```ts
   * import { JobQueue } from "@x/jobq";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir(), maxConcurrency: 4 });
   * queue.registerJobHandler("work", async (n: number) => console.log(n));
   * await queue.scheduleJobs([1, 2, 3].map((n) => ({ methodName: "work", params: n })));
   * await queue.start();
   * await queue.onIdle();
   * await queue.dispose();
   * ```
   */
  onIdle(): Promise<void> {
    return this.#engine.onIdle();
  }

  /**
   * Resolves once the queue has no job left: none running and none waiting,
   * due now or later. At once if it holds now.
   *
   * @returns A promise that resolves when the queue is drained.
   *
   * @example
   * ```ts
   * import { JobQueue } from "@x/jobq";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * queue.registerJobHandler("later", async () => {});
   * await queue.scheduleJob({ methodName: "later", waitTime: 50 });
   * await queue.start();
   * await queue.drained();
   * await queue.dispose();
   * ```
   */
  drained(): Promise<void> {
    return this.#engine.drained();
  }

  /**
   * Resolves with a job once it has completed (with its `result`) or failed
   * for good; at once if it already has. `undefined` when it is gone without
   * this queue seeing its end (removed, or run and removed by another process).
   *
   * @param id The job's id.
   * @returns The settled job, or `undefined`.
   *
   * @example Waiting for a job's result
   * ```ts
   * import { JobQueue } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * queue.registerJobHandler("add", async (a: number, b: number) => a + b);
   * const job = await queue.scheduleJob({ methodName: "add", params: [2, 3] });
   * await queue.start();
   * const settled = await queue.settled(job.id);
   * assert.equal(settled?.state, "COMPLETED");
   * assert.equal(settled?.result, 5);
   * await queue.dispose();
   * ```
   */
  settled(id: string): Promise<Job | undefined> {
    return this.#engine.settled(id);
  }

  /**
   * Starts processing: loads the jobs already in the directory (including
   * those cut short by a crash), then runs due jobs and keeps going until
   * {@linkcode dispose}. Calling it again is harmless.
   *
   * @returns A promise that resolves once processing has begun, and rejects
   *   when the directory cannot be used.
   *
   * @example
   * ```ts
   * import { JobQueue } from "@x/jobq";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * await queue.start();
   * await queue.dispose();
   * ```
   */
  start(): Promise<void> {
    return this.#engine.startNextJob();
  }

  /**
   * Removes the jobs of a method that are not running.
   *
   * @param methodName The method whose jobs to remove.
   * @returns How many jobs were removed.
   *
   * @example
   * ```ts
   * import { JobQueue } from "@x/jobq";
   * import assert from "node:assert/strict";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * await queue.scheduleJob({ methodName: "sendEmail", waitTime: 60_000 });
   * assert.equal(await queue.removeJobsByMethodName("sendEmail"), 1);
   * await queue.dispose();
   * ```
   */
  removeJobsByMethodName(methodName: string): Promise<number> {
    return this.#engine.removeJobsByMethodName(methodName);
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
   *
   * @example Retrying a job from its failed event
   * ```ts ignore
   * queue.on("failed", async (job) => {
   *   if (job.error?.message.includes("ECONNRESET")) await queue.retryJob(job.id);
   * });
   * ```
   */
  retryJob(id: string): Promise<Job> {
    return this.#engine.retryJob(id);
  }

  /**
   * Runs the failed jobs (of one method, or all) again, with a new set of
   * attempts.
   *
   * @param methodName Retry only this method's failed jobs.
   * @returns How many jobs will run again.
   *
   * @example
   * ```ts
   * import { JobQueue } from "@x/jobq";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * console.log(`${await queue.retryFailedJobs("sendEmail")} emails will be sent again`);
   * await queue.dispose();
   * ```
   */
  retryFailedJobs(methodName?: string): Promise<number> {
    return this.#engine.retryFailedJobs(methodName);
  }

  /**
   * Removes the failed jobs that failed more than `olderThan` ms ago.
   *
   * @param options How old a failed job must be to go.
   * @returns How many jobs were removed.
   *
   * @example Keeping a week of failures
   * ```ts
   * import { JobQueue } from "@x/jobq";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * await queue.pruneFailedJobs({ olderThan: 7 * 24 * 60 * 60 * 1000 });
   * await queue.dispose();
   * ```
   */
  pruneFailedJobs(options: PruneOptions): Promise<number> {
    return this.#engine.pruneFailedJobs(options);
  }

  /**
   * Reads every job in the directory, in id order (the date each job was
   * first due, then creation). A job running in any engine is `IN_PROGRESS`.
   *
   * @returns The jobs as they are on disk.
   *
   * @example Counting failed jobs
   * ```ts
   * import { JobQueue } from "@x/jobq";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * const failed = (await queue.getAllJobs()).filter((job) => job.state === "FAILED");
   * console.log(`${failed.length} failed`);
   * await queue.dispose();
   * ```
   */
  getAllJobs(): Promise<Job[]> {
    return this.#engine.getAllJobs();
  }

  /**
   * Listens for an event and hands the listener its payload: the
   * `JobQueueError` for `error`, `{ message, info }` for `debug`, the job for
   * `scheduled`, `started`, `completed`, `failed`, `retrying` and `progress`.
   *
   * @param type The event to listen for.
   * @param listener Receives the payload of each such event.
   * @returns A function that removes the listener.
   *
   * @example
   * ```ts
   * import { JobQueue } from "@x/jobq";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * const off = queue.on("error", (error) => console.error(error.message, error.cause));
   * off();
   * await queue.dispose();
   * ```
   */
  on<K extends JobQueueEventName>(
    type: K,
    listener: (payload: JobQueuePayloadMap[K]) => void,
  ): () => void {
    const forward = (event: Event) =>
      listener((event as JobQueueEventMap[K]).payload as JobQueuePayloadMap[K]);
    this.addEventListener(type, forward);
    return () => this.removeEventListener(type, forward);
  }

  /**
   * Adds a typed listener for one of the queue's events.
   *
   * @param type The event to listen for.
   * @param listener Receives the event.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener<K extends keyof JobQueueEventMap>(
    type: K,
    listener: ((event: JobQueueEventMap[K]) => void) | null,
    options?: Parameters<EventTarget["addEventListener"]>[2],
  ): void;
  /**
   * Adds a listener for any event type.
   *
   * @param type The event to listen for.
   * @param listener Receives the event.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener(
    type: string,
    listener: Parameters<EventTarget["addEventListener"]>[1],
    options?: Parameters<EventTarget["addEventListener"]>[2],
  ): void;
  override addEventListener(
    type: string,
    listener: Parameters<EventTarget["addEventListener"]>[1],
    options?: Parameters<EventTarget["addEventListener"]>[2],
  ): void {
    if (listener !== null) this.#listened.add(type);
    super.addEventListener(type, listener, options);
  }

  /**
   * Removes a typed listener added with `addEventListener`.
   *
   * @param type The event it listens for.
   * @param listener The listener to remove.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener<K extends keyof JobQueueEventMap>(
    type: K,
    listener: ((event: JobQueueEventMap[K]) => void) | null,
    options?: Parameters<EventTarget["removeEventListener"]>[2],
  ): void;
  /**
   * Removes a listener for any event type.
   *
   * @param type The event it listens for.
   * @param listener The listener to remove.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener(
    type: string,
    listener: Parameters<EventTarget["removeEventListener"]>[1],
    options?: Parameters<EventTarget["removeEventListener"]>[2],
  ): void;
  override removeEventListener(
    type: string,
    listener: Parameters<EventTarget["removeEventListener"]>[1],
    options?: Parameters<EventTarget["removeEventListener"]>[2],
  ): void {
    super.removeEventListener(type, listener, options);
  }

  /**
   * Stops starting jobs, waits for running handlers (up to `timeout`, then
   * aborts their signals) and lets go of the directory. No timer is left
   * afterwards, so the process can exit.
   *
   * @param options How long to wait for running handlers.
   * @returns A promise that resolves when the queue has stopped.
   *
   * @example
   * ```ts
   * import { JobQueue } from "@x/jobq";
   *
   * const queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * await queue.start();
   * await queue.dispose({ timeout: 5000 });
   * ```
   */
  dispose(options?: DisposeOptions): Promise<void> {
    return this.#engine.dispose(options);
  }

  /**
   * Disposes the queue at the end of an `await using` block.
   *
   * @example
   * ```ts
   * import { JobQueue } from "@x/jobq";
   *
   * await using queue = new JobQueue({ directory: await Deno.makeTempDir() });
   * await queue.start();
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
