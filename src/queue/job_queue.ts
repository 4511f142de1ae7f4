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
 * A persistent background job queue: jobs kept in a store (by default a
 * directory with one JSON file per job), handlers registered by method name,
 * deferred execution, a concurrency limit, and jobs that survive restarts
 * and crashes. It wraps a {@linkcode JobQueueEngine}, which does the work.
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
   * Validates a spec and stores the job: once the promise resolves, the job
   * is stored (durably, unless the file store's `fsync` is off). It can be
   * called before {@linkcode start}; the job then waits for it. When a
   * waiting or running job holds the spec's `uniqueKey`, nothing is stored
   * and that job is returned instead.
   *
   * @param spec What to run and when.
   * @returns The stored job, or the job that holds its unique key.
   * @throws {TypeError} When the spec is malformed; nothing is stored.
   * @throws {RangeError} When a date or wait time is out of range, or the job
   *   is too large for the store (for the file store, a file over 64 MiB).
   * @throws {JobQueueError} When the job cannot be stored or the queue is disposed.
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
   * Schedules many jobs at once, all or none: validates every spec first,
   * then stores the jobs together, which is much faster than awaiting
   * {@linkcode scheduleJob} for each (the file store writes the files in
   * parallel and flushes the directory once). When one spec is invalid or one
   * job cannot be stored, no job is stored.
   *
   * @param specs One spec per job.
   * @returns The stored jobs, in the order of `specs` (for a spec whose
   *   `uniqueKey` a waiting or running job holds, that job).
   * @throws {TypeError} When `specs` is not an array or a spec is malformed;
   *   the spec's index is in the message.
   * @throws {RangeError} When a date or wait time is out of range, or a job is
   *   too large for the store.
   * @throws {JobQueueError} When a job cannot be stored or the queue is disposed.
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
   * Removes one job, whatever its state, unless it is running (in any engine).
   *
   * @param id The job's id.
   * @returns `true` if it was removed; `false` if there is no such job or it runs.
   * @throws {TypeError} When `id` is not a string.
   * @throws {JobQueueError} When the queue is disposed.
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
   * Pauses processing of one method's jobs, or of all jobs: running handlers
   * finish, and jobs can still be scheduled; they wait until resumed. Only
   * this queue pauses: other engines on the store go on.
   *
   * @param methodName The method to pause; all when omitted.
   * @throws {TypeError} When `methodName` is not a valid method name.
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
   * Resumes processing of one method, or, without one, of every paused
   * method and the whole queue. Resuming one method does not lift a pause of
   * all jobs.
   *
   * @param methodName The method to resume; all when omitted.
   * @throws {TypeError} When `methodName` is not a valid method name.
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
   * @returns `true` when all jobs are paused, or the jobs of `methodName`.
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
   * Resolves once the queue is idle: no handler running here and no due job
   * waiting that it would start (due jobs of paused methods do not count, and
   * jobs due later may wait). At once if idle now, and at
   * {@linkcode dispose}. Before {@linkcode start}, one due job waiting keeps
   * the queue from being idle.
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
   * Resolves once no job is left at all: none running or held for a retry
   * here, and none waiting in the store, due now or later, paused or claimed
   * by another engine. Recurring jobs never drain: each occurrence schedules
   * the next.
   *
   * @returns A promise that resolves when the queue is drained.
   * @throws {JobQueueError} When the queue is disposed with jobs left, or was
   *   disposed before the call.
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
   * for good; at once if it already has. Resolves with `undefined` when the
   * job is gone without this queue seeing how it ended: it was removed, or
   * another engine ran it and removed it (completed jobs are removed unless
   * `keepCompleted`), or there never was a job with that id. Jobs that other
   * engines run are looked at every `pollInterval`.
   *
   * @param id The job's id.
   * @returns The job in state `COMPLETED` or `FAILED`, or `undefined`.
   * @throws {TypeError} When `id` is not a string.
   * @throws {JobQueueError} When the queue is disposed before the job settles.
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
   * Starts processing: opens the store and takes back the jobs of dead
   * engines (runs cut short by a crash), then starts due jobs up to
   * `maxConcurrency` and keeps going until {@linkcode dispose}. A finished
   * job, a newly scheduled one, the due timer or a change the store reports
   * starts the next, and the store is looked at every `pollInterval` for jobs
   * of other processes and claims of dead engines. Calling it again is
   * harmless.
   *
   * @returns A promise that resolves once processing has begun, and rejects
   *   when the store cannot be used or the queue is disposed.
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
   * Removes the jobs of a method, whatever their state, except those running
   * (in any engine): those are left to finish.
   *
   * @param methodName The method whose jobs to remove.
   * @returns How many jobs were removed.
   * @throws {TypeError} When `methodName` is not a valid method name.
   * @throws {JobQueueError} When the queue is disposed.
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
   * it is replaced by a new job with its params and settings and a new id
   * (which sorts by the new date).
   *
   * @param id The failed job's id.
   * @returns The new job, `NOT_STARTED`.
   * @throws {JobQueueError} When there is no failed job with that id, a
   *   waiting or running job holds its unique key, or the queue is disposed.
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
   * Runs the failed jobs (of one method, or all) again, each as
   * {@linkcode retryJob} does. A job that cannot be retried (a waiting or
   * running job holds its unique key) is reported as an `error` event, and
   * the others are retried all the same.
   *
   * @param methodName Retry only this method's failed jobs.
   * @returns How many jobs will run again.
   * @throws {TypeError} When `methodName` is not a valid method name.
   * @throws {JobQueueError} When the queue is disposed.
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
   * Removes the failed jobs that failed `olderThan` ms ago or more.
   *
   * @param options How old a failed job must be to go.
   * @returns How many jobs were removed.
   * @throws {RangeError} When `olderThan` is not a non-negative number.
   * @throws {JobQueueError} When the queue is disposed.
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
   * Reads every stored job, in id order (the date each job was first due,
   * then creation). A job running in any engine is `IN_PROGRESS`. Works after
   * {@linkcode dispose} too, to look at what is left.
   *
   * @returns The jobs as they are stored.
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
   * Stops starting jobs at once, waits for running handlers to settle and
   * their outcome to be recorded, then lets go of the store. Afterwards no
   * timer is left, so the process can exit, and `scheduleJob` rejects. Later
   * calls return the same promise, except in a handler of this queue: there
   * it resolves once the other handlers have settled, and the queue finishes
   * disposing when the calling handler has.
   *
   * With a `timeout`, running handlers have their signals aborted after that
   * long, and it resolves within about that long whatever they do: see
   * {@linkcode DisposeOptions}. Handlers whose attempt timed out are not
   * waited for beyond their retry's hold (see "Retries and timeouts" in
   * docs/guarantees.md).
   *
   * @param options How long to wait for running handlers.
   * @returns A promise that resolves when the queue has stopped.
   * @throws {RangeError} When `timeout` is negative or not a number.
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
