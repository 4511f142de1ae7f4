/**
 * The file operations every part of a job directory shares: its paths,
 * atomic writes, exclusive creation, jobq's own small records, temporary
 * names, taking a stale file over, and the errors they raise.
 */
import { basename, dirname, join } from "node:path";
import { isAlreadyExists, isNotFound, isRefusedFile } from "../../fs/_fs_errors.ts";
import type { FileSystemAdapter, WriteTextFileOptions } from "../../fs/file_system.ts";
import { Job } from "../../job/job.ts";
import { JobQueueError } from "../../job_queue_error.ts";
import type { StoreEngine } from "../job_store.ts";
import { fileNameOf, type JobRef } from "./_job_files.ts";
import { limitOperations } from "./_limited_file_system.ts";

/** Options of a job directory. */
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

/** Temporary files: `.<name>.<engineId>-<created, base 36>-<n>.tmp`. */
export const TEMP_FILE_PATTERN = /^\..+\.([0-9a-f]{16})-([0-9a-z]+)-[0-9a-z]+\.tmp$/;

/** The largest claim, engine or unique-key file read, in bytes: these are small records. */
const MAX_RECORD_BYTES = 64 * 1024;

/** What a record file that is no regular file, or too large, reads as: never valid JSON. */
const REFUSED_RECORD = "\u0000not a regular file";

/** Job files read at once: when listing a directory, and when jobs known by name come due. */
export const READ_CONCURRENCY = 32;

/**
 * File operations in flight at once, across every call of a store: far
 * below the usual limit of open files (`ulimit -n`, often 1024), however many
 * jobs are scheduled at once.
 */
const FILE_OPERATION_LIMIT = 64;

/** A job directory's paths and the file operations its parts share. */
export class FileOperations {
  /** The queue's directory: the job files. */
  readonly directory: string;
  /** `.jobq/claims/`: a claim per job an engine holds. */
  readonly claims: string;
  /** `.jobq/engines/`: an engine file and a claim token per engine. */
  readonly engines: string;
  /** `.jobq/corrupt/`: job files set aside. */
  readonly corrupt: string;
  /** `.jobq/unique/`: a file per unique key taken. */
  readonly unique: string;
  /** The file-system adapter, with a limit on the operations in flight. */
  readonly fs: FileSystemAdapter;
  /** Whether job files and their directory are fsynced before a write resolves. */
  readonly fsync: boolean;
  /** The permission bits of new folders. */
  readonly directoryMode: number;
  /** What identifies this host's processes, when the adapter can tell it. */
  readonly hostId: string | undefined;
  readonly #fileMode: number;
  /** The engine this directory works for, from setEngine() on. */
  #engineId = "";
  #report: (error: JobQueueError) => void = () => {};
  #tempCounter = 0;

  constructor(options: JobDirectoryOptions) {
    this.directory = options.directory;
    const internal = join(options.directory, ".jobq");
    this.claims = join(internal, "claims");
    this.engines = join(internal, "engines");
    this.corrupt = join(internal, "corrupt");
    this.unique = join(internal, "unique");
    this.fs = limitOperations(options.fs, FILE_OPERATION_LIMIT);
    this.fsync = options.fsync;
    this.#fileMode = options.fileMode;
    this.directoryMode = options.fileMode | ((options.fileMode & 0o444) >> 2);
    this.hostId = options.fs.hostId?.();
  }

  /** Works for `engine` from now on: its id names temporary files, its `report` hears problems. */
  setEngine(engine: StoreEngine): void {
    this.#engineId = engine.engineId;
    this.#report = (error) => engine.report(error);
  }

  /** The id of the engine this directory works for; empty before setEngine(). */
  get engineId(): string {
    return this.#engineId;
  }

  /** Reports a problem that fails no operation to the engine. */
  report(error: JobQueueError): void {
    this.#report(error);
  }

  /**
   * Writes `data` to a temporary name beside `path`, then renames it into
   * place: readers see the old file or the new one, never a part. With
   * `sync`, the data and then the directory entry are flushed to the disk.
   */
  async atomicWrite(path: string, data: string, sync: boolean): Promise<void> {
    // Written under a temporary name that says whose it is and since when,
    // so that a crashed writer's leftovers can be told from live writes.
    const tempPath = this.tempPathFor(path);
    try {
      // The file keeps the mode its owner gave it.
      const mode = await this.fs.lstat(path).then(
        (info) => info.kind === "file" ? info.mode : undefined,
        (error) => {
          if (isNotFound(error)) return undefined;
          throw error;
        },
      );
      await this.writeNew(tempPath, data, { sync, ...(mode === undefined ? {} : { mode }) });
      await this.fs.rename(tempPath, path);
    } catch (error) {
      await this.fs.remove(tempPath).catch(() => {});
      throw error;
    }
    if (sync) await this.fs.syncDir(dirname(path));
  }

