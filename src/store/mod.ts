/**
 * Stores: where a queue keeps its jobs. {@linkcode JobStore} is the
 * interface every store implements; {@linkcode FileJobStore} keeps one JSON
 * file per job in a directory (the default: `new JobQueue({ directory })` is
 * short for `new JobQueue({ store: new FileJobStore({ directory }) })`).
 * `@x/jobq/store/testing` holds the suite a store must pass.
 *
 * @example A queue on a store built by hand
 * ```ts
 * import { JobQueue } from "@x/jobq";
 * import { FileJobStore } from "@x/jobq/store";
 *
 * const queue = new JobQueue({
 *   store: new FileJobStore({ directory: await Deno.makeTempDir(), fsync: false }),
 * });
 * await queue.dispose();
 * ```
 *
 * @module
 */
export { FileJobStore, type FileJobStoreOptions } from "./file/file_job_store.ts";
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
} from "./job_store.ts";
