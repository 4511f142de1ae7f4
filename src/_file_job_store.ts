import { basename, dirname, join } from "node:path";
import { mapLimit } from "./_async.ts";
import { isAlreadyExists, isNotFound } from "./_fs_errors.ts";
import type { ClaimResult, JobStore, PollResult } from "./_job_store.ts";
import process from "node:process";
import type { FileSystemAdapter } from "./file_system.ts";
import { Job, type JobErrorRecord, type JobRecord, JobState } from "./job.ts";
import { JobQueueError } from "./job_queue_error.ts";

/** Options of {@linkcode FileJobStore}. */
export interface FileJobStoreOptions {
  /** The queue's directory. */
  directory: string;
  /** The file-system adapter. */
  fs: FileSystemAdapter;
  /** Whether job files and their directory are fsynced before a write resolves. */
  fsync: boolean;
  /** How long an engine may go unheard before its claims are recovered, in ms. */
  claimTimeout: number;
  /** The id of the engine this store works for. */
  engineId: string;
  /** Receives problems that do not fail an operation (corrupt files, …). */
  report(error: JobQueueError): void;
}

/** A claim file: who holds a job. */
interface ClaimRecord {
  engineId: string;
  claimedAt: number;
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

/** An engine file that exists but could not be read this time: taken as alive. */
const UNREADABLE = "unreadable";

/** What a listing of engine files tells about each engine. */
type EngineStatus = EngineRecord | typeof UNREADABLE;

/** Temporary files: `.<name>.<engineId>-<created, base 36>-<n>.tmp`. */
const TEMP_FILE_PATTERN = /^\..+\.([0-9a-f]{16})-([0-9a-z]+)-[0-9a-z]+\.tmp$/;

/** Files read at once when loading a directory. */
const READ_CONCURRENCY = 32;

/** Engines alive in this process, so that a reused pid is not taken for a live one. */
const enginesInThisProcess = new Set<string>();

/**
 * The file store: one JSON file per job, `<directory>/<methodName>__<id>.json`,
 * and jobq's own state under `<directory>/.jobq/`:
 *
 * - `claims/<id>.json`: written whole under a temporary name, then hard-linked
 *   into place by the engine that runs the job (a link fails if the name
 *   exists), so two engines never run it at once and no claim is ever seen
 *   half-written; removed after the outcome is written.
 * - `engines/<engineId>.json`: one per live engine, rewritten by heartbeats;
 *   the claims of an engine that is gone, or silent for `claimTimeout`, are
 *   recovered.
 * - `corrupt/`: job files that could not be read, set aside, never deleted.
 *
 * Every write goes to a temporary name (a leading dot and a `.tmp` suffix,
 * never taken for a job) and is then renamed into place, so readers never
 * see a partial file.
 */
export class FileJobStore implements JobStore {
  readonly #directory: string;
  readonly #claims: string;
  readonly #engines: string;
  readonly #corrupt: string;
  readonly #fs: FileSystemAdapter;
  readonly #fsync: boolean;
  readonly #claimTimeout: number;
  readonly #engineId: string;
  readonly #report: (error: JobQueueError) => void;
  readonly #startedAt = Date.now();
  /** What identifies this host's processes, when the adapter can tell it. */
  readonly #hostId: string | undefined;
  /** Ids of the jobs this engine holds a claim on, or is about to. */
  readonly #heldClaims = new Set<string>();
  /** Job file names seen by poll() or written here, to read only new ones. */
  readonly #knownFiles = new Set<string>();
  /** Job file names that could not be read, reported once until readable again. */
  readonly #unreadableJobs = new Set<string>();
  /** Unreadable claim files and when they were first seen. */
  readonly #unreadableClaims = new Map<string, number>();
  #tempCounter = 0;

  constructor(options: FileJobStoreOptions) {
    this.#directory = options.directory;
    const internal = join(options.directory, ".jobq");
    this.#claims = join(internal, "claims");
    this.#engines = join(internal, "engines");
    this.#corrupt = join(internal, "corrupt");
    this.#fs = options.fs;
    this.#fsync = options.fsync;
    this.#claimTimeout = options.claimTimeout;
    this.#engineId = options.engineId;
    this.#report = options.report;
    this.#hostId = options.fs.hostId?.();
  }

