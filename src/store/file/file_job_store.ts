import { Limiter, mapLimit } from "../../_async.ts";
import { defaultFileSystem } from "../../fs/_default_file_system.ts";
import type { FileSystemAdapter } from "../../fs/file_system.ts";
import { isUnfinished, Job, type JobErrorRecord, JobState } from "../../job/job.ts";
import { JobQueueError } from "../../job_queue_error.ts";
import { fileMode, positiveMilliseconds } from "../../_options.ts";
import type {
  AddResult,
  ClaimRequest,
  CompletedToKeep,
  DueJobs,
  EngineInfo,
  JobFilter,
  JobQuery,
  JobStore,
  StoreEngine,
} from "../job_store.ts";
import { DueIndex } from "./_due_index.ts";
import { READ_CONCURRENCY } from "./_file_operations.ts";
import { JobDirectory } from "./_job_directory.ts";
import type { JobRef } from "./_job_files.ts";
import { LockingQueue } from "./locking_queue.ts";

/**
 * Options of {@linkcode FileJobStore}.
 *
 * @example
 * ```ts
 * import type { FileJobStoreOptions } from "@x/jobq/store";
 *
 * const options: FileJobStoreOptions = { directory: "./jobs", fsync: false };
 * ```
 */
export interface FileJobStoreOptions {
  /** The directory that holds the job files; created if missing. */
  directory: string;
  /**
   * The file-system adapter.
   *
   * @default {the adapter for the running runtime}
   */
  fs?: FileSystemAdapter;
  /**
   * Flush each job file and its directory to the disk (fsync) before a write
   * resolves, so that a scheduled job survives a power loss, not only a
   * crash.
   *
   * @default {true}
   */
  fsync?: boolean;
  /**
   * The permission bits of the files jobq creates (job files hold their
   * params); its folders get the same bits plus search (`x`) wherever
   * reading is allowed. The process umask applies. Must let the owner read
   * and write. A file jobq rewrites keeps the mode it has.
   *
   * @default {0o600}
   */
  fileMode?: number;
  /**
   * How often, in ms, the directory is listed for jobs that other processes
   * wrote, removed or let go of, while an engine watches the store. With a
   * directory so large that listing it takes longer than a ninth of this,
   * listings are spaced further apart, so that they take at most a tenth of
   * the time.
   *
   * @default {1000}
   */
  pollInterval?: number;
  /**
   * Serialises the file operations on one job within the process.
   *
   * @default {new LockingQueue()}
   */
  lockingQueue?: LockingQueue;
}

/**
 * The directory store, jobq's default: one JSON file per job,
 * `<directory>/<methodName>__<id>.json`, and jobq's own state under
 * `<directory>/.jobq/` (claims, engines, unique keys, corrupt files). Engines
 * in one process or in several on one host share a directory: every claim is
 * a hard link, which exactly one engine can make. It keeps an index of the
 * directory's waiting jobs in memory, brought up to date by listing the
 * directory every `pollInterval` while an engine watches it (and at each
 * `claimDue` while none does).
 *
 * `new JobQueue({ directory })` is short for
 * `new JobQueue({ store: new FileJobStore({ directory }) })`.
 *
 * @example A queue on a file store
 * ```ts
 * import { JobQueue } from "@x/jobq";
 * import { FileJobStore } from "@x/jobq/store";
 *
 * const store = new FileJobStore({ directory: await Deno.makeTempDir(), fsync: false });
 * const queue = new JobQueue({ store });
 * await queue.scheduleJob({ methodName: "sendEmail", params: { to: "a@example.com" } });
 * console.log((await queue.getAllJobs()).length); // 1
 * await queue.dispose();
 * ```
 */
