/**
 * The options of the engine and of its calls, and their checks.
 *
 * @module
 */
import type { FileSystemAdapter } from "../fs/file_system.ts";
import type { JobStore } from "../store/job_store.ts";
import type { LockingQueue } from "../store/file/locking_queue.ts";
import type { JobQueueEventListener } from "./events.ts";

/**
 * Options of {@linkcode JobQueueEngine}.
 *
 * @example
 * ```ts
 * import type { JobQueueEngineOptions } from "@x/jobq";
 *
 * const options: JobQueueEngineOptions = { directory: "./jobs", maxConcurrency: 3 };
 * ```
 */
export interface JobQueueEngineOptions {
  /**
   * Where the jobs are kept: any {@linkcode JobStore}, such as a
   * `FileJobStore` or a `PostgresJobStore`. Give `store` or `directory`.
   */
  store?: JobStore;
  /**
   * The directory of a file store, created if missing: short for
   * `store: new FileJobStore({ directory, fs, fsync, fileMode, pollInterval, lockingQueue })`.
   */
  directory?: string;
  /**
   * How many handlers may run at once in this engine.
   *
   * @default {1}
   */
  maxConcurrency?: number;
  /**
   * With `directory`: serialises file operations on one job within the
   * process.
   *
   * @default {new LockingQueue()}
   */
  lockingQueue?: LockingQueue;
  /** Receives every event: `error`, `debug` and each job transition. */
  eventListener?: JobQueueEventListener;
  /**
   * With `directory`: the file-system adapter.
   *
   * @default {the adapter for the running runtime}
   */
  fs?: FileSystemAdapter;
  /**
   * With `directory`: flush each job file and its directory to the disk (fsync) before a write
   * resolves, so that a scheduled job survives a power loss, not only a
   * crash. Turning it off makes writes faster; "Durability" in docs/guarantees.md
   * says what each setting promises.
   *
   * @default {true}
   */
  fsync?: boolean;
  /**
   * How often, in ms, the engine looks for due jobs that other processes
   * stored or let go of (a store that notifies is heard at once), for claims
   * left by dead engines, and for the jobs `settled()` waits for. With
   * `directory`, also how often the directory is listed: with a directory so
   * large that listing it takes longer than a ninth of this, listings are
   * spaced further apart, so that they take at most a tenth of the time. An
   * outcome that cannot be written (a full disk) is tried again as often,
   * under the same claim, rather than running the handler again.
   *
   * @default {1000}
   */
  pollInterval?: number;
  /**
   * What becomes of a completed job: `false` removes it, `true` keeps it
   * (state `COMPLETED`), `{ count }` keeps the newest `count` the store
   * knows of, `{ age }` keeps those completed in the last `age` ms. Failed
   * jobs are always kept, until removed, retried or pruned.
   *
   * @default {false}
   */
  keepCompleted?: boolean | KeepCompleted;
  /**
   * How long, in ms, an engine may go without a heartbeat before other
   * engines take its claims back and run its jobs again. Engines on the same
   * host whose process is gone are recovered at once.
   *
   * @default {30000}
   */
  claimTimeout?: number;
  /**
   * How many handlers may still run after their attempt was decided (it timed
   * out, or `dispose()` handed its job back) before this engine stops
   * starting jobs. JavaScript cannot stop a handler that ignores its signal:
   * this bounds how many can pile up. Each that settles makes room again.
   *
   * @default {100}
   */
  maxOverdueHandlers?: number;
  /**
   * With `directory`: the permission bits of the files jobq creates (job files hold their
   * params); the folders it creates get the same bits plus search (`x`)
   * wherever reading is allowed: `0o600` gives folders `0o700`, `0o640`
   * gives `0o750`. The process umask applies, as to any file it creates.
   * Must allow the owner to read and write. A file jobq rewrites keeps the
   * mode it has (the umask applies there too).
   *
   * @default {0o600}
   */
  fileMode?: number;
}

/**
 * Options of {@linkcode JobQueue.dispose}.
 *
 * @example
 * ```ts
 * import type { DisposeOptions } from "@x/jobq";
 *
 * const options: DisposeOptions = { timeout: 10_000 };
 * ```
 */
export interface DisposeOptions {
  /**
   * How long, in ms, to wait for running handlers before aborting their
   * signals. Their jobs are not failed: they are handed back, attempt not
   * counted, and run again at the next start or on another engine. A handler
   * that has not settled 100 ms after the abort is not waited for: its job is
   * handed back all the same (an `error` event names it) and nothing it does
   * later is recorded. So `dispose({ timeout })` resolves within `timeout`
   * plus 100 ms, plus the time to write the handed-back jobs.
   *
   * @default {Infinity}
   */
  timeout?: number;
}

/**
 * Which completed jobs to keep: the newest `count`, those younger than
 * `age` ms, or both rules at once.
 *
 * @example
 * ```ts
 * import type { KeepCompleted } from "@x/jobq";
 *
 * const lastHundred: KeepCompleted = { count: 100 };
 * const lastDay: KeepCompleted = { age: 24 * 60 * 60 * 1000 };
 * ```
 */
export interface KeepCompleted {
  /** How many of the newest completed jobs to keep. */
  count?: number;
  /** How long, in ms after completion, to keep a completed job. */
  age?: number;
}

/**
 * Options of {@linkcode JobQueue.pruneFailedJobs}.
 *
 * @example
 * ```ts
 * import type { PruneOptions } from "@x/jobq";
 *
 * const weekOld: PruneOptions = { olderThan: 7 * 24 * 60 * 60 * 1000 };
 * ```
 */
export interface PruneOptions {
  /** Remove failed jobs that failed this many ms ago or more. */
  olderThan: number;
}

/** The options that only a file store built from `directory` takes. */
export const FILE_STORE_OPTIONS = ["fs", "fsync", "fileMode", "lockingQueue"] as const;

/** `keepCompleted`, checked. */
export function validateKeepCompleted(value: boolean | KeepCompleted): boolean | KeepCompleted {
  if (typeof value === "boolean") return value;
  if (typeof value !== "object" || value === null) {
    throw new TypeError(
      "Cannot set 'keepCompleted': use true, false, { count } or { age }",
    );
  }
  for (const [key, number] of Object.entries(value)) {
    if (key !== "count" && key !== "age") {
      throw new TypeError(`Cannot set 'keepCompleted': unknown option '${key}'; use count or age`);
    }
    if (
      typeof number !== "number" || !(number >= 0) || (key === "count" && !Number.isInteger(number))
    ) {
      throw new RangeError(
        `Cannot set 'keepCompleted' as '${key}' must be a non-negative ${
          key === "count" ? "integer" : "number"
        }: current value is ${String(number)}`,
      );
    }
  }
  return { ...value };
}
