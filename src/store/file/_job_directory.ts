import { basename, dirname, join } from "node:path";
import { mapLimit } from "../../_async.ts";
import { isAlreadyExists, isNotFound, isRefusedFile } from "../../fs/_fs_errors.ts";
import type { AddResult, EngineInfo, StoreEngine } from "../job_store.ts";
import process from "node:process";
import type { FileSystemAdapter, WriteTextFileOptions } from "../../fs/file_system.ts";
import {
  isScheduledOccurrence,
  isUnfinished,
  Job,
  type JobErrorRecord,
  JobState,
} from "../../job/job.ts";
import { JobQueueError } from "../../job_queue_error.ts";
import {
  compareIds,
  fileNameOf,
  idOfFileName,
  isJobFileName,
  isJobName,
  isTooLargeForJobFile,
  type JobRef,
  MAX_JOB_FILE_BYTES,
  parseJobText,
  refOfFileName,
  refusalOf,
  stripJson,
  truncateName,
  withChanges,
} from "./_job_files.ts";
import { limitOperations } from "./_limited_file_system.ts";
import { ENGINE_ID_PATTERN } from "../_engine_id.ts";

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

/** Changes to the stored jobs since the previous poll. */
export interface PollResult {
  /**
   * Jobs this engine has not seen before: those not due yet only by their
   * name, the others read.
   */
  readonly added: readonly (Job | JobRef)[];
  /** Ids of jobs that are no longer stored. */
  readonly removed: readonly string[];
  /** Ids of the jobs some engine holds a claim on. */
  readonly claimed: ReadonlySet<string>;
}

/** Options of {@linkcode JobDirectory}. */
export interface JobDirectoryOptions {
  /** The queue's directory. */
  directory: string;
  /** The file-system adapter. */
  fs: FileSystemAdapter;
  /** Whether job files and their directory are fsynced before a write resolves. */
  fsync: boolean;
  /** The permission bits of new files; new folders get them plus `x` where `r` is. */
  fileMode: number;
}

/** A claim: who holds a job. */
interface ClaimRecord {
  engineId: string;
  /** A claim kept on a job that waits for its retry (`retryLater` with `keepClaim`): no run. */
  retry?: true;
}

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

/** A unique-key file: which job holds the key. */
interface UniqueRecord {
  uniqueKey: string;
  jobId: string;
  methodName: string;
  engineId: string;
  createdAt: number;
  /** The job's temporary file in the job directory, while it is being added. */
  temp?: string;
}

/** An engine file: who is alive, refreshed by heartbeats. */
interface EngineRecord {
  engineId: string;
  pid: number;
  /** Where `pid` means something: see `FileSystemAdapter.hostId()`. */
  hostId?: string;
  /** The engine's own lease: others judge its heartbeat by it. */
  claimTimeout: number;
  startedAt: number;
  heartbeatAt: number;
}

/**
 * How an engine's heartbeat looked to this one: the same for how long, on
 * this engine's monotonic clock. Wall clocks are not compared across
 * processes: an NTP step or a resumed machine would make a live engine look
 * silent (or a dead one live).
 */
interface HeartbeatWatch {
  /** The engine file's modification time and text, when last read. */
  signature: string;
  /** When it was last read, on this engine's monotonic clock. */
  readAt: number;
  /** For how long, in ms, it has been seen unchanged. */
  silentFor: number;
}

/**
 * The most of an engine's lease that one gap between two readings of its
 * heartbeat counts for: a reader held up itself (a blocked event loop, a
 * suspended machine) did not see the engine silent for all that time, which
 * may have held the engine up too. Well below the third of a lease at which
 * engines beat, so that an engine held up with the reader, which beats as
 * soon as it runs again, is not taken for dead.
 */
const LONGEST_COUNTED_GAP = 1 / 4;

/** An engine file that exists but could not be read this time: taken as alive. */
const UNREADABLE = "unreadable";

/** What a listing of engine files tells about each engine. */
type EngineStatus = EngineRecord | typeof UNREADABLE;

/** Temporary files: `.<name>.<engineId>-<created, base 36>-<n>.tmp`. */
const TEMP_FILE_PATTERN = /^\..+\.([0-9a-f]{16})-([0-9a-z]+)-[0-9a-z]+\.tmp$/;

/** The largest claim, engine or unique-key file read, in bytes: these are small records. */
const MAX_RECORD_BYTES = 64 * 1024;

/** What a record file that is no regular file, or too large, reads as: never valid JSON. */
const REFUSED_RECORD = "\u0000not a regular file";

/** Files read at once when loading a directory. */
const READ_CONCURRENCY = 32;

/** Files written at once when adding many jobs. */
const WRITE_CONCURRENCY = 16;

/**
 * File operations in flight at once, across every call of a store: far
 * below the usual limit of open files (`ulimit -n`, often 1024), however many
 * jobs are scheduled at once.
 */
const FILE_OPERATION_LIMIT = 64;

/**
 * How often a unique key whose job file is not in place yet is looked at
 * again: its live engine renames the file into place once the whole batch
 * is written, however long that takes (a key whose job has neither its file
 * nor its temporary file is left over).
 */
const UNIQUE_KEY_RETRY_MS = 20;

/** A job as its file and claim tell: a running job's file is as it was before the run. */
function asSeen(job: Job, claimed: boolean): Job {
  return claimed && job.state === JobState.NOT_STARTED
    ? withChanges(job, { state: JobState.IN_PROGRESS, attempts: job.attempts + 1 })
    : job;
}

