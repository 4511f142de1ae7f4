/**
 * Reading job files: each is checked to hold the job its name promises. One
 * that does not, or is no regular file, or is too large, is set aside in
 * `.jobq/corrupt/`; one that cannot be read for now stays and is reported once.
 */
import { join } from "node:path";
import { isNotFound, isRefusedFile } from "../../fs/_fs_errors.ts";
import { Job } from "../../job/job.ts";
import { JobQueueError } from "../../job_queue_error.ts";
import { type FileOperations, messageOf } from "./_file_operations.ts";
import {
  fileNameOf,
  MAX_JOB_FILE_BYTES,
  parseJobText,
  refusalOf,
  truncateName,
} from "./_job_files.ts";

/** Reads a job directory's job files, and sets aside those that hold no valid job. */
export class JobFileReader {
  readonly #files: FileOperations;
  /** Told the name of each job file set aside: it left the job directory. */
  readonly #onSetAside: (name: string) => void;
  /** Job file names that could not be read, reported once until readable again. */
  readonly #unreadable = new Set<string>();
  /**
   * Corrupt job files that could not be set aside: reported once, and not
   * read again while they stay listed.
   */
  readonly #stuck = new Set<string>();

  constructor(files: FileOperations, onSetAside: (name: string) => void) {
    this.#files = files;
    this.#onSetAside = onSetAside;
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
  async read(name: string, unreadable: "skip" | "throw" = "skip"): Promise<Job | undefined> {
    let text: string;
    try {
      text = await this.#files.fs.readTextFile(this.#files.jobPath(name), {
        maxBytes: MAX_JOB_FILE_BYTES,
      });
      this.#unreadable.delete(name);
    } catch (cause) {
      if (isNotFound(cause)) return undefined;
      if (isRefusedFile(cause)) {
        await this.#setAside(name, new TypeError(refusalOf(cause), { cause }));
        return undefined;
      }
      if (unreadable === "throw") throw this.#files.error(`Cannot read job file ${name}`, cause);
      if (!this.#unreadable.has(name)) {
        this.#unreadable.add(name);
        this.#files.report(this.#files.error(
          `Cannot read job file ${name}, so it is skipped until it can be read`,
          cause,
          undefined,
          this.#files.jobPath(name),
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

  /** Whether the last read of a job file found it unreadable (and not gone). */
  isUnreadable(name: string): boolean {
    return this.#unreadable.has(name);
  }

  /** Whether a job file is corrupt but could not be set aside. */
  isStuck(name: string): boolean {
    return this.#stuck.has(name);
  }

  /** Forgets a corrupt job file that could not be set aside, once it is gone. */
  forgetStuck(name: string): void {
    this.#stuck.delete(name);
  }

  async #setAside(name: string, cause: unknown): Promise<void> {
    // Named after the file, shortened if need be so that the name still fits.
    const suffix = `.${Date.now()}-${randomHex()}`;
    const target = join(this.#files.corrupt, `${truncateName(name, suffix)}${suffix}`);
    try {
      await this.#files.fs.rename(this.#files.jobPath(name), target);
      this.#stuck.delete(name);
    } catch (renameError) {
      if (isNotFound(renameError)) return; // another engine set it aside first
      // Reported once: polls leave it alone while it stays listed.
      if (this.#stuck.has(name)) return;
      this.#stuck.add(name);
      this.#files.report(
        this.#files.error(
          `Cannot set aside job file ${name}, which is not a valid job (${messageOf(cause)})`,
          renameError,
          undefined,
          name,
        ),
      );
      return;
    }
    this.#onSetAside(name);
    this.#files.report(
      new JobQueueError(
        `Job file ${name} is not a valid job (${messageOf(cause)}); it was moved to ${target}: ` +
          "repair it and move it back to run it, or delete it",
        { cause, info: { file: target } },
      ),
    );
  }
}

function randomHex(): string {
  return crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16).padStart(8, "0");
}