  async open(): Promise<void> {
    try {
      for (const path of [this.#claims, this.#engines, this.#corrupt]) {
        await this.#fs.mkdir(path);
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
    await this.heartbeat();
    // Leftovers waste space but harm nothing: failing to remove them is no
    // reason to refuse the directory.
    await this.#removeLeftoverTempFiles().catch((cause) =>
      this.#report(this.#error("Cannot remove leftover temporary files", cause))
    );
  }

  async close(): Promise<void> {
    enginesInThisProcess.delete(this.#engineId);
    await this.#removeIfExists(this.#enginePath(this.#engineId)).catch((cause) => {
      throw this.#error("Cannot remove this engine's file", cause);
    });
  }

  async add(job: Job): Promise<void> {
    const file = fileNameOf(job);
    await this.#writeJob(job, "Cannot schedule the job");
    this.#knownFiles.add(file);
  }

  async claim(job: Job): Promise<ClaimResult> {
    const claimedAt = Date.now();
    if (!await this.#createClaim(job, claimedAt, "Cannot claim job")) return { kind: "busy" };
    try {
      // Read the file again under the claim: another engine may have run,
      // finished or removed the job since this engine last looked.
      const current = await this.#readJob(fileNameOf(job), "throw");
      if (current === undefined || !isRunnable(current)) {
        await this.#dropOwnClaim(job);
        return current === undefined ? { kind: "gone" } : { kind: "gone", job: current };
      }
      if (current.executionDate > claimedAt) {
        // Rescheduled by another engine since this one read it: a retry
        // waiting for its backoff.
        await this.#dropOwnClaim(job);
        return { kind: "notDue", job: current };
      }
      const claimed = withChanges(current, {
        state: JobState.IN_PROGRESS,
        attempts: current.attempts + 1,
        startedAt: claimedAt,
      });
      await this.#writeJob(claimed, "Cannot start the job");
      return { kind: "claimed", job: claimed };
    } catch (error) {
      await this.#dropOwnClaim(job);
      throw error;
    }
  }

  async complete(job: Job, keep: boolean): Promise<Job | undefined> {
    const completed = withChanges(job, {
      state: JobState.COMPLETED,
      finishedAt: Date.now(),
    });
    if (keep) return await this.#settle(completed, "Cannot record that the job completed");
    if (!await this.#holdsClaim(job)) return this.#letGo(job);
    await this.#fs.remove(this.#jobPath(fileNameOf(job))).catch((cause) => {
      if (!isNotFound(cause)) {
        throw this.#error("Cannot remove the file of the completed job", cause, job);
      }
    });
    this.#knownFiles.delete(fileNameOf(job));
    await this.#dropOwnClaim(job);
    return completed;
  }

  fail(job: Job, error: JobErrorRecord): Promise<Job | undefined> {
    const failed = withChanges(job, {
      state: JobState.FAILED,
      finishedAt: Date.now(),
      error,
    });
    return this.#settle(failed, "Cannot record that the job failed");
  }

  reschedule(job: Job, error: JobErrorRecord, executionDate: number): Promise<Job | undefined> {
    const retried = withChanges(job, { state: JobState.NOT_STARTED, executionDate, error });
    return this.#settle(retried, "Cannot record the failed attempt");
  }

  async revive(job: Job): Promise<Job | undefined> {
    if (!await this.#createClaim(job, Date.now(), "Cannot retry job")) return undefined;
    try {
      const current = await this.#readJob(fileNameOf(job), "throw");
      if (current?.state !== JobState.FAILED) return undefined;
      const revived = withChanges(current, {
        state: JobState.NOT_STARTED,
        attempts: 0,
        executionDate: Date.now(),
        finishedAt: undefined,
      });
      await this.#writeJob(revived, "Cannot retry the job");
      return revived;
    } finally {
      await this.#dropOwnClaim(job);
    }
  }

  async release(job: Job): Promise<Job | undefined> {
    let holds: boolean;
    try {
      holds = await this.#holdsClaim(job);
    } catch (error) {
      // Not knowing whether the claim is still ours, let recover() judge it:
      // a claim of this engine on a job it does not hold is removed there.
      this.#heldClaims.delete(job.id);
      throw error;
    }
    if (!holds) return this.#letGo(job);
    const released = withChanges(job, {
      state: JobState.NOT_STARTED,
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

  async remove(job: Job): Promise<boolean> {
    // Holding the claim while deleting keeps an engine from starting the job
    // in between; a job that is running is left alone.
    if (!await this.#createClaim(job, Date.now(), "Cannot remove job")) return false;
    try {
      await this.#fs.remove(this.#jobPath(fileNameOf(job)));
      this.#knownFiles.delete(fileNameOf(job));
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
    return jobs.filter((job) => job !== undefined).sort(compareIds);
  }

  async poll(): Promise<PollResult> {
    const names = new Set(
      (await this.#listDirectory(this.#directory)).filter(isJobFileName),
    );
    const removed: string[] = [];
    for (const name of this.#knownFiles) {
      if (!names.has(name)) {
        this.#knownFiles.delete(name);
        removed.push(idOfFileName(name));
      }
    }
    const fresh = [...names].filter((name) => !this.#knownFiles.has(name));
    const read = await mapLimit(fresh, READ_CONCURRENCY, (name) => this.#readJob(name));
    const claimed = new Set(
      (await this.#listDirectory(this.#claims)).filter(isJobFileName).map(stripJson),
    );
    const added = read.filter((job) => job !== undefined);
    // Known only once the whole poll has succeeded: a poll that fails half-way
    // must not hide the jobs it read from the next one.
    for (const job of added) this.#knownFiles.add(fileNameOf(job));
    return { added, removed, claimed };
  }

  async recover(): Promise<number> {
    // Claims are listed before engines: an engine registers before it claims,
    // so a claim whose engine is missing from the later listing is an orphan.
    const claimNames = (await this.#listDirectory(this.#claims)).filter(isJobFileName);
    // A claim seen unreadable and gone since must not leave its first-seen
    // time to a later claim of the same job.
    for (const name of this.#unreadableClaims.keys()) {
      if (!claimNames.includes(name)) this.#unreadableClaims.delete(name);
    }
    const engines = await this.#readEngines();
    for (const [engineId, engine] of engines) {
      if (!this.#isEngineAlive(engineId, engine)) {
        await this.#removeIfExists(this.#enginePath(engineId)).catch((cause) => {
          throw this.#error(`Cannot remove the file of dead engine ${engineId}`, cause);
        });
      }
    }
    let recovered = 0;
    for (const name of claimNames) {
      const path = join(this.#claims, name);
      const text = await this.#fs.readTextFile(path).catch((cause) => {
        if (isNotFound(cause)) return undefined;
        throw this.#error(`Cannot read claim ${name}`, cause);
      });
      if (text === undefined) continue;
      if (!this.#isStale(name, text, engines)) continue;
      if (await this.#stealClaim(path, text)) recovered++;
    }
    return recovered;
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
    await this.#atomicWrite(path, JSON.stringify(record), false).catch((cause) => {
      throw this.#error("Cannot refresh this engine's heartbeat", cause);
    });
  }

  /** Writes a job's file atomically. */
  async #writeJob(job: Job, failure: string): Promise<void> {
    await this.#atomicWrite(
      this.#jobPath(fileNameOf(job)),
      JSON.stringify(job),
      this.#fsync,
    ).catch((cause) => {
      throw this.#error(failure, cause, job);
    });
  }

  /**
   * Writes a claimed job's outcome, then lets go of its claim; does nothing
   * and resolves to `undefined` if the claim is no longer this engine's.
   */
  async #settle(job: Job, failure: string): Promise<Job | undefined> {
    if (!await this.#holdsClaim(job)) return this.#letGo(job);
    await this.#writeJob(job, failure);
    await this.#dropOwnClaim(job);
    return job;
  }

  /** Forgets a claim this engine lost to another: that one's run owns the file now. */
  #letGo(job: Job): undefined {
    this.#heldClaims.delete(job.id);
    return undefined;
  }

  /**
   * Tells whether this engine still holds the job's claim. It does not when
   * it stalled for longer than `claimTimeout` and another engine recovered
   * the claim: the other engine's run then owns the job's file.
   */
  async #holdsClaim(job: Job): Promise<boolean> {
    const text = await this.#fs.readTextFile(this.#claimPath(job.id)).catch((cause) => {
      if (isNotFound(cause)) return undefined;
      throw this.#error(`Cannot read the claim on job ${job.key}`, cause, job);
    });
    return (parseJson(text) as ClaimRecord | undefined)?.engineId === this.#engineId;
  }

  /**
   * Creates the claim file of a job exclusively: resolves to `false` when
   * another engine holds the job.
   */
  async #createClaim(job: Job, claimedAt: number, failure: string): Promise<boolean> {
    const claim: ClaimRecord = { engineId: this.#engineId, claimedAt };
    // Held before the file exists, so that recover() never takes it for a
    // leftover; a claim this engine already holds stays held on failure.
    const held = this.#heldClaims.has(job.id);
    this.#heldClaims.add(job.id);
    // Written whole under a temporary name, then linked into place: the link
    // fails if the claim exists, so it is as exclusive as O_EXCL, and a
    // process killed half-way leaves no empty claim that names no engine.
    const path = this.#claimPath(job.id);
    const temp = this.#tempPathFor(path);
    try {
      await this.#fs.writeTextFile(temp, JSON.stringify(claim));
      await this.#fs.link(temp, path);
      return true;
    } catch (cause) {
      if (!held) this.#heldClaims.delete(job.id);
      if (isAlreadyExists(cause)) return false;
      throw this.#error(`${failure} ${job.key}`, cause, job);
    } finally {
      await this.#removeIfExists(temp).catch(() => {}); // else removed as a leftover on a later load
    }
  }

  /**
   * Lets go of this engine's claim on a job. A claim file that cannot be
   * removed now is reported, not thrown: what it guards is already written,
   * and recover() removes this engine's claims on jobs it no longer holds.
   */
  async #dropOwnClaim(job: Job): Promise<void> {
    this.#heldClaims.delete(job.id);
    await this.#removeIfExists(this.#claimPath(job.id)).catch((cause) => {
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
  async #atomicWrite(path: string, data: string, sync: boolean): Promise<void> {
    // Written under a temporary name that says whose it is and since when,
    // so that a crashed writer's leftovers can be told from live writes.
    const tempPath = this.#tempPathFor(path);
    try {
      await this.#fs.writeTextFile(tempPath, data, { sync });
      await this.#fs.rename(tempPath, path);
    } catch (error) {
      await this.#fs.remove(tempPath).catch(() => {});
      throw error;
    }
    if (sync) await this.#fs.syncDir(dirname(path));
  }

  /**
   * Reads and validates a job file. A file that is gone yields `undefined`.
   * One whose content is not the job its name promises is set aside and
   * reported. One that cannot be read at all (a directory, no permission, a
   * passing I/O error) may recover, so it stays where it is: with `"skip"`
   * it is reported once and skipped, with `"throw"` the error is thrown.
   */
  async #readJob(name: string, unreadable: "skip" | "throw" = "skip"): Promise<Job | undefined> {
    let text: string;
    try {
      text = await this.#fs.readTextFile(this.#jobPath(name));
      this.#unreadableJobs.delete(name);
    } catch (cause) {
      if (isNotFound(cause)) return undefined;
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
      const job = Job.fromJSON(JSON.parse(text));
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
    const target = join(this.#corrupt, `${name}.${Date.now()}-${randomHex()}`);
    try {
      await this.#fs.rename(this.#jobPath(name), target);
    } catch (renameError) {
      if (isNotFound(renameError)) return; // another engine set it aside first
      this.#report(
        this.#error(
          `Cannot set aside the unreadable job file ${name}`,
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

  /**
   * Reads the engine files. One that exists but cannot be read this time
   * (a passing I/O error) counts as alive: taking a live engine for dead
   * would run its jobs twice. One that is not an engine record is left out,
   * and so counts as dead.
   */
  async #readEngines(): Promise<Map<string, EngineStatus>> {
    const engines = new Map<string, EngineStatus>();
    for (const name of await this.#listDirectory(this.#engines)) {
      if (!isJobFileName(name)) continue;
      let text: string;
      try {
        text = await this.#fs.readTextFile(join(this.#engines, name));
      } catch (cause) {
        if (!isNotFound(cause)) engines.set(stripJson(name), UNREADABLE);
        continue;
      }
      const record = parseJson(text) as EngineRecord | undefined;
      if (
        typeof record?.engineId === "string" && typeof record.heartbeatAt === "number" &&
        typeof record.pid === "number"
      ) {
        engines.set(record.engineId, record);
      }
    }
    return engines;
  }

  /** Tells whether a claim's engine is gone, so that the claim can be taken back. */
  #isStale(name: string, text: string, engines: Map<string, EngineStatus>): boolean {
    const claim = parseJson(text) as ClaimRecord | undefined;
    if (claim === undefined || typeof claim.engineId !== "string") {
      // Claims are linked into place whole; one that cannot be read was
      // damaged some other way (a disk fault, a hand edit). Give it the lease.
      const firstSeen = this.#unreadableClaims.get(name) ?? Date.now();
      this.#unreadableClaims.set(name, firstSeen);
      return Date.now() - firstSeen > this.#claimTimeout;
    }
    this.#unreadableClaims.delete(name);
    if (claim.engineId === this.#engineId) {
      // This engine's own claim on a job it no longer holds: one whose
      // removal failed earlier.
      return !this.#heldClaims.has(stripJson(name));
    }
    return !this.#isEngineAlive(claim.engineId, engines.get(claim.engineId));
  }

  #isEngineAlive(engineId: string, engine: EngineStatus | undefined): boolean {
    if (enginesInThisProcess.has(engineId) || engine === UNREADABLE) return true;
    if (engine === undefined) return false;
    if (this.#hostId !== undefined && engine.hostId === this.#hostId) {
      // Same host and pid namespace: a dead pid, or this very pid (reused
      // after a restart) for an engine this process does not run, is proof.
      if (engine.pid === process.pid) return false;
      if (this.#fs.isProcessAlive?.(engine.pid) === false) return false;
    }
    const lease = typeof engine.claimTimeout === "number"
      ? engine.claimTimeout
      : this.#claimTimeout;
    return Date.now() - engine.heartbeatAt <= lease;
  }

  /**
   * Takes a stale claim away: renames it to a private name (one engine wins
   * the rename), then checks that it is the claim that was judged stale. If
   * a new claim had taken its place meanwhile, it is put back.
   */
  async #stealClaim(path: string, staleText: string): Promise<boolean> {
    const stolen = this.#tempPathFor(path);
    try {
      await this.#fs.rename(path, stolen);
    } catch (cause) {
      if (isNotFound(cause)) return false;
      throw this.#error(`Cannot recover claim ${path}`, cause);
    }
    try {
      if (await this.#fs.readTextFile(stolen) !== staleText) {
        await this.#fs.link(stolen, path).catch((cause) => {
          this.#report(this.#error(`A live claim ${path} was lost during recovery`, cause));
        });
        return false;
      }
      this.#unreadableClaims.delete(basename(path));
      return true;
    } catch (cause) {
      throw this.#error(`Cannot recover claim ${path}`, cause);
    } finally {
      await this.#removeIfExists(stolen).catch(() => {}); // a leftover temp file, removed on a later load
    }
  }