/** Engines alive in this process, so that a reused pid is not taken for a live one. */
const enginesInThisProcess = new Set<string>();

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
  readonly #directory: string;
  readonly #claims: string;
  readonly #engines: string;
  readonly #corrupt: string;
  readonly #unique: string;
  /** This engine's claim token: every claim of this engine is a link to it. */
  #token = "";
  readonly #fs: FileSystemAdapter;
  readonly #fsync: boolean;
  readonly #fileMode: number;
  readonly #directoryMode: number;
  /** The engine this directory works for, from open() on. */
  #claimTimeout = 0;
  #engineId = "";
  #report: (error: JobQueueError) => void = () => {};
  readonly #startedAt = Date.now();
  /** What identifies this host's processes, when the adapter can tell it. */
  readonly #hostId: string | undefined;
  /** Ids of the jobs this engine holds a claim on, or is about to. */
  readonly #heldClaims = new Set<string>();
  /** Job file names seen by poll() or written here, to read only new ones. */
  readonly #knownFiles = new Set<string>();
  /** For each poll under way, the job files this engine added meanwhile. */
  readonly #addedDuringPolls = new Set<Set<string>>();
  /** Job file names this engine is renaming into place, not yet known. */
  readonly #adding = new Set<string>();
  /** Job file names that could not be read, reported once until readable again. */
  readonly #unreadableJobs = new Set<string>();
  /**
   * Corrupt job files that could not be set aside: reported once, and not
   * read again while they stay listed.
   */
  readonly #stuckFiles = new Set<string>();
  /** Unreadable claim files and when they were first seen. */
  readonly #unreadableClaims = new Map<string, number>();
  #tempCounter = 0;
  /** Whether the next poll removes leftover temporary files from the job directory. */
  #sweepJobDirectory = true;
  /** Engines this store found dead and removed: their temporary files are leftovers. */
  readonly #deadEngines = new Set<string>();
  /** The heartbeats of the other engines, as this one watches them. */
  readonly #heartbeats = new Map<string, HeartbeatWatch>();
  /** The date this engine last gave its engine file, by a write or by touch(). */
  #beatAt = 0;
  /**
   * Jobs whose claim another engine took from this one while it ran them,
   * taking it for dead: the interruption counted for that run is undone the
   * next time this engine writes the job (see #interruptionsOf).
   */
  readonly #lostClaims = new Set<string>();

  constructor(options: JobDirectoryOptions) {
    this.#directory = options.directory;
    const internal = join(options.directory, ".jobq");
    this.#claims = join(internal, "claims");
    this.#engines = join(internal, "engines");
    this.#corrupt = join(internal, "corrupt");
    this.#unique = join(internal, "unique");
    this.#fs = limitOperations(options.fs, FILE_OPERATION_LIMIT);
    this.#fsync = options.fsync;
    this.#fileMode = options.fileMode;
    this.#directoryMode = options.fileMode | ((options.fileMode & 0o444) >> 2);
    this.#hostId = options.fs.hostId?.();
  }

  /** Registers `engine` as alive; until then, jobs can only be read. */
  async open(engine: StoreEngine): Promise<void> {
    this.#engineId = engine.engineId;
    this.#claimTimeout = engine.claimTimeout;
    this.#report = (error) => engine.report(error);
    this.#token = this.#tokenPath(engine.engineId);
    try {
      for (const path of [this.#claims, this.#engines, this.#corrupt, this.#unique]) {
        await this.#fs.mkdir(path, { mode: this.#directoryMode });
      }
      // The job directory may be new: its own entry must survive a power
      // loss too, or every job file in it would go with it.
      if (this.#fsync) await this.#fs.syncDir(dirname(this.#directory));
    } catch (cause) {
      throw new JobQueueError(
        `Cannot use ${this.#directory} as a job directory: ${messageOf(cause)}; ` +
          "check that the path is a directory this process may write to",
        { cause },
      );
    }
    enginesInThisProcess.add(this.#engineId);
    // The claim token is written by the first claim, after the engine file:
    // a token without one is a dead engine's leftover.
    await this.heartbeat();
    // Leftovers waste space but harm nothing: failing to remove them is no
    // reason to refuse the directory.
    // The job directory's leftovers are swept by the first poll, which lists
    // it anyway: one listing of a large directory instead of two.
    await this.#removeLeftovers([this.#claims, this.#engines, this.#unique]).catch((cause) =>
      this.#report(this.#error("Cannot remove leftover temporary files", cause))
    );
  }

  async close(): Promise<void> {
    enginesInThisProcess.delete(this.#engineId);
    await this.#removeEngine(this.#engineId).catch((cause) => {
      throw this.#error("Cannot remove this engine's file", cause);
    });
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
    for (const entry of written) this.#adding.add(fileNameOf(entry.job));
    try {
      const renamed = await mapLimit(written, WRITE_CONCURRENCY, async (entry) => {
        try {
          await this.#fs.rename(entry.temp!, this.#jobPath(fileNameOf(entry.job)));
          return undefined;
        } catch (cause) {
          return this.#error("Cannot schedule the job", cause, entry.job);
        }
      });
      try {
        const error = renamed.find((error) => error !== undefined);
        if (error !== undefined) throw error;
        // One flush of the directory makes every new name durable at once.
        if (this.#fsync && written.length > 0) await this.#syncJobDirectory();
      } catch (error) {
        // Rare (the data is written): jobs renamed into place may have been
        // seen by other engines meanwhile.
        await Promise.all(written.map((entry) => this.#takeBack(entry, true)));
        throw error;
      }
      for (const entry of written) {
        const name = fileNameOf(entry.job);
        this.#knownFiles.add(name);
        for (const added of this.#addedDuringPolls) added.add(name);
      }
    } finally {
      for (const entry of written) this.#adding.delete(fileNameOf(entry.job));
    }
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
    const path = this.#jobPath(fileNameOf(job));
    const temp = this.#tempPathFor(path);
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
      await this.#writeNew(temp, data, { sync: this.#fsync });
    } catch (cause) {
      await this.#removeIfExists(temp).catch(() => {});
      return { job, error: this.#error("Cannot schedule the job", cause, job) };
    }
    if (job.uniqueKey === undefined) return { job, temp, stored: job };
    try {
      const holder = await this.#takeUniqueKey(job, temp);
      if (holder === undefined && isScheduledOccurrence(job) && Date.now() >= job.executionDate) {
        // The key was free when the occurrence's date had come: it may have
        // run and let go of its key in another engine since this one
        // computed it. Stored now, it would run twice.
        await this.#releaseUniqueKey(job);
        await this.#removeIfExists(temp).catch(() => {});
        return { job, late: true };
      }
      if (holder === undefined) return { job, temp, stored: job };
      await this.#removeIfExists(temp).catch(() => {}); // else removed as a leftover on a later load
      return { job, stored: holder };
    } catch (cause) {
      await this.#removeIfExists(temp).catch(() => {});
      return {
        job,
        error: cause instanceof JobQueueError
          ? cause
          : this.#error("Cannot schedule the job", cause, job),
      };
    }
  }

  /** Undoes a prepared job: its temporary file, or its file once renamed, and its key. */
  async #takeBack(entry: PreparedJob, renamed: boolean): Promise<void> {
    await this.#removeIfExists(entry.temp!).catch(() => {});
    if (renamed) await this.#removeJobFile(entry.job).catch(() => {});
    await this.#releaseUniqueKey(entry.job);
  }

  async read(job: JobRef): Promise<Job | undefined> {
    const name = fileNameOf(job);
    const read = await this.#readJob(name);
    // Unreadable for now: the next poll reads it again. (One that is gone
    // stays known, so that the next poll reports it removed.)
    if (this.#unreadableJobs.has(name)) this.#knownFiles.delete(name);
    return read;
  }

  async find(id: string): Promise<Job | undefined> {
    const suffix = `__${id}.json`;
    const name = (await this.#listDirectory(this.#directory)).find((name) =>
      name.endsWith(suffix) && isJobFileName(name)
    );
    const job = name === undefined ? undefined : await this.#readJob(name);
    if (job === undefined) return undefined;
    return asSeen(job, await this.#readIfExists(this.#claimPath(job)) !== undefined);
  }

  async claim(job: JobRef): Promise<ClaimResult> {
    const claimedAt = Date.now();
    if (!await this.#createClaim(job, "Cannot claim job")) return { kind: "busy" };
    try {
      // Read the file again under the claim: another engine may have run,
      // finished or removed the job since this engine last looked.
      const current = await this.#readJob(fileNameOf(job), "throw");
      if (current === undefined || !isUnfinished(current)) {
        await this.#dropOwnClaim(job);
        return current === undefined ? { kind: "gone" } : { kind: "gone", job: current };
      }
      if (current.executionDate > claimedAt) {
        // Rescheduled by another engine since this one read it: a retry
        // waiting for its backoff.
        await this.#dropOwnClaim(job);
        return { kind: "notDue", job: current };
      }
      // Not written: the claim tells that the job runs (see the class doc).
      const claimed = withChanges(current, {
        state: JobState.IN_PROGRESS,
        attempts: current.attempts + 1,
        startedAt: claimedAt,
        interruptions: this.#interruptionsOf(current),
      });
      return { kind: "claimed", job: claimed };
    } catch (error) {
      await this.#dropOwnClaim(job);
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
    if (!await this.#holdsClaim(job)) return this.#forgetClaim(job);
    await this.#removeJobFile(job).catch((cause) => {
      throw this.#error("Cannot remove the file of the completed job", cause, job);
    });
    await this.#releaseUniqueKey(job);
    await this.#dropOwnClaim(job);
    return completed;
  }

  async progress(job: Job, progress: unknown): Promise<Job | undefined> {
    if (!await this.#holdsClaim(job)) return undefined;
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
    if (waiting !== undefined && keepClaim) {
      // Its run is over and counted: recovered, the claim must not count one more.
      const kept: ClaimRecord = { engineId: this.#engineId, retry: true };
      await this.#atomicWrite(this.#claimPath(job), JSON.stringify(kept), false).catch((cause) => {
        this.#report(this.#error("Cannot mark the claim of a job that waits to retry", cause, job));
      });
    }
    return waiting;
  }

  async unclaim(job: Job): Promise<boolean> {
    if (!await this.#holdsClaim(job)) {
      this.#forgetClaim(job);
      return false;
    }
    await this.#dropOwnClaim(job);
    return true;
  }

  /** See {@linkcode JobStore.replace}. */
  async replace(failed: Job, fresh: Job): Promise<AddResult | undefined> {
    if (!await this.#createClaim(failed, "Cannot retry job")) return undefined;
    try {
      const current = await this.#readJob(fileNameOf(failed), "throw");
      if (current?.state !== JobState.FAILED) return undefined;
      const [result] = await this.add([fresh]);
      if (result!.kind !== "added") return result;
      await this.#removeJobFile(current).catch((cause) => {
        throw this.#error(
          `Job ${current.key} runs again as ${fresh.key}, but its failed file cannot be removed`,
          cause,
          current,
        );
      });
      return result;
    } finally {
      await this.#dropOwnClaim(failed);
    }
  }

  async release(job: Job, executionDate = job.executionDate): Promise<Job | undefined> {
    let holds: boolean;
    try {
      holds = await this.#holdsClaim(job);
    } catch (error) {
      // Not knowing whether the claim is still ours, let recover() judge it:
      // a claim of this engine on a job it does not hold is removed there.
      this.#heldClaims.delete(job.id);
      throw error;
    }
    if (!holds) return this.#forgetClaim(job);
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
      await this.#dropOwnClaim(job);
    }
    return released;
  }

  async remove(job: JobRef): Promise<boolean> {
    // Holding the claim while deleting keeps an engine from starting the job
    // in between; a job that is running is left alone.
    if (!await this.#createClaim(job, "Cannot remove job")) return false;
    try {
      const current = await this.#readJob(fileNameOf(job), "throw");
      await this.#fs.remove(this.#jobPath(fileNameOf(job)));
      this.#knownFiles.delete(fileNameOf(job));
      if (current !== undefined) await this.#releaseUniqueKey(current);
      return true;
    } catch (cause) {
      if (isNotFound(cause)) return false;
      throw this.#error(`Cannot remove job ${job.key}`, cause, job);
    } finally {
      await this.#dropOwnClaim(job);
    }
  }

  async list(): Promise<Job[]> {
    const names = (await this.#listDirectory(this.#directory)).filter(isJobFileName);
    const jobs = await mapLimit(names, READ_CONCURRENCY, (name) => this.#readJob(name));
    const claimed = new Set(await this.#listDirectory(this.#claims));
    return jobs
      .filter((job) => job !== undefined)
      .map((job) => asSeen(job, claimed.has(fileNameOf(job))))
      .sort(compareIds);
  }

  async poll(): Promise<PollResult> {
    // Jobs added while the directory is listed may be missing from the
    // listing: they are known, not removed.
    const addedMeanwhile = new Set<string>();
    this.#addedDuringPolls.add(addedMeanwhile);
    try {
      return await this.#poll(addedMeanwhile);
    } finally {
      this.#addedDuringPolls.delete(addedMeanwhile);
    }
  }

  async #poll(addedMeanwhile: ReadonlySet<string>): Promise<PollResult> {
    const listing = await this.#listDirectory(this.#directory);
    if (this.#sweepJobDirectory) {
      this.#sweepJobDirectory = false;
      await this.#removeLeftovers([this.#directory], listing).catch((cause) =>
        this.#report(this.#error("Cannot remove leftover temporary files", cause))
      );
    }
    const names = listing.filter(isJobFileName);
    // A job not due yet cannot have run, so its name says all the engine
    // needs until it is due: its file is read then.
    const now = Date.now();
    const notDue: JobRef[] = [];
    const toRead: string[] = [];
    const fresh: string[] = [];
    let stillListed = 0;
    for (const name of names) {
      if (this.#knownFiles.has(name)) {
        stillListed++;
        continue;
      }
      if (this.#adding.has(name)) continue;
      fresh.push(name);
      const ref = refOfFileName(name);
      if (ref !== undefined && ref.executionDate > now) notDue.push(ref);
      else toRead.push(name);
    }
    // Every known file still listed: nothing was removed, and the set that
    // finds what was (as large as the directory) need not be built.
    const removed: string[] = [];
    if (stillListed < this.#knownFiles.size) {
      const listed = new Set(names);
      for (const name of this.#knownFiles) {
        if (!listed.has(name) && !addedMeanwhile.has(name)) {
          this.#knownFiles.delete(name);
          this.#stuckFiles.delete(name);
          removed.push(idOfFileName(name));
        }
      }
    }
    const read = await mapLimit(toRead, READ_CONCURRENCY, (name) => this.#readJob(name));
    const claimed = new Set(
      (await this.#listDirectory(this.#claims)).filter(isJobFileName).map(idOfFileName),
    );
    const added: (Job | JobRef)[] = read.filter((job) => job !== undefined);
    for (const ref of notDue) added.push(ref);
    // Known only once the whole poll has succeeded: a poll that fails half-way
    // must not hide the jobs it read from the next one. The names are the
    // listing's own strings: with many jobs, copies would cost megabytes.
    // (Files that turned out unreadable or corrupt are left out, but for
    // corrupt ones that could not be set aside: read once, reported once.)
    const unknown = new Set(
      toRead.filter((name, index) => read[index] === undefined && !this.#stuckFiles.has(name)),
    );
    for (const name of fresh) if (!unknown.has(name)) this.#knownFiles.add(name);
    return { added, removed, claimed };
  }

  async recover(): Promise<number> {
    // Claims are read before engines are listed: an engine registers before
    // it claims, so a claim whose engine is missing from the later listing
    // is an orphan. (A claim read after the listing could be one that an
    // engine registered since then has just made.)
    const claimNames = (await this.#listDirectory(this.#claims)).filter(isJobFileName);
    // A claim seen unreadable and gone since must not leave its first-seen
    // time to a later claim of the same job.
    for (const name of this.#unreadableClaims.keys()) {
      if (!claimNames.includes(name)) this.#unreadableClaims.delete(name);
    }
    const claims: { name: string; text: string }[] = [];
    for (const name of claimNames) {
      const text = await this.#readClaim(name);
      if (text !== undefined) claims.push({ name, text });
    }
    const engines = await this.#readEngines();
    // Judged once: an engine that dies while this runs must not see its
    // claims taken now and its files left for the next time.
    const dead = new Set<string>();
    for (const [engineId, engine] of engines) {
      if (!this.#isEngineAlive(engineId, engine)) {
        await this.#removeEngine(engineId).catch((cause) => {
          throw this.#error(`Cannot remove the file of dead engine ${engineId}`, cause);
        });
        this.#deadEngines.add(engineId);
        dead.add(engineId);
      }
    }
    let recovered = 0;
    for (const { name, text } of claims) {
      if (!this.#isStale(name, text, engines, dead)) continue;
      // Read again just before it is taken: a claim dropped and made anew
      // since (by this engine, or by one missing from the listing) is judged
      // at the next recovery. Judged again too: this engine may have claimed
      // the job again meanwhile.
      if (await this.#readClaim(name) !== text) continue;
      if (!this.#isStale(name, text, engines, dead)) continue;
      if (await this.#takeOver(join(this.#claims, name), text)) {
        this.#unreadableClaims.delete(name);
        recovered++;
        const claim = parseJson(text) as ClaimRecord | undefined;
        if (claim?.engineId !== this.#engineId && claim?.retry !== true) {
          await this.#countCutShortRun(name);
        }
      }
    }
    return recovered;
  }

  /** A claim's text, or `undefined` when it is gone. */
  async #readClaim(name: string): Promise<string | undefined> {
    return await this.#readIfExists(join(this.#claims, name)).catch((cause) => {
      throw this.#error(`Cannot read claim ${name}`, cause);
    });
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
      if (!await this.#createClaim(ref, "Cannot recover job")) return;
      try {
        const job = await this.#readJob(name, "throw");
        // NOT_STARTED: the run is not counted yet. IN_PROGRESS: it was (it
        // reported progress); back to NOT_STARTED, so that the file says
        // IN_PROGRESS only while a run is live and a later crash is counted.
        if (job !== undefined && isUnfinished(job)) {
          const counted = job.state === JobState.IN_PROGRESS;
          await this.#writeJob(
            withChanges(job, {
              state: JobState.NOT_STARTED,
              attempts: counted ? job.attempts : job.attempts + 1,
              interruptions: this.#interruptionsOf(job) + 1,
            }),
            "Cannot count the attempt that a crash cut short",
          );
        }
      } finally {
        await this.#dropOwnClaim(ref);
      }
    } catch (error) {
      // The job runs again all the same; only the count is off by one.
      this.#report(error instanceof JobQueueError ? error : this.#error("Cannot recover", error));
    }
  }

  async heartbeat(): Promise<void> {
    const path = this.#enginePath(this.#engineId);
    const record: EngineRecord = {
      engineId: this.#engineId,
      pid: process.pid,
      ...(this.#hostId === undefined ? {} : { hostId: this.#hostId }),
      claimTimeout: this.#claimTimeout,
      startedAt: this.#startedAt,
      heartbeatAt: Date.now(),
    };
    try {
      await this.#atomicWrite(path, JSON.stringify(record), false);
      this.#beatAt = record.heartbeatAt;
    } catch (cause) {
      // A full disk: the file's modification time tells others that this
      // engine lives as well, and changing it needs no space.
      if (!await this.#touch(path)) {
        throw this.#error("Cannot refresh this engine's heartbeat", cause);
      }
    }
  }

  /**
   * Gives an existing file a modification time other than the one it had
   * from this engine, even with a clock that stepped back or a file system
   * that keeps whole seconds; resolves to whether it could.
   */
  async #touch(path: string): Promise<boolean> {
    if (this.#fs.touch === undefined) return false;
    const now = Date.now();
    const date = Math.abs(now - this.#beatAt) >= 1000 ? now : this.#beatAt + 1000;
    try {
      await this.#fs.touch(path, new Date(date));
    } catch {
      return false;
    }
    this.#beatAt = date;
    return true;
  }

  /**
   * A job's count of interruptions, less the one counted when another engine
   * took this engine's claim on it for a dead engine's: this engine lived,
   * and a job must not be failed for deaths that did not happen.
   */
  #interruptionsOf(job: Job): number {
    return this.#lostClaims.delete(job.id) ? Math.max(0, job.interruptions - 1) : job.interruptions;
  }

  /**
   * Writes a job's file atomically; with `syncDirectory` false, the caller
   * flushes the directory (with `fsync`) before it relies on the new name.
   */
  async #writeJob(job: Job, failure: string, syncDirectory = true): Promise<void> {
    await this.#atomicWrite(
      this.#jobPath(fileNameOf(job)),
      JSON.stringify(job),
      this.#fsync,
      syncDirectory,
    ).catch((cause) => {
      throw this.#error(failure, cause, job);
    });
  }

  /**
   * Takes the job's unique key: resolves to `undefined` once it is the job's,
   * or to the waiting or running job that holds it. A key whose job is
   * finished or gone is left over (its engine died, or could not remove it)
   * and is taken over.
   */
  async #takeUniqueKey(job: Job, temp: string): Promise<Job | undefined> {
    const path = await this.#uniquePath(job.uniqueKey!);
    const record: UniqueRecord = {
      uniqueKey: job.uniqueKey!,
      jobId: job.id,
      methodName: job.methodName,
      engineId: this.#engineId,
      createdAt: Date.now(),
      temp: basename(temp),
    };
    for (;;) {
      if (await this.#linkNew(path, JSON.stringify(record))) return undefined;
      const text = await this.#readIfExists(path);
      if (text === undefined) continue;
      const holder = parseJson(text) as UniqueRecord | undefined;
      // Names from a file reach paths only when they are names jobq makes;
      // a record with others is no key of a job, and is taken over.
      if (holder !== undefined && isJobName(holder.methodName, holder.jobId)) {
        const name = `${holder.methodName}__${holder.jobId}.json`;
        const held = await this.#readJob(name);
        if (held !== undefined && isUnfinished(held)) return held;
        if (held === undefined) {
          const engines = await this.#readEngines();
          if (
            this.#isEngineAlive(holder.engineId, engines.get(holder.engineId)) &&
            await this.#isBeingAdded(holder, name)
          ) {
            // Its engine will rename the job file into place: look again.
            await new Promise((resolve) => setTimeout(resolve, UNIQUE_KEY_RETRY_MS));
            continue;
          }
          // Renamed into place since it was looked for?
          const renamed = await this.#readJob(name);
          if (renamed !== undefined && isUnfinished(renamed)) return renamed;
        }
      }
      await this.#takeOver(path, text);
    }
  }

  /**
   * Whether the job that holds a unique key still has the temporary file it
   * was written to: its engine is adding it, however long its batch takes.
   * Only a temporary file of that job and engine is looked at.
   */
  async #isBeingAdded(holder: UniqueRecord, name: string): Promise<boolean> {
    const temp = holder.temp;
    if (
      typeof temp !== "string" || temp !== basename(temp) ||
      !temp.startsWith(`.${name}.${holder.engineId}-`) || !TEMP_FILE_PATTERN.test(temp)
    ) {
      return false;
    }
    return await this.#readIfExists(join(this.#directory, temp)) !== undefined;
  }

  /** Lets go of the job's unique key, if it holds one. */
  async #releaseUniqueKey(job: Job): Promise<void> {
    if (job.uniqueKey === undefined) return;
    const path = await this.#uniquePath(job.uniqueKey);
    try {
      const text = await this.#readIfExists(path);
      const holder = parseJson(text) as UniqueRecord | undefined;
      // Through steal(): another engine may take the key over at any moment,
      // and its record must not be removed in its place.
      if (text !== undefined && holder?.jobId === job.id) await this.#takeOver(path, text);
    } catch (cause) {
      // Left over, the key is taken over by the next job that asks for it.
      this.#report(this.#error(`Cannot release the unique key of job ${job.key}`, cause, job));
    }
  }

  /** Removes a job's file; a file already gone is no error. */
  async #removeJobFile(job: JobRef): Promise<void> {
    await this.#removeIfExists(this.#jobPath(fileNameOf(job)));
    this.#knownFiles.delete(fileNameOf(job));
  }

  /**
   * Writes a claimed job's outcome, then lets go of its claim unless
   * `keepClaim`; does nothing and resolves to `undefined` if the claim is no
   * longer this engine's.
   */
  async #writeOutcome(job: Job, failure: string, keepClaim = false): Promise<Job | undefined> {
    if (!await this.#holdsClaim(job)) return this.#forgetClaim(job);
    await this.#writeJob(job, failure);
    if (job.state === JobState.COMPLETED || job.state === JobState.FAILED) {
      await this.#releaseUniqueKey(job);
    }
    if (!keepClaim) await this.#dropOwnClaim(job);
    return job;
  }

  /** Forgets a claim this engine lost to another: that one's run owns the file now. */
  #forgetClaim(job: Job): undefined {
    this.#heldClaims.delete(job.id);
    this.#lostClaims.add(job.id);
    return undefined;
  }

  /**
   * Tells whether this engine still holds the job's claim. It does not when
   * it stalled for longer than `claimTimeout` and another engine recovered
   * the claim: the other engine's run then owns the job's file.
   */
  async #holdsClaim(job: Job): Promise<boolean> {
    const text = await this.#readRecord(this.#claimPath(job)).catch((cause) => {
      if (isNotFound(cause)) return undefined;
      throw this.#error(`Cannot read the claim on job ${job.key}`, cause, job);
    });
    return (parseJson(text) as ClaimRecord | undefined)?.engineId === this.#engineId;
  }

  /**
   * Claims a job for this engine, exclusively: resolves to `false` when
   * another engine holds the job.
   */
  async #createClaim(job: JobRef, failure: string): Promise<boolean> {
    // Held before the file exists, so that recover() never takes it for a
    // leftover; a claim this engine already holds stays held on failure.
    const held = this.#heldClaims.has(job.id);
    this.#heldClaims.add(job.id);
    // A link to this engine's token: it fails if the claim exists, so it is
    // as exclusive as O_EXCL, and a claim is whole from the start.
    const path = this.#claimPath(job);
    try {
      try {
        await this.#fs.link(this.#token, path);
      } catch (error) {
        // No token yet (the first claim), or gone (an engine took this one
        // for dead and cleaned up after it): make it.
        if (!isNotFound(error)) throw error;
        await this.#writeToken();
        await this.#fs.link(this.#token, path);
      }
      return true;
    } catch (cause) {
      if (!held) this.#heldClaims.delete(job.id);
      if (isAlreadyExists(cause)) return false;
      throw this.#error(`${failure} ${job.key}`, cause, job);
    }
  }

  /**
   * Creates the claim token unless it exists. Never replaces it: claims
   * made at the same time may be linking to it, and a link to a file that
   * has just lost its last name fails with ENOENT.
   */
  async #writeToken(): Promise<void> {
    const token: ClaimRecord = { engineId: this.#engineId };
    await this.#linkNew(this.#token, JSON.stringify(token)).catch((cause) => {
      throw this.#error("Cannot write this engine's claim token", cause);
    });
  }

  /** Removes an engine's file, then its claim token. */
  async #removeEngine(engineId: string): Promise<void> {
    await this.#removeIfExists(this.#enginePath(engineId));
    await this.#removeIfExists(this.#tokenPath(engineId));
  }

  /**
   * Creates `path` holding `data` unless it exists: resolves to `false` then.
   * Written whole under a temporary name, then linked into place: the link
   * fails if the name exists, so it is as exclusive as O_EXCL, and a process
   * killed half-way leaves no empty file behind.
   */
  async #linkNew(path: string, data: string): Promise<boolean> {
    const temp = this.#tempPathFor(path);
    try {
      await this.#writeNew(temp, data);
      await this.#fs.link(temp, path);
      return true;
    } catch (cause) {
      if (isAlreadyExists(cause)) return false;
      throw cause;
    } finally {
      await this.#removeIfExists(temp).catch(() => {}); // else removed as a leftover on a later load
    }
  }

  /**
   * Lets go of this engine's claim on a job. A claim file that cannot be
   * removed now is reported, not thrown: what it guards is already written,
   * and recover() removes this engine's claims on jobs it no longer holds.
   */
  async #dropOwnClaim(job: JobRef): Promise<void> {
    this.#heldClaims.delete(job.id);
    await this.#removeIfExists(this.#claimPath(job)).catch((cause) => {
      this.#report(
        this.#error(
          `Cannot remove the claim on job ${job.key} yet; it will be retried by the next poll`,
          cause,
          job,
        ),
      );
    });
  }

  /**
   * Writes `data` to a temporary name beside `path`, then renames it into
   * place: readers see the old file or the new one, never a part. With
   * `sync`, the data and then the directory entry are flushed to the disk.
   */
  async #atomicWrite(
    path: string,
    data: string,
    sync: boolean,
    syncDirectory = sync,
  ): Promise<void> {
    // Written under a temporary name that says whose it is and since when,
    // so that a crashed writer's leftovers can be told from live writes.
    const tempPath = this.#tempPathFor(path);
    try {
      // The file keeps the mode its owner gave it.
      const mode = await this.#fs.lstat(path).then(
        (info) => info.kind === "file" ? info.mode : undefined,
        (error) => {
          if (isNotFound(error)) return undefined;
          throw error;
        },
      );
      await this.#writeNew(tempPath, data, { sync, ...(mode === undefined ? {} : { mode }) });
      await this.#fs.rename(tempPath, path);
    } catch (error) {
      await this.#fs.remove(tempPath).catch(() => {});
      throw error;
    }
    if (sync && syncDirectory) await this.#fs.syncDir(dirname(path));
  }

  /**
   * Creates a file with this store's mode unless told another, never
   * through a link planted at its (predictable) name.
   */
  async #writeNew(path: string, data: string, options: WriteTextFileOptions = {}): Promise<void> {
    await this.#fs.writeTextFile(path, data, { mode: this.#fileMode, ...options, createNew: true });
  }

  async #syncJobDirectory(): Promise<void> {
    await this.#fs.syncDir(this.#directory).catch((cause) => {
      throw this.#error("Cannot flush the job directory to the disk", cause);
    });
  }

  /**
   * Reads and validates a job file. A file that is gone yields `undefined`.
   * One whose content is not the job its name promises, or that is no
   * regular file (a link, a FIFO, a device) or is too large to read, is set
   * aside and reported. One that cannot be read at all (a directory, no
   * permission, a passing I/O error) may recover, so it stays where it is:
   * with `"skip"` it is reported once and skipped, with `"throw"` the error
   * is thrown.
   */
  async #readJob(name: string, unreadable: "skip" | "throw" = "skip"): Promise<Job | undefined> {
    let text: string;
    try {
      text = await this.#fs.readTextFile(this.#jobPath(name), { maxBytes: MAX_JOB_FILE_BYTES });
      this.#unreadableJobs.delete(name);
    } catch (cause) {
      if (isNotFound(cause)) return undefined;
      if (isRefusedFile(cause)) {
        await this.#setAside(name, new TypeError(refusalOf(cause), { cause }));
        return undefined;
      }
      if (unreadable === "throw") throw this.#error(`Cannot read job file ${name}`, cause);
      if (!this.#unreadableJobs.has(name)) {
        this.#unreadableJobs.add(name);
        this.#report(this.#error(
          `Cannot read job file ${name}, so it is skipped until it can be read`,
          cause,
          undefined,
          this.#jobPath(name),
        ));
      }
      return undefined;
    }
    try {
      const job = Job.fromJSON(parseJobText(text));
      if (fileNameOf(job) !== name) {
        throw new TypeError(`it holds job ${job.key}, which belongs in ${fileNameOf(job)}`);
      }
      return job;
    } catch (cause) {
      await this.#setAside(name, cause);
      return undefined;
    }
  }

  async #setAside(name: string, cause: unknown): Promise<void> {
    // Named after the file, shortened if need be so that the name still fits.
    const suffix = `.${Date.now()}-${randomHex()}`;
    const target = join(this.#corrupt, `${truncateName(name, suffix)}${suffix}`);
    try {
      await this.#fs.rename(this.#jobPath(name), target);
      this.#stuckFiles.delete(name);
    } catch (renameError) {
      if (isNotFound(renameError)) return; // another engine set it aside first
      // Reported once: polls leave it alone while it stays listed.
      if (this.#stuckFiles.has(name)) return;
      this.#stuckFiles.add(name);
      this.#report(
        this.#error(
          `Cannot set aside job file ${name}, which is not a valid job (${messageOf(cause)})`,
          renameError,
          undefined,
          name,
        ),
      );
      return;
    }
    this.#knownFiles.delete(name);
    this.#report(
      new JobQueueError(
        `Job file ${name} is not a valid job (${messageOf(cause)}); it was moved to ${target}: ` +
          "repair it and move it back to run it, or delete it",
        { cause, info: { file: target } },
      ),
    );
  }

  async engines(): Promise<EngineInfo[]> {
    const engines: EngineInfo[] = [];
    for (const [id, engine] of await this.#readEngines()) {
      if (engine === UNREADABLE) continue;
      const { pid, startedAt, heartbeatAt } = engine;
      const alive = this.#isEngineAlive(id, engine);
      engines.push({ id, pid, startedAt, heartbeatAt, alive, current: id === this.#engineId });
    }
    return engines;
  }

  /**
   * Reads the engine files, `<engineId>.json`, and watches their
   * heartbeats. One that exists but cannot be read this time (a passing I/O
   * error) counts as alive: taking a live engine for dead would run its jobs
   * twice. One that is not the record of the engine its name says (other
   * files, links, forgeries) is left out, and so counts as dead. Ids come
   * from names checked to be engine ids, so that removing a dead engine's
   * files never reaches outside the folder.
   */
  async #readEngines(): Promise<Map<string, EngineStatus>> {
    const engines = new Map<string, EngineStatus>();
    for (const name of await this.#listDirectory(this.#engines)) {
      if (!name.endsWith(".json")) continue;
      const engineId = stripJson(name);
      if (!ENGINE_ID_PATTERN.test(engineId)) continue;
      let text: string;
      let modifiedAt: number | undefined;
      try {
        const path = join(this.#engines, name);
        text = await this.#readRecord(path);
        modifiedAt = await this.#fs.modifiedAt?.(path);
      } catch (cause) {
        if (!isNotFound(cause)) engines.set(engineId, UNREADABLE);
        continue;
      }
      const record = parseJson(text) as EngineRecord | undefined;
      if (
        record?.engineId === engineId && typeof record.heartbeatAt === "number" &&
        typeof record.pid === "number"
      ) {
        engines.set(engineId, record);
        this.#watchHeartbeat(record, `${modifiedAt} ${text}`);
      }
    }
    for (const engineId of this.#heartbeats.keys()) {
      if (!engines.has(engineId)) this.#heartbeats.delete(engineId);
    }
    return engines;
  }

  /** Notes how an engine's heartbeat looks now: changed, or the same for longer. */
  #watchHeartbeat(engine: EngineRecord, signature: string): void {
    const now = performance.now();
    const seen = this.#heartbeats.get(engine.engineId);
    if (seen === undefined || seen.signature !== signature) {
      this.#heartbeats.set(engine.engineId, { signature, readAt: now, silentFor: 0 });
      return;
    }
    seen.silentFor += Math.min(now - seen.readAt, this.#leaseOf(engine) * LONGEST_COUNTED_GAP);
    seen.readAt = now;
  }

  /** How long an engine may go unheard: its own claimTimeout. */
  #leaseOf(engine: EngineRecord): number {
    const lease = engine.claimTimeout;
    return typeof lease === "number" && lease > 0 && lease < Infinity ? lease : this.#claimTimeout;
  }

  /** Tells whether a claim's engine is gone, so that the claim can be taken back. */
  #isStale(
    name: string,
    text: string,
    engines: Map<string, EngineStatus>,
    dead: ReadonlySet<string>,
  ): boolean {
    const claim = parseJson(text) as ClaimRecord | undefined;
    if (claim === undefined || typeof claim.engineId !== "string") {
      // Claims are linked into place whole; one that cannot be read was
      // damaged some other way (a disk fault, a hand edit). Give it the lease.
      const firstSeen = this.#unreadableClaims.get(name) ?? performance.now();
      this.#unreadableClaims.set(name, firstSeen);
      return performance.now() - firstSeen > this.#claimTimeout;
    }
    this.#unreadableClaims.delete(name);
    if (claim.engineId === this.#engineId) {
      // This engine's own claim on a job it no longer holds: one whose
      // removal failed earlier.
      return !this.#heldClaims.has(idOfFileName(name));
    }
    const engine = engines.get(claim.engineId);
    return engine === undefined
      ? !this.#isEngineAlive(claim.engineId, undefined)
      : dead.has(claim.engineId);
  }

  /**
   * Whether an engine lives: by its pid on this host, else by its heartbeat,
   * which must not have been seen unchanged for its lease (see
   * #watchHeartbeat). An engine first seen now has a lease to show that it
   * lives.
   */
  #isEngineAlive(engineId: string, engine: EngineStatus | undefined): boolean {
    if (engine === UNREADABLE) return true;
    // An engine that says it runs on another host is judged by its heartbeat,
    // even when its id is one of this process's (an adapter that tells
    // another host id: a store that stands for another machine's in tests).
    if (enginesInThisProcess.has(engineId) && engine?.hostId === this.#hostId) return true;
    if (engine === undefined) return enginesInThisProcess.has(engineId);
    if (this.#hostId !== undefined && engine.hostId === this.#hostId) {
      // Same host and pid namespace: a dead pid, or this very pid (reused
      // after a restart) for an engine this process does not run, is proof
      // of death; a live pid is proof of life, whatever its heartbeat says
      // (its event loop may be blocked).
      if (engine.pid === process.pid) return false;
      const alive = this.#fs.isProcessAlive?.(engine.pid);
      if (alive !== undefined) return alive;
    }
    const seen = this.#heartbeats.get(engineId);
    return seen === undefined || seen.silentFor < this.#leaseOf(engine);
  }

  /**
   * Takes a stale claim or unique key away: renames it to a private name (one
   * engine wins the rename), then checks that it is the file that was judged
   * stale. If a new one had taken its place meanwhile, it is put back.
   */
  async #takeOver(path: string, staleText: string): Promise<boolean> {
    const stolen = this.#tempPathFor(path);
    try {
      await this.#fs.rename(path, stolen);
    } catch (cause) {
      if (isNotFound(cause)) return false;
      throw this.#error(`Cannot recover ${path}`, cause);
    }
    try {
      if (await this.#readRecord(stolen) !== staleText) {
        await this.#fs.link(stolen, path).catch((cause) => {
          this.#report(this.#error(`A live ${path} was lost during recovery`, cause));
        });
        return false;
      }
      return true;
    } catch (cause) {
      throw this.#error(`Cannot recover ${path}`, cause);
    } finally {
      await this.#removeIfExists(stolen).catch(() => {}); // a leftover temp file, removed on a later load
    }
  }

  /**
   * Removes temporary files left by engines that died while writing, and
   * the claim tokens of dead engines. A
   * temporary file of an engine with no engine file yet may belong to one
   * that is starting, so those are removed only once older than the lease.
   */
  async #removeLeftovers(directories: string[], listing?: string[]): Promise<void> {
    const engines = await this.#readEngines();
    for (const directory of directories) {
      for (const name of listing ?? await this.#listDirectory(directory)) {
        if (directory === this.#engines && name.endsWith(".claim")) {
          // A token whose engine file is gone: that engine died.
          const owner = name.slice(0, -".claim".length);
          if (!engines.has(owner) && !enginesInThisProcess.has(owner)) {
            await this.#removeIfExists(join(directory, name));
          }
          continue;
        }
        const temp = TEMP_FILE_PATTERN.exec(name);
        if (temp === null) continue;
        const [, owner, createdAt] = temp as unknown as [string, string, string];
        const engine = engines.get(owner);
        const old = Date.now() - parseInt(createdAt, 36) > this.#claimTimeout;
        // An engine taken for dead may have been only held up: once its file
        // is back, its temporary files are live again.
        const dead = engine === undefined
          ? this.#deadEngines.has(owner) || (!enginesInThisProcess.has(owner) && old)
          : !this.#isEngineAlive(owner, engine);
        if (dead) {
          await this.#removeIfExists(join(directory, name));
        }
      }
    }
  }

  async #listDirectory(path: string): Promise<string[]> {
    try {
      return await this.#fs.readDir(path);
    } catch (cause) {
      throw this.#error(`Cannot list ${path}`, cause);
    }
  }

  /**
   * Reads one of jobq's own small records (claim, engine, unique key). One
   * that is no regular file or too large reads as {@linkcode REFUSED_RECORD}:
   * damaged like any record that does not parse, and recovered as one.
   */
  #readRecord(path: string): Promise<string> {
    return this.#fs.readTextFile(path, { maxBytes: MAX_RECORD_BYTES }).catch((error) => {
      if (isRefusedFile(error)) return REFUSED_RECORD;
      throw error;
    });
  }

  async #readIfExists(path: string): Promise<string | undefined> {
    try {
      return await this.#readRecord(path);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async #removeIfExists(path: string): Promise<void> {
    try {
      await this.#fs.remove(path);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /**
   * A temporary name beside `path`: a leading dot and a `.tmp` suffix keep it
   * from being taken for a job or a claim, and the engine id in it tells
   * whose it is once that engine is dead.
   */
  #tempPathFor(path: string): string {
    const suffix = `${this.#engineId}-${Date.now().toString(36)}-${
      (this.#tempCounter++).toString(36)
    }`;
    return join(dirname(path), `.${basename(path)}.${suffix}.tmp`);
  }

  #jobPath(name: string): string {
    // Names come from listings and from validated names; a path in one
    // would be a bug, never a reason to reach outside the directory.
    if (basename(name) !== name || name === "..") {
      throw new TypeError(`Cannot use ${JSON.stringify(name)} as a job file name`);
    }
    return join(this.#directory, name);
  }

  #claimPath(job: JobRef): string {
    return join(this.#claims, fileNameOf(job));
  }

  /** Keys can hold any text: the file is named by their SHA-256. */
  async #uniquePath(uniqueKey: string): Promise<string> {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(uniqueKey));
    const hex = Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0"));
    return join(this.#unique, `${hex.join("")}.json`);
  }

  #tokenPath(engineId: string): string {
    return join(this.#engines, `${engineId}.claim`);
  }

  #enginePath(engineId: string): string {
    return join(this.#engines, `${engineId}.json`);
  }

  #error(what: string, cause: unknown, job?: JobRef, file?: string): JobQueueError {
    return new JobQueueError(
      `${what}: ${
        messageOf(cause)
      }; check the permissions of ${this.#directory} and the space on its disk`,
      { cause, info: { ...(job instanceof Job && { job }), ...(file && { file }) } },
    );
  }
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function randomHex(): string {
  return crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16).padStart(8, "0");
}
