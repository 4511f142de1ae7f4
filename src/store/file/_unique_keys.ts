/**
 * Unique keys: `.jobq/unique/<SHA-256 of the key>.json` names the waiting or
 * running job that holds a key. Written whole and linked into place, so only
 * one job takes a key; a key whose job is finished or gone is taken over.
 */
import { basename, join } from "node:path";
import { isUnfinished, type Job } from "../../job/job.ts";
import type { EngineRegistry } from "./_engine_registry.ts";
import { type FileOperations, parseJson, TEMP_FILE_PATTERN } from "./_file_operations.ts";
import { isJobName } from "./_job_files.ts";

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

/**
 * How often a unique key whose job file is not in place yet is looked at
 * again: its live engine renames the file into place once the whole batch
 * is written, however long that takes (a key whose job has neither its file
 * nor its temporary file is left over).
 */
const UNIQUE_KEY_RETRY_MS = 20;

/** The unique keys of a job directory's jobs. */
export class UniqueKeys {
  readonly #files: FileOperations;
  readonly #registry: EngineRegistry;
  /** Reads a job file by name: `undefined` when it is gone or cannot be read. */
  readonly #readJob: (name: string) => Promise<Job | undefined>;

  constructor(
    files: FileOperations,
    registry: EngineRegistry,
    readJob: (name: string) => Promise<Job | undefined>,
  ) {
    this.#files = files;
    this.#registry = registry;
    this.#readJob = readJob;
  }

  /**
   * Takes the job's unique key for it, while `temp` is its temporary file:
   * resolves to `undefined` once it is the job's, or to the waiting or
   * running job that holds it. A key whose job is finished or gone is left
   * over (its engine died, or could not remove it) and is taken over.
   */
  async take(job: Job, temp: string): Promise<Job | undefined> {
    const path = await this.#path(job.uniqueKey!);
    const record: UniqueRecord = {
      uniqueKey: job.uniqueKey!,
      jobId: job.id,
      methodName: job.methodName,
      engineId: this.#files.engineId,
      createdAt: Date.now(),
      temp: basename(temp),
    };
    for (;;) {
      if (await this.#files.linkNew(path, JSON.stringify(record))) return undefined;
      const text = await this.#files.readIfExists(path);
      if (text === undefined) continue;
      const holder = parseJson(text) as UniqueRecord | undefined;
      // Names from a file reach paths only when they are names jobq makes;
      // a record with others is no key of a job, and is taken over.
      if (holder !== undefined && isJobName(holder.methodName, holder.jobId)) {
        const name = `${holder.methodName}__${holder.jobId}.json`;
        const held = await this.#readJob(name);
        if (held !== undefined && isUnfinished(held)) return held;
        if (held === undefined) {
          const engines = await this.#registry.read();
          if (
            this.#registry.isAlive(holder.engineId, engines.get(holder.engineId)) &&
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
      await this.#files.takeOver(path, text);
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
    return await this.#files.readIfExists(join(this.#files.directory, temp)) !== undefined;
  }

  /** Lets go of the job's unique key, if it holds one. */
  async release(job: Job): Promise<void> {
    if (job.uniqueKey === undefined) return;
    const path = await this.#path(job.uniqueKey);
    try {
      const text = await this.#files.readIfExists(path);
      const holder = parseJson(text) as UniqueRecord | undefined;
      // Through takeOver(): another engine may take the key over at any
      // moment, and its record must not be removed in its place.
      if (text !== undefined && holder?.jobId === job.id) await this.#files.takeOver(path, text);
    } catch (cause) {
      // Left over, the key is taken over by the next job that asks for it.
      this.#files.report(
        this.#files.error(`Cannot release the unique key of job ${job.key}`, cause, job),
      );
    }
  }

  /** Keys can hold any text: the file is named by their SHA-256. */
  async #path(uniqueKey: string): Promise<string> {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(uniqueKey));
    const hex = Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0"));
    return join(this.#files.unique, `${hex.join("")}.json`);
  }
}
