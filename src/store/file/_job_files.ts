/**
 * Job files by name: what a file name tells of its job, what jobq writes to
 * a job file and how large it may be.
 */
import { executionDateOfId, JOB_ID_PATTERN } from "../../job/_id.ts";
import { assertMethodName } from "../../job/_validate.ts";
import { Job, type JobRecord } from "../../job/job.ts";

/**
 * What identifies a stored job: a whole {@linkcode Job}, or what its file
 * name tells (a job found in the directory that is not due yet is read only
 * when it is: loading a directory of many future jobs reads no file).
 */
export interface JobRef {
  readonly id: string;
  readonly methodName: string;
  /** When it is due; for a job known only by name, the date its id was made with. */
  readonly executionDate: number;
  /** `${methodName}__${id}`. */
  readonly key: string;
}

/** Job file names: `<methodName>__<id>.json`. */
const JOB_FILE_PATTERN = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,127})__([^_]+)\.json$/;

/**
 * The largest job file read, in bytes: a larger one is set aside unread, and
 * a job that would need one is refused. Bounds the memory a file planted in
 * the directory can take (a link to /dev/zero is not even opened).
 */
export const MAX_JOB_FILE_BYTES = 64 * 1024 * 1024;

/** The longest file name most file systems take, in bytes. */
const MAX_FILE_NAME_BYTES = 255;

export function fileNameOf(job: JobRef): string {
  return `${job.key}.json`;
}

/** Job files are `<name>.json` without a leading dot (temporary files have one). */
export function isJobFileName(name: string): boolean {
  return name.endsWith(".json") && !name.startsWith(".");
}

/** What a job file's name tells, or `undefined` for a name jobq never writes. */
export function refOfFileName(name: string): JobRef | undefined {
  const match = JOB_FILE_PATTERN.exec(name);
  if (match === null || !JOB_ID_PATTERN.test(match[2]!)) return undefined;
  return new UnreadJob(name, match[1]!.length, executionDateOfId(match[2]!));
}

/**
 * A job known by its file name alone. It keeps only the name (the string the
 * directory listing gave, shared with the set of known files) and its date:
 * a directory may hold 100,000 of them.
 */
export class UnreadJob implements JobRef {
  readonly #name: string;
  readonly #methodLength: number;
  readonly executionDate: number;

  constructor(name: string, methodLength: number, executionDate: number) {
    this.#name = name;
    this.#methodLength = methodLength;
    this.executionDate = executionDate;
  }

  get id(): string {
    return this.#name.slice(this.#methodLength + 2, -".json".length);
  }

  get methodName(): string {
    return this.#name.slice(0, this.#methodLength);
  }

  get key(): string {
    return this.#name.slice(0, -".json".length);
  }
}

/** Whether a method name and a job id read from a file are ones jobq makes. */
export function isJobName(methodName: unknown, jobId: unknown): boolean {
  try {
    assertMethodName(methodName);
  } catch {
    return false;
  }
  return typeof jobId === "string" && JOB_ID_PATTERN.test(jobId);
}

/** Whether a job file holding `text` would be over {@linkcode MAX_JOB_FILE_BYTES}. */
export function isTooLargeForJobFile(text: string): boolean {
  // At most 3 bytes per UTF-16 unit: only a long text needs counting.
  return text.length * 3 > MAX_JOB_FILE_BYTES && encoder.encode(text).length > MAX_JOB_FILE_BYTES;
}

const encoder = new TextEncoder();

/** `name`, shortened by whole characters so that it and `suffix` fit in one file name. */
export function truncateName(name: string, suffix: string): string {
  const room = MAX_FILE_NAME_BYTES - encoder.encode(suffix).length;
  let kept = name;
  while (encoder.encode(kept).length > room) kept = Array.from(kept).slice(0, -1).join("");
  return kept;
}

/** Why a job file was refused unread (see `isRefusedFile`). */
export function refusalOf(error: unknown): string {
  switch ((error as { code?: unknown }).code) {
    case "ELOOP":
      return "it is a symbolic link, which jobq does not follow";
    case "EFBIG":
      return `it is over the limit of ${MAX_JOB_FILE_BYTES} bytes for a job file`;
    default:
      return "it is not a regular file (a FIFO, a socket or a device)";
  }
}

/** Parses a job file; the error does not quote it (it may be anything). */
export function parseJobText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new TypeError("it is not valid JSON");
  }
}

export function stripJson(name: string): string {
  return name.slice(0, -".json".length);
}

/** The job id in a job or claim file name (claims of earlier versions are named by id alone). */
export function idOfFileName(name: string): string {
  const key = stripJson(name);
  const separator = key.lastIndexOf("__");
  return separator === -1 ? key : key.slice(separator + 2);
}

/** `job` with `changes`: a new `Job`, checked as any read from a file. */
export function withChanges(
  job: Job,
  changes: { [K in keyof JobRecord]?: JobRecord[K] | undefined },
): Job {
  return Job.fromJSON({ ...job.toJSON(), ...changes });
}

export function compareIds(a: Job, b: Job): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