  /**
   * Creates a file with this store's mode unless told another, never
   * through a link planted at its (predictable) name.
   */
  async writeNew(path: string, data: string, options: WriteTextFileOptions = {}): Promise<void> {
    await this.fs.writeTextFile(path, data, { mode: this.#fileMode, ...options, createNew: true });
  }

  /**
   * Creates `path` holding `data` unless it exists: resolves to `false` then.
   * Written whole under a temporary name, then linked into place: the link
   * fails if the name exists, so it is as exclusive as O_EXCL, and a process
   * killed half-way leaves no empty file behind.
   */
  async linkNew(path: string, data: string): Promise<boolean> {
    const temp = this.tempPathFor(path);
    try {
      await this.writeNew(temp, data);
      await this.fs.link(temp, path);
      return true;
    } catch (cause) {
      if (isAlreadyExists(cause)) return false;
      throw cause;
    } finally {
      await this.removeIfExists(temp).catch(() => {}); // else removed as a leftover on a later load
    }
  }

  /**
   * Takes a stale claim or unique key away: renames it to a private name (one
   * engine wins the rename), then checks that it is the file that was judged
   * stale. If a new one had taken its place meanwhile, it is put back.
   */
  async takeOver(path: string, staleText: string): Promise<boolean> {
    const stolen = this.tempPathFor(path);
    try {
      await this.fs.rename(path, stolen);
    } catch (cause) {
      if (isNotFound(cause)) return false;
      throw this.error(`Cannot recover ${path}`, cause);
    }
    try {
      if (await this.readRecord(stolen) !== staleText) {
        await this.fs.link(stolen, path).catch((cause) => {
          this.report(this.error(`A live ${path} was lost during recovery`, cause));
        });
        return false;
      }
      return true;
    } catch (cause) {
      throw this.error(`Cannot recover ${path}`, cause);
    } finally {
      await this.removeIfExists(stolen).catch(() => {}); // a leftover temp file, removed on a later load
    }
  }

  async list(path: string): Promise<string[]> {
    try {
      return await this.fs.readDir(path);
    } catch (cause) {
      throw this.error(`Cannot list ${path}`, cause);
    }
  }

  /**
   * Reads one of jobq's own small records (claim, engine, unique key). One
   * that is no regular file or too large reads as {@linkcode REFUSED_RECORD}:
   * damaged like any record that does not parse, and recovered as one.
   */
  readRecord(path: string): Promise<string> {
    return this.fs.readTextFile(path, { maxBytes: MAX_RECORD_BYTES }).catch((error) => {
      if (isRefusedFile(error)) return REFUSED_RECORD;
      throw error;
    });
  }

  async readIfExists(path: string): Promise<string | undefined> {
    try {
      return await this.readRecord(path);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async removeIfExists(path: string): Promise<void> {
    try {
      await this.fs.remove(path);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /**
   * A temporary name beside `path`: a leading dot and a `.tmp` suffix keep it
   * from being taken for a job or a claim, and the engine id in it tells
   * whose it is once that engine is dead.
   */
  tempPathFor(path: string): string {
    const suffix = `${this.#engineId}-${Date.now().toString(36)}-${
      (this.#tempCounter++).toString(36)
    }`;
    return join(dirname(path), `.${basename(path)}.${suffix}.tmp`);
  }

  jobPath(name: string): string {
    // Names come from listings and from validated names; a path in one
    // would be a bug, never a reason to reach outside the directory.
    if (basename(name) !== name || name === "..") {
      throw new TypeError(`Cannot use ${JSON.stringify(name)} as a job file name`);
    }
    return join(this.directory, name);
  }

  claimPath(job: JobRef): string {
    return join(this.claims, fileNameOf(job));
  }

  error(what: string, cause: unknown, job?: JobRef, file?: string): JobQueueError {
    return new JobQueueError(
      `${what}: ${
        messageOf(cause)
      }; check the permissions of ${this.directory} and the space on its disk`,
      { cause, info: { ...(job instanceof Job && { job }), ...(file && { file }) } },
    );
  }
}

export function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