export class FileJobStore implements JobStore {
  readonly #options: Required<Omit<FileJobStoreOptions, "lockingQueue">>;
  readonly #lockingQueue: LockingQueue;
  readonly #index = new DueIndex();
  /** The directory's files: jobs, claims, engines, unique keys. */
  readonly #files: JobDirectory;
  #engine: StoreEngine | undefined;
  /** The first listing of the directory, which fills the index. */
  #indexed: Promise<void> | undefined;
  /** Takes of due jobs out of the index run one at a time. */
  readonly #takes = new Limiter(1);
  /**
   * Polls and recoveries run one at a time. Recovery takes a dead engine's
   * claim away before it counts the run the crash cut short: a poll between
   * the two would see the job free, and this engine would run it uncounted.
   */
  readonly #scans = new Limiter(1);
  /** Completed jobs kept in the directory, oldest first: what pruning needs of them. */
  #completed: KeptCompletion[] = [];
  /** How many watch() calls list the directory: while none does, claimDue() lists it. */
  #watchers = 0;

  /**
   * Creates a store on a directory; nothing touches the disk until `open`.
   *
   * @param options The directory and how to work on it.
   * @throws {TypeError} When `directory` is missing.
   * @throws {RangeError} When `fileMode` or `pollInterval` is out of range.
   */
  constructor(options: FileJobStoreOptions) {
    if (typeof options?.directory !== "string" || options.directory === "") {
      throw new TypeError(
        "Cannot create a job queue without a directory: pass { directory: '/path/to/jobs' }",
      );
    }
    this.#options = {
      directory: options.directory,
      fs: options.fs ?? defaultFileSystem(),
      fsync: options.fsync ?? true,
      fileMode: fileMode(options.fileMode ?? 0o600),
      pollInterval: positiveMilliseconds("pollInterval", options.pollInterval ?? 1000),
    };
    this.#lockingQueue = options.lockingQueue ?? new LockingQueue();
    this.#files = new JobDirectory(this.#options);
  }

  /** The directory that holds the job files. */
  get directory(): string {
    return this.#options.directory;
  }

  /** Where the jobs are, for people to read: the directory. */
  get location(): string {
    return this.#options.directory;
  }

  async open(engine: StoreEngine): Promise<void> {
    await this.#files.open(engine);
    this.#engine = engine;
  }

  async close(): Promise<void> {
    await this.#files.close();
  }

  async add(jobs: readonly Job[]): Promise<AddResult[]> {
    const results = await this.#files.add(jobs);
    for (const result of results) if (result.kind === "added") this.#index.add(result.job);
    return results;
  }

  async get(id: string): Promise<Job | undefined> {
    return await this.#files.find(id);
  }

  async list(query: JobQuery = {}): Promise<Job[]> {
    const { state, methodName, after, limit = Infinity } = query;
    const matching = (await this.#files.list()).filter((job) =>
      (state === undefined || job.state === state) &&
      (methodName === undefined || job.methodName === methodName) &&
      (after === undefined || job.id > after)
    );
    return matching.slice(0, limit);
  }

  async claimDue({ limit, skip }: ClaimRequest): Promise<DueJobs> {
    const jobs: Job[] = [];
    for (let refresh = true;; refresh = false) {
      const candidates = await this.#takeDue(limit - jobs.length, skip, refresh);
      // Claimed side by side, and beside other calls' claims: each is a link
      // and a read.
      const claimed = await Promise.all(candidates.map((job) => this.#claim(job)));
      for (const job of claimed) if (job !== undefined) jobs.push(job);
      // Only a claim that failed leaves room for another candidate.
      if (claimed.every((job) => job !== undefined)) break;
    }
    return { jobs, nextDueAt: this.#index.nextDueAt(Date.now(), skip) };
  }

  /**
   * Takes up to `count` due jobs out of the index, one call at a time, so
   * that two calls never take one job; `refresh` first brings the index up
   * to date.
   */
  #takeDue(count: number, skip: ReadonlySet<string>, refresh: boolean): Promise<Job[]> {
    return this.#takes.run(async () => {
      // Unwatched, the index learns what other engines added or let go of here.
      if (refresh && this.#watchers === 0) await this.#poll();
      else await this.#indexOnce();
      await this.#index.promote(
        Date.now(),
        (refs) => mapLimit(refs, READ_CONCURRENCY, (ref) => this.#files.read(ref)),
      );
      const candidates: Job[] = [];
      while (candidates.length < count) {
        const next = this.#index.takeDue(skip);
        if (next === undefined) break;
        candidates.push(next);
      }
      return candidates;
    });
  }

  /** Claims one due job; indexes it again as what the claim found when that is not this engine. */
  async #claim(job: Job): Promise<Job | undefined> {
    try {
      const claim = await this.#lockingQueue.run(job.id, () => this.#files.claim(job));
      switch (claim.kind) {
        case "claimed":
          return claim.job;
        case "busy":
          this.#index.holdElsewhere(job);
          return undefined;
        case "notDue":
          this.#index.add(claim.job);
          return undefined;
        case "gone":
          return undefined;
      }
    } catch (error) {
      // A passing fault: the job is tried again after a poll interval.
      this.#report(error);
      this.#index.add(dueLater(job, this.#options.pollInterval));
      return undefined;
    }
  }

  async complete(job: Job, result: unknown, keep: boolean): Promise<Job | undefined> {
    const completed = await this.#lockingQueue.run(
      job.id,
      () => this.#files.complete(job, keep, result),
    );
    if (completed === undefined) this.#index.holdElsewhere(job);
    else if (keep) this.#keepCompleted([completed]);
    return completed;
  }

  progress(job: Job, progress: unknown): Promise<Job | undefined> {
    return this.#lockingQueue.run(job.id, () => this.#files.progress(job, progress));
  }

  async fail(job: Job, error: JobErrorRecord): Promise<Job | undefined> {
    const failed = await this.#lockingQueue.run(job.id, () => this.#files.fail(job, error));
    if (failed === undefined) this.#index.holdElsewhere(job);
    return failed;
  }

  async retryLater(
    job: Job,
    error: JobErrorRecord,
    executionDate: number,
    keepClaim: boolean,
  ): Promise<Job | undefined> {
    const waiting = await this.#lockingQueue.run(
      job.id,
      () => this.#files.reschedule(job, error, executionDate, keepClaim),
    );
    if (waiting === undefined) this.#index.holdElsewhere(job);
    else if (!keepClaim) this.#index.add(waiting);
    return waiting;
  }

  async release(job: Job, executionDate?: number): Promise<Job | undefined> {
    let waiting: Job | undefined;
    try {
      waiting = await this.#lockingQueue.run(
        job.id,
        () => this.#files.release(job, executionDate),
      );
    } catch (error) {
      // Its claim is dropped all the same: it runs again after a poll interval.
      this.#index.add(dueLater(job, this.#options.pollInterval));
      throw error;
    }
    if (waiting === undefined) this.#index.holdElsewhere(job);
    else this.#index.add(waiting);
    return waiting;
  }

  async unclaim(job: Job): Promise<boolean> {
    const unclaimed = await this.#lockingQueue.run(job.id, () => this.#files.unclaim(job));
    if (unclaimed) this.#index.add(job);
    return unclaimed;
  }

  async replace(failed: Job, fresh: Job): Promise<AddResult | undefined> {
    const result = await this.#lockingQueue.run(
      failed.id,
      () => this.#files.replace(failed, fresh),
    );
    if (result?.kind === "added") {
      this.#index.add(result.job);
      this.#forgetCompleted([failed.id]);
    }
    return result;
  }

  async remove(id: string): Promise<boolean> {
    const job = await this.get(id);
    return job !== undefined && await this.#remove(job);
  }

  async removeWhere(filter: JobFilter): Promise<number> {
    const { methodName, state, finishedBefore } = filter;
    let removed = 0;
    for (const job of await this.#files.list()) {
      if (
        (methodName === undefined || job.methodName === methodName) &&
        (state === undefined || job.state === state) &&
        (finishedBefore === undefined || (job.finishedAt ?? Infinity) < finishedBefore) &&
        await this.#remove(job)
      ) removed++;
    }
    return removed;
  }

  async pruneCompleted(keep: CompletedToKeep): Promise<number> {
    const { count = Infinity, finishedAfter = -Infinity } = keep;
    const excess = this.#completed.length - count;
    // Decided before the first await: prunes may run side by side, and each
    // works on the list as it is, not on a stale copy.
    const expired = this.#completed.filter((job, index) =>
      index < excess || job.finishedAt <= finishedAfter
    );
    this.#forgetCompleted(expired.map((job) => job.id));
    let removed = 0;
    for (const job of expired) {
      if (await this.#lockingQueue.run(job.id, () => this.#files.remove(job))) removed++;
    }
    return removed;
  }

  heartbeat(): Promise<void> {
    return this.#files.heartbeat();
  }

  recover(): Promise<number> {
    return this.#scans.run(() => this.#files.recover());
  }

  engines(): Promise<EngineInfo[]> {
    return this.#files.engines();
  }

  /**
   * Lists the directory every `pollInterval` while watched, and calls
   * `onChange` when it found jobs that other processes wrote, removed or let
   * go of. Listings are spaced so that they take at most a tenth of the time.
   */
  watch(onChange: () => void): () => void {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let watching = true;
    const listAfter = (delay: number) => {
      timer = setTimeout(async () => {
        const started = performance.now();
        try {
          if (await this.#poll()) onChange();
        } catch (error) {
          this.#report(error);
        }
        const took = performance.now() - started;
        if (watching) listAfter(Math.max(this.#options.pollInterval, 9 * took));
      }, delay);
    };
    listAfter(this.#options.pollInterval);
    this.#watchers++;
    return () => {
      if (watching) this.#watchers--;
      watching = false;
      clearTimeout(timer);
    };
  }

  #report(error: unknown): void {
    this.#engine?.report(
      error instanceof JobQueueError
        ? error
        : new JobQueueError(`Unexpected error: ${(error as Error)?.message}`, { cause: error }),
    );
  }

  /** Fills the index from the directory the first time it is needed. */
  #indexOnce(): Promise<void> {
    this.#indexed ??= this.#poll().then(
      () => {},
      (error) => {
        this.#indexed = undefined;
        throw error;
      },
    );
    return this.#indexed;
  }

  /** Brings the index up to date with the directory; tells whether anything changed. */
  #poll(): Promise<boolean> {
    return this.#scans.run(async () => {
      const { added, removed, claimed } = await this.#files.poll();
      const completed: Job[] = [];
      for (const job of added) {
        if (job instanceof Job && !isUnfinished(job)) {
          if (job.state === JobState.COMPLETED) completed.push(job);
        } else if (claimed.has(job.id)) this.#index.holdElsewhere(job);
        else this.#index.add(job);
      }
      this.#keepCompleted(completed);
      for (const id of removed) this.#index.delete(id);
      this.#forgetCompleted(removed);
      const released = this.#index.releaseHeld(claimed);
      // The index holds the whole directory from the first listing on.
      this.#indexed ??= Promise.resolve();
      return added.length > 0 || removed.length > 0 || released;
    });
  }

  async #remove(job: JobRef): Promise<boolean> {
    const removed = await this.#lockingQueue.run(job.id, () => this.#files.remove(job));
    if (removed) {
      this.#index.delete(job.id);
      this.#forgetCompleted([job.id]);
    }
    return removed;
  }

  #keepCompleted(jobs: readonly Job[]): void {
    if (jobs.length === 0) return;
    this.#completed = [
      ...this.#completed,
      ...jobs.map((job) => ({
        id: job.id,
        methodName: job.methodName,
        key: job.key,
        executionDate: job.executionDate,
        finishedAt: job.finishedAt ?? 0,
      })),
    ].sort((a, b) => a.finishedAt - b.finishedAt);
  }

  #forgetCompleted(ids: readonly string[]): void {
    if (ids.length === 0 || this.#completed.length === 0) return;
    const gone = new Set(ids);
    this.#completed = this.#completed.filter((job) => !gone.has(job.id));
  }
}

/** What pruning needs of a completed job kept in the directory: not its params or result. */
interface KeptCompletion extends JobRef {
  readonly finishedAt: number;
}

/** A job known by name, due again after `delay` ms. */
function dueLater(job: JobRef, delay: number): JobRef {
  return {
    id: job.id,
    methodName: job.methodName,
    key: job.key,
    executionDate: Math.max(job.executionDate, Math.ceil(Date.now() + delay)),
  };
}
