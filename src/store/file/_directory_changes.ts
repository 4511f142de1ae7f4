/**
 * Polling the job directory: the job files this engine knows, so that a poll
 * reads only new files and tells which are gone, and the one sweep of the
 * job directory's leftover temporary files.
 */
import { mapLimit } from "../../_async.ts";
import type { Job } from "../../job/job.ts";
import type { Claims } from "./_claims.ts";
import type { EngineRegistry } from "./_engine_registry.ts";
import { type FileOperations, READ_CONCURRENCY } from "./_file_operations.ts";
import type { JobFileReader } from "./_job_file_reader.ts";
import { idOfFileName, isJobFileName, type JobRef, refOfFileName } from "./_job_files.ts";

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

/** The job directory's changes, as one engine's polls see them. */
export class DirectoryChanges {
  readonly #files: FileOperations;
  readonly #registry: Pick<EngineRegistry, "removeLeftovers">;
  readonly #claims: Pick<Claims, "list">;
  readonly #reader: Pick<JobFileReader, "read" | "isStuck" | "forgetStuck">;
  /** Job file names seen by poll() or written here, to read only new ones. */
  readonly #knownFiles = new Set<string>();
  /** For each poll under way, the job files this engine added meanwhile. */
  readonly #addedDuringPolls = new Set<Set<string>>();
  /** Job file names this engine is renaming into place, not yet known. */
  readonly #adding = new Set<string>();
  /** Whether the next poll removes leftover temporary files from the job directory. */
  #sweepJobDirectory = true;

  constructor(
    files: FileOperations,
    registry: Pick<EngineRegistry, "removeLeftovers">,
    claims: Pick<Claims, "list">,
    reader: Pick<JobFileReader, "read" | "isStuck" | "forgetStuck">,
  ) {
    this.#files = files;
    this.#registry = registry;
    this.#claims = claims;
    this.#reader = reader;
  }

  /**
   * Job files this engine puts in place with `putInPlace`: meanwhile, its
   * polls must not take them for jobs of another process; once it resolves,
   * they are known.
   */
  async add(names: readonly string[], putInPlace: () => Promise<void>): Promise<void> {
    for (const name of names) this.#adding.add(name);
    try {
      await putInPlace();
      for (const name of names) {
        this.#knownFiles.add(name);
        for (const added of this.#addedDuringPolls) added.add(name);
      }
    } finally {
      for (const name of names) this.#adding.delete(name);
    }
  }

  /** Forgets a job file this engine removed or set aside: the next poll does not report it. */
  forget(name: string): void {
    this.#knownFiles.delete(name);
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
    const listing = await this.#files.list(this.#files.directory);
    if (this.#sweepJobDirectory) {
      this.#sweepJobDirectory = false;
      await this.#registry.removeLeftovers([this.#files.directory], listing).catch((cause) =>
        this.#files.report(this.#files.error("Cannot remove leftover temporary files", cause))
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
          this.#reader.forgetStuck(name);
          removed.push(idOfFileName(name));
        }
      }
    }
    const read = await mapLimit(toRead, READ_CONCURRENCY, (name) => this.#reader.read(name));
    const claimed = new Set(
      (await this.#claims.list()).filter(isJobFileName).map(idOfFileName),
    );
    const added: (Job | JobRef)[] = read.filter((job) => job !== undefined);
    for (const ref of notDue) added.push(ref);
    // Known only once the whole poll has succeeded: a poll that fails half-way
    // must not hide the jobs it read from the next one. The names are the
    // listing's own strings: with many jobs, copies would cost megabytes.
    // (Files that turned out unreadable or corrupt are left out, but for
    // corrupt ones that could not be set aside: read once, reported once.)
    const unknown = new Set(
      toRead.filter((name, index) => read[index] === undefined && !this.#reader.isStuck(name)),
    );
    for (const name of fresh) if (!unknown.has(name)) this.#knownFiles.add(name);
    return { added, removed, claimed };
  }
}
