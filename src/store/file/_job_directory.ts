/**
 * The job directory: the file store's queue operations on job files (add,
 * read, list, poll, claim, record an outcome, remove, recover), carried out
 * with the claims, unique keys and engine registry kept beside the jobs in
 * `.jobq/`.
 */
import { dirname } from "node:path";
import { mapLimit } from "../../_async.ts";
import { isNotFound } from "../../fs/_fs_errors.ts";
import type { AddResult, EngineInfo, StoreEngine } from "../job_store.ts";
import {
  isScheduledOccurrence,
  isUnfinished,
  type Job,
  type JobErrorRecord,
  JobState,
} from "../../job/job.ts";
import { JobQueueError } from "../../job_queue_error.ts";
import { Claims } from "./_claims.ts";
import { EngineRegistry } from "./_engine_registry.ts";
import {
  FileOperations,
  type JobDirectoryOptions,
  messageOf,
  READ_CONCURRENCY,
} from "./_file_operations.ts";
import { DirectoryChanges, type PollResult } from "./_directory_changes.ts";
import { JobFileReader } from "./_job_file_reader.ts";
import {
  compareIds,
  fileNameOf,
  isJobFileName,
  isTooLargeForJobFile,
  type JobRef,
  MAX_JOB_FILE_BYTES,
  refOfFileName,
  withChanges,
} from "./_job_files.ts";
import { UniqueKeys } from "./_unique_keys.ts";

/** What came of an attempt to claim a job. */
export type ClaimResult =
  /** The job is this engine's to run; `job` is it in state `IN_PROGRESS`. */
  | { readonly kind: "claimed"; readonly job: Job }
  /** Another engine holds the job. */
  | { readonly kind: "busy" }
  /** The job waits for a later date than this engine knew (a retry's backoff). */
  | { readonly kind: "notDue"; readonly job: Job }
  /** The job is gone or finished (`job` is its final form when known). */
  | { readonly kind: "gone"; readonly job?: Job };

/** A job on its way into the directory, in JobDirectory.add(). */
interface PreparedJob {
  readonly job: Job;
  /** Its temporary file, once written (none when it is not to be stored). */
  readonly temp?: string;
  /** The job stored in its place: itself, or the job that holds its unique key. */
  readonly stored?: Job;
  /** An occurrence whose date came before its key was taken: not stored. */
  readonly late?: boolean;
  readonly error?: unknown;
}

/** Files written at once when adding many jobs. */
const WRITE_CONCURRENCY = 16;

/** A job as its file and claim tell: a running job's file is as it was before the run. */
function asSeen(job: Job, claimed: boolean): Job {
  return claimed && job.state === JobState.NOT_STARTED
    ? withChanges(job, { state: JobState.IN_PROGRESS, attempts: job.attempts + 1 })
    : job;
}

/**
 * The file store: one JSON file per job, `<directory>/<methodName>__<id>.json`,
 * and jobq's own state under `<directory>/.jobq/`:
 *
 * - `claims/<methodName>__<id>.json`: a hard link to the claiming engine's
 *   token, `engines/<engineId>.claim` (which says whose it is), made by the
 *   engine that runs the job; a link fails if the name exists, so two
 *   engines never run a job at once, and a claim is never half-written.
 *   Linking creates no file, which is what makes a claim cheap: creating
 *   files is the costly part of a file system's work. Removed after the
 *   outcome is written.
 * - `engines/<engineId>.json`: one per live engine, rewritten by heartbeats;
 *   the claims of an engine that is gone, or silent for `claimTimeout`, are
 *   recovered.
 * - `unique/<hash of the key>.json`: which waiting or running job holds a
 *   unique key; written whole and linked into place, so only one job takes a
 *   key.
 * - `corrupt/`: job files that could not be read, set aside, never deleted.
 *
 * A running job's own file is not written when it starts (that would create
 * a file per run): its claim says it runs. The file counts the run's attempt
 * once it says `IN_PROGRESS` (a progress report) or holds the outcome; for a
 * run cut short by a crash while it still says `NOT_STARTED`, the engine that
 * recovers the claim counts it, and counts an interruption.
 *
 * Every write goes to a temporary name (a leading dot and a `.tmp` suffix,
 * never taken for a job) and is then renamed into place, so readers never
 * see a partial file.
 */
