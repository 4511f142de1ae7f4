/**
 * jobq: a persistent background job queue for Deno, Bun and Node, backed by
 * one JSON file per job in a directory.
 *
 * - Deferred execution: `waitTime` (ms from now) or `executionDate`.
 * - Handlers registered by method name; a concurrency limit.
 * - States `NOT_STARTED → IN_PROGRESS → COMPLETED | FAILED`, with events.
 * - Jobs survive restarts and crashes (at-least-once); several processes can
 *   share one directory without running a job twice at once.
 * - Retries with backoff, timeouts, priorities, unique jobs, recurring jobs
 *   (cron or interval), pause and resume, results and progress.
 * - Typed queues (`new JobQueue<Jobs>()`), bulk scheduling, and promises to
 *   wait on: `onIdle()`, `drained()`, `settled(id)`.
 * - A CLI: `jobq <directory> list | show | stats | retry | remove`.
 *
 * @example
 * ```ts
 * import { JobQueue } from "@x/jobq";
 *
 * const queue = new JobQueue({ directory: await Deno.makeTempDir(), maxConcurrency: 2 });
 * queue.registerJobHandler("sendEmail", async (params) => {
 *   console.log(`sending "${params.subject}" to ${params.to}`);
 * });
 * await queue.scheduleJob({
 *   methodName: "sendEmail",
 *   params: { to: "user@example.com", subject: "Hello" },
 *   waitTime: 5000,
 * });
 * queue.on("error", (error) => console.error("Job error:", error));
 * await queue.start();
 * await queue.dispose();
 * ```
 *
 * @module
 */

export {
  type JobHandlerOf,
  JobQueue,
  type JobQueueOptions,
  type JobSpecOf,
  type TypedJobHandler,
  type TypedJobSpec,
  type UntypedJobs,
} from "./src/queue/job_queue.ts";
export type { Repeat } from "./src/job/repeat.ts";
export { JobQueueEngine } from "./src/engine/job_queue_engine.ts";
export type { JobHandler } from "./src/engine/job_handler.ts";
export type {
  DisposeOptions,
  JobQueueEngineOptions,
  KeepCompleted,
  PruneOptions,
} from "./src/engine/options.ts";
export {
  type Backoff,
  type BackoffPolicy,
  type JobHandlerOptions,
  type StorableRetryOptions,
} from "./src/job/retry.ts";
export { Job, type JobErrorRecord, type JobRecord, type JobSpec, JobState } from "./src/job/job.ts";
export {
  JobQueueError,
  type JobQueueErrorInfo,
  type JobQueueErrorOptions,
} from "./src/job_queue_error.ts";
export { type JobContext, jobContext } from "./src/engine/job_context.ts";
export {
  type DebugInfo,
  type DebugPayload,
  JobEvent,
  type JobEventType,
  JobQueueDebugEvent,
  JobQueueErrorEvent,
  type JobQueueEventListener,
  type JobQueueEventMap,
  type JobQueueEventName,
  type JobQueuePayloadMap,
} from "./src/engine/events.ts";
export { LockingQueue } from "./src/store/file/locking_queue.ts";
export type {
  AddResult,
  ClaimRequest,
  CompletedToKeep,
  DueJobs,
  EngineInfo,
  JobFilter,
  JobQuery,
  JobStore,
  StoreEngine,
} from "./src/store/job_store.ts";
export type {
  FileInfo,
  FileSystemAdapter,
  MkdirOptions,
  ReadTextFileOptions,
  WriteTextFileOptions,
} from "./src/fs/file_system.ts";
export { DenoFileSystem } from "./src/fs/deno_file_system.ts";
export { BunFileSystem } from "./src/fs/bun_file_system.ts";
export { NodeFileSystem } from "./src/fs/node_file_system.ts";