  /**
   * Removes temporary files left by engines that died while writing. A
   * temporary file of an engine with no engine file yet may belong to one
   * that is starting, so those are removed only once older than the lease.
   */
  async #removeLeftoverTempFiles(): Promise<void> {
    const engines = await this.#readEngines();
    for (const directory of [this.#directory, this.#claims, this.#engines]) {
      for (const name of await this.#listDirectory(directory)) {
        const temp = TEMP_FILE_PATTERN.exec(name);
        if (temp === null) continue;
        const [, owner, createdAt] = temp as unknown as [string, string, string];
        const engine = engines.get(owner);
        const old = Date.now() - parseInt(createdAt, 36) > this.#claimTimeout;
        if (!this.#isEngineAlive(owner, engine) && (engine !== undefined || old)) {
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
    return join(this.#directory, name);
  }

  #claimPath(id: string): string {
    return join(this.#claims, `${id}.json`);
  }

  #enginePath(engineId: string): string {
    return join(this.#engines, `${engineId}.json`);
  }

  #error(what: string, cause: unknown, job?: Job, file?: string): JobQueueError {
    return new JobQueueError(
      `${what}: ${
        messageOf(cause)
      }; check the permissions of ${this.#directory} and the space on its disk`,
      { cause, info: { ...(job && { job }), ...(file && { file }) } },
    );
  }
}

/** A new engine id: 16 hex digits, as temporary file names expect. */
export function createEngineId(): string {
  return randomHex() + randomHex();
}

function randomHex(): string {
  return crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16).padStart(8, "0");
}

function fileNameOf(job: Job): string {
  return `${job.key}.json`;
}

/** Job files are `<name>.json` without a leading dot (temporary files have one). */
function isJobFileName(name: string): boolean {
  return name.endsWith(".json") && !name.startsWith(".");
}

function stripJson(name: string): string {
  return name.slice(0, -".json".length);
}

function idOfFileName(name: string): string {
  const key = stripJson(name);
  return key.slice(key.lastIndexOf("__") + 2);
}

function isRunnable(job: Job): boolean {
  // IN_PROGRESS without a claim is a run cut short by a dead engine.
  return job.state === JobState.NOT_STARTED || job.state === JobState.IN_PROGRESS;
}

function withChanges(
  job: Job,
  changes: { [K in keyof JobRecord]?: JobRecord[K] | undefined },
): Job {
  return Job.fromJSON({ ...job.toJSON(), ...changes });
}

function compareIds(a: Job, b: Job): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
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