export class JobDirectory {
  readonly #files: FileOperations;
  readonly #registry: EngineRegistry;
  readonly #claims: Claims;
  readonly #uniqueKeys: UniqueKeys;
  readonly #reader: JobFileReader;
  readonly #changes: DirectoryChanges;

  constructor(options: JobDirectoryOptions) {
    this.#files = new FileOperations(options);
    this.#registry = new EngineRegistry(this.#files);
    this.#claims = new Claims(this.#files, this.#registry);
    // A file set aside has left the directory: not reported removed by the next poll.
    this.#reader = new JobFileReader(this.#files, (name) => this.#changes.forget(name));
    this.#changes = new DirectoryChanges(this.#files, this.#registry, this.#claims, this.#reader);
    this.#uniqueKeys = new UniqueKeys(
      this.#files,
      this.#registry,
      (name) => this.#reader.read(name),
    );
  }

  /** Registers `engine` as alive; until then, jobs can only be read. */
  async open(engine: StoreEngine): Promise<void> {
    this.#files.setEngine(engine);
    const files = this.#files;
    try {
      for (const path of [files.claims, files.engines, files.corrupt, files.unique]) {
        await files.fs.mkdir(path, { mode: files.directoryMode });
      }
      // The job directory may be new: its own entry must survive a power
      // loss too, or every job file in it would go with it.
      if (files.fsync) await files.fs.syncDir(dirname(files.directory));
    } catch (cause) {
      throw new JobQueueError(
        `Cannot use ${files.directory} as a job directory: ${messageOf(cause)}; ` +
          "check that the path is a directory this process may write to",
        { cause },
      );
    }
    // The claim token is written by the first claim, after the engine file:
    // a token without one is a dead engine's leftover.
    await this.#registry.register(engine);
    // Leftovers waste space but harm nothing: failing to remove them is no
    // reason to refuse the directory.
    // The job directory's leftovers are swept by the first poll, which lists
    // it anyway: one listing of a large directory instead of two.
    await this.#registry.removeLeftovers([files.claims, files.engines, files.unique]).catch(
      (cause) => files.report(files.error("Cannot remove leftover temporary files", cause)),
    );
  }

  async close(): Promise<void> {
    await this.#registry.unregister();
  }

  async add(jobs: readonly Job[]): Promise<AddResult[]> {
    // First every file is written under a temporary name and every unique
    // key taken; only once all of that succeeded are the files renamed into
    // place, so that a failure takes back jobs nobody has seen.
    // Within one batch, a unique key goes to the first job that has it.
    const firstWithKey = new Map<string, number>();
    const firsts = jobs.map((job, index) => {
      if (job.uniqueKey === undefined) return index;
      const first = firstWithKey.get(job.uniqueKey) ?? index;
      firstWithKey.set(job.uniqueKey, first);
      return first;
    });
    const own = jobs.filter((_, index) => firsts[index] === index);
    const prepared = await mapLimit(own, WRITE_CONCURRENCY, (job) => this.#prepare(job));
    const written = prepared.filter((entry) => entry.temp !== undefined);
    const failure = prepared.find((entry) => entry.error !== undefined);
    if (failure !== undefined) {
      await Promise.all(written.map((entry) => this.#takeBack(entry, false)));
      throw failure.error;
    }
    // Names being renamed into place are this engine's: its polls must not
    // take them for jobs of another process.
    await this.#changes.add(written.map((entry) => fileNameOf(entry.job)), async () => {
      const renamed = await mapLimit(written, WRITE_CONCURRENCY, async (entry) => {
        try {
          await this.#files.fs.rename(entry.temp!, this.#files.jobPath(fileNameOf(entry.job)));
          return undefined;
        } catch (cause) {
          return this.#files.error("Cannot schedule the job", cause, entry.job);
        }
      });
      try {
        const error = renamed.find((error) => error !== undefined);
        if (error !== undefined) throw error;
        // One flush of the directory makes every new name durable at once.
        if (this.#files.fsync && written.length > 0) await this.#syncJobDirectory();
      } catch (error) {
        // Rare (the data is written): jobs renamed into place may have been
        // seen by other engines meanwhile.
        await Promise.all(written.map((entry) => this.#takeBack(entry, true)));
        throw error;
      }
    });
    const results = new Map(own.map((job, index): [Job, AddResult] => {
      const entry = prepared[index]!;
      if (entry.late) return [job, { kind: "late", job }];
      return [job, { kind: entry.temp === undefined ? "held" : "added", job: entry.stored! }];
    }));
    return firsts.map((first, index) => {
      const result = results.get(jobs[first]!)!;
      // A job whose key went to an earlier one of the batch was not added.
      if (first === index || result.kind === "late") return result;
      return { kind: "held", job: result.job };
    });
  }

  /**
   * Writes a new job under a temporary name and takes its unique key; or,
   * when a waiting or running job holds the key, writes nothing and names
   * that job as the one stored.
   */
  async #prepare(job: Job): Promise<PreparedJob> {
    const path = this.#files.jobPath(fileNameOf(job));
    const temp = this.#files.tempPathFor(path);
    const data = JSON.stringify(job);
    if (isTooLargeForJobFile(data)) {
      return {
        job,
        error: new RangeError(
          `Cannot schedule job ${job.methodName}: its file would be over the limit of ` +
            `${MAX_JOB_FILE_BYTES} bytes; keep large data in files of your own and pass their paths`,
        ),
      };
    }
    try {
      await this.#files.writeNew(temp, data, { sync: this.#files.fsync });
    } catch (cause) {
      await this.#files.removeIfExists(temp).catch(() => {});
      return { job, error: this.#files.error("Cannot schedule the job", cause, job) };
    }
    if (job.uniqueKey === undefined) return { job, temp, stored: job };
    try {
      const holder = await this.#uniqueKeys.take(job, temp);
      if (holder === undefined && isScheduledOccurrence(job) && Date.now() >= job.executionDate) {
        // The key was free when the occurrence's date had come: it may have
        // run and let go of its key in another engine since this one
        // computed it. Stored now, it would run twice.
        await this.#uniqueKeys.release(job);
        await this.#files.removeIfExists(temp).catch(() => {});
        return { job, late: true };
      }
      if (holder === undefined) return { job, temp, stored: job };
      await this.#files.removeIfExists(temp).catch(() => {}); // else removed as a leftover on a later load
      return { job, stored: holder };
    } catch (cause) {
      await this.#files.removeIfExists(temp).catch(() => {});
      return {
        job,
        error: cause instanceof JobQueueError
          ? cause
          : this.#files.error("Cannot schedule the job", cause, job),
      };
    }
  }

  /** Undoes a prepared job: its temporary file, or its file once renamed, and its key. */
  async #takeBack(entry: PreparedJob, renamed: boolean): Promise<void> {
    await this.#files.removeIfExists(entry.temp!).catch(() => {});
    if (renamed) await this.#removeJobFile(entry.job).catch(() => {});
    await this.#uniqueKeys.release(entry.job);
  }

  async read(job: JobRef): Promise<Job | undefined> {
    const name = fileNameOf(job);
    const read = await this.#reader.read(name);
    // Unreadable for now: the next poll reads it again. (One that is gone
    // stays known, so that the next poll reports it removed.)
    if (this.#reader.isUnreadable(name)) this.#changes.forget(name);
    return read;
  }

  async find(id: string): Promise<Job | undefined> {
    const suffix = `__${id}.json`;
    const name = (await this.#files.list(this.#files.directory)).find((name) =>
      name.endsWith(suffix) && isJobFileName(name)
    );
    const job = name === undefined ? undefined : await this.#reader.read(name);
    if (job === undefined) return undefined;
    return asSeen(job, await this.#claims.exists(job));
  }

  async claim(job: JobRef): Promise<ClaimResult> {
    const claimedAt = Date.now();
    if (!await this.#claims.create(job, "Cannot claim job")) return { kind: "busy" };
    try {
      // Read the file again under the claim: another engine may have run,
      // finished or removed the job since this engine last looked.
      const current = await this.#reader.read(fileNameOf(job), "throw");
      if (current === undefined || !isUnfinished(current)) {
        await this.#claims.drop(job);
        return current === undefined ? { kind: "gone" } : { kind: "gone", job: current };
      }
      if (current.executionDate > claimedAt) {
        // Rescheduled by another engine since this one read it: a retry
        // waiting for its backoff.
        await this.#claims.drop(job);
        return { kind: "notDue", job: current };
      }
      // Not written: the claim tells that the job runs (see the class doc).
      const claimed = withChanges(current, {
        state: JobState.IN_PROGRESS,
        attempts: current.attempts + 1,
        startedAt: claimedAt,
        interruptions: this.#claims.interruptionsOf(current),
      });
      return { kind: "claimed", job: claimed };
    } catch (error) {
      await this.#claims.drop(job);
      throw error;
    }
  }

  async complete(job: Job, keep: boolean, result: unknown): Promise<Job | undefined> {
    const completed = withChanges(job, {
      state: JobState.COMPLETED,
      finishedAt: Date.now(),
      result,
    });
    if (keep) return await this.#writeOutcome(completed, "Cannot record that the job completed");
    if (!await this.#claims.holds(job)) return this.#claims.forget(job);
    await this.#removeJobFile(job).catch((cause) => {
      throw this.#files.error("Cannot remove the file of the completed job", cause, job);
    });
    await this.#uniqueKeys.release(job);
    await this.#claims.drop(job);
    return completed;
  }

  async progress(job: Job, progress: unknown): Promise<Job | undefined> {
    if (!await this.#claims.holds(job)) return undefined;
    // IN_PROGRESS in the file, with this attempt counted: a crash from now
    // on needs no counting by the engine that recovers the claim.
    const updated = withChanges(job, { progress });
    await this.#writeJob(updated, "Cannot record the job's progress");
    return updated;
  }

  async fail(job: Job, error: JobErrorRecord): Promise<Job | undefined> {
    const failed = withChanges(job, {
      state: JobState.FAILED,
      finishedAt: Date.now(),
      error,
    });
    return await this.#writeOutcome(failed, "Cannot record that the job failed");
  }

  async reschedule(
    job: Job,
    error: JobErrorRecord,
    executionDate: number,
    keepClaim = false,
  ): Promise<Job | undefined> {
    const retried = withChanges(job, { state: JobState.NOT_STARTED, executionDate, error });
    const waiting = await this.#writeOutcome(
      retried,
      "Cannot record the failed attempt",
      keepClaim,
    );
    if (waiting !== undefined && keepClaim) await this.#claims.keepForRetry(job);
    return waiting;
  }

  async unclaim(job: Job): Promise<boolean> {
    if (!await this.#claims.holds(job)) {
      this.#claims.forget(job);
      return false;
    }
    await this.#claims.drop(job);
    return true;
  }

  /** See {@linkcode JobStore.replace}. */
  async replace(failed: Job, fresh: Job): Promise<AddResult | undefined> {
    if (!await this.#claims.create(failed, "Cannot retry job")) return undefined;
    try {
      const current = await this.#reader.read(fileNameOf(failed), "throw");
      if (current?.state !== JobState.FAILED) return undefined;
      const [result] = await this.add([fresh]);
      if (result!.kind !== "added") return result;
      await this.#removeJobFile(current).catch((cause) => {
        throw this.#files.error(
          `Job ${current.key} runs again as ${fresh.key}, but its failed file cannot be removed`,
          cause,
          current,
        );
      });
      return result;
    } finally {
      await this.#claims.drop(failed);
    }
  }

  async release(job: Job, executionDate = job.executionDate): Promise<Job | undefined> {
    let holds: boolean;
    try {
      holds = await this.#claims.holds(job);
    } catch (error) {
      // Not knowing whether the claim is still ours, let recover() judge it:
      // a claim of this engine on a job it does not hold is removed there.
      this.#claims.leaveToRecovery(job);
      throw error;
    }
    if (!holds) return this.#claims.forget(job);
    const released = withChanges(job, {
      state: JobState.NOT_STARTED,
      executionDate,
      attempts: Math.max(0, job.attempts - 1),
    });
    try {
      await this.#writeJob(released, "Cannot give the job back");
    } finally {
      // Even if the file cannot be rewritten, the claim must go: the file
      // still says IN_PROGRESS, which any engine may run once unclaimed.
      await this.#claims.drop(job);
    }
    return released;
  }

  async remove(job: JobRef): Promise<boolean> {
    // Holding the claim while deleting keeps an engine from starting the job
    // in between; a job that is running is left alone.
    if (!await this.#claims.create(job, "Cannot remove job")) return false;
    try {
      const current = await this.#reader.read(fileNameOf(job), "throw");
      await this.#files.fs.remove(this.#files.jobPath(fileNameOf(job)));
      this.#changes.forget(fileNameOf(job));
      if (current !== undefined) await this.#uniqueKeys.release(current);
      return true;
    } catch (cause) {
      if (isNotFound(cause)) return false;
      throw this.#files.error(`Cannot remove job ${job.key}`, cause, job);
    } finally {
      await this.#claims.drop(job);
    }
  }

  async list(): Promise<Job[]> {
    const names = (await this.#files.list(this.#files.directory)).filter(isJobFileName);
    const jobs = await mapLimit(names, READ_CONCURRENCY, (name) => this.#reader.read(name));
    const claimed = new Set(await this.#claims.list());
    return jobs
      .filter((job) => job !== undefined)
      .map((job) => asSeen(job, claimed.has(fileNameOf(job))))
      .sort(compareIds);
  }

  async poll(): Promise<PollResult> {
    return await this.#changes.poll();
  }

  async recover(): Promise<number> {
    return await this.#claims.recover((name) => this.#countCutShortRun(name));
  }

  /**
   * Counts the attempt of a run that a dead engine's crash cut short, in
   * the job's file, so that a job that kills its process every time runs out
   * of attempts (the engine fails it, see JobQueueEngine). Skipped when
   * another engine claimed the job first.
   */
  async #countCutShortRun(name: string): Promise<void> {
    const ref = refOfFileName(name);
    if (ref === undefined) return;
    try {
      if (!await this.#claims.create(ref, "Cannot recover job")) return;
      try {
        const job = await this.#reader.read(name, "throw");
        // NOT_STARTED: the run is not counted yet. IN_PROGRESS: it was (it
        // reported progress); back to NOT_STARTED, so that the file says
        // IN_PROGRESS only while a run is live and a later crash is counted.
        if (job !== undefined && isUnfinished(job)) {
          const counted = job.state === JobState.IN_PROGRESS;
          await this.#writeJob(
            withChanges(job, {
              state: JobState.NOT_STARTED,
              attempts: counted ? job.attempts : job.attempts + 1,
              interruptions: this.#claims.interruptionsOf(job) + 1,
            }),
            "Cannot count the attempt that a crash cut short",
          );
        }
      } finally {
        await this.#claims.drop(ref);
      }
    } catch (error) {
      // The job runs again all the same; only the count is off by one.
      this.#files.report(
        error instanceof JobQueueError ? error : this.#files.error("Cannot recover", error),
      );
    }
  }

  async heartbeat(): Promise<void> {
    await this.#registry.heartbeat();
  }

  async engines(): Promise<EngineInfo[]> {
    return await this.#registry.engines();
  }

  /** Writes a job's file atomically. */
  async #writeJob(job: Job, failure: string): Promise<void> {
    await this.#files.atomicWrite(
      this.#files.jobPath(fileNameOf(job)),
      JSON.stringify(job),
      this.#files.fsync,
    ).catch((cause) => {
      throw this.#files.error(failure, cause, job);
    });
  }

  /** Removes a job's file; a file already gone is no error. */
  async #removeJobFile(job: JobRef): Promise<void> {
    await this.#files.removeIfExists(this.#files.jobPath(fileNameOf(job)));
    this.#changes.forget(fileNameOf(job));
  }

  /**
   * Writes a claimed job's outcome, then lets go of its claim unless
   * `keepClaim`; does nothing and resolves to `undefined` if the claim is no
   * longer this engine's.
   */
  async #writeOutcome(job: Job, failure: string, keepClaim = false): Promise<Job | undefined> {
    if (!await this.#claims.holds(job)) return this.#claims.forget(job);
    await this.#writeJob(job, failure);
    if (job.state === JobState.COMPLETED || job.state === JobState.FAILED) {
      await this.#uniqueKeys.release(job);
    }
    if (!keepClaim) await this.#claims.drop(job);
    return job;
  }

  async #syncJobDirectory(): Promise<void> {
    await this.#files.fs.syncDir(this.#files.directory).catch((cause) => {
      throw this.#files.error("Cannot flush the job directory to the disk", cause);
    });
  }
}
