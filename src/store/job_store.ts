import type { Job, JobErrorRecord } from "../job/job.ts";

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

/**
 * An engine registered on a store, as its last heartbeat tells.
 *
 * @example Telling the live engines
 * ```ts
 * import { JobQueueEngine } from "@x/jobq";
 * import assert from "node:assert/strict";
 *
 * const engine = new JobQueueEngine({ directory: await Deno.makeTempDir() });
 * await engine.getAllJobs();
 * const [info] = await engine.getEngines();
 * assert.equal(info?.alive, true);
 * assert.equal(info?.current, true);
 * await engine.dispose();
 * ```
 */
export interface EngineInfo {
  /** The engine's id. */
  readonly id: string;
  /** The id of the process it runs in, on its host. */
  readonly pid: number;
  /** When it registered, in epoch ms. */
  readonly startedAt: number;
  /** When it last told it was alive, in epoch ms. */
  readonly heartbeatAt: number;
  /** Whether it counts as alive: its claims are safe from recovery. */
  readonly alive: boolean;
  /** Whether it is the engine that asked. */
  readonly current: boolean;
}

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

/** What {@linkcode JobStore.add} did with one of the jobs it was given. */
export interface AddResult {
  /**
   * The job stored in its place: itself, the later occurrence that replaced
   * it, or the job that holds its unique key.
   */
  readonly job: Job;
  /** Whether this call stored `job`: `false` when it is the job that holds the key. */
  readonly added: boolean;
}

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

/**
 * The queue operations the engine needs from storage. The engine speaks only
 * this interface, so that another store (a database shared by several
 * machines) can stand in for the file store without touching the engine.
 */
export interface JobStore {
  /** Prepares the storage and registers this engine as alive. */
  open(): Promise<void>;
  /** Unregisters this engine; its claims must already be settled. */
  close(): Promise<void>;
  /**
   * Stores new jobs durably, all or none. A job with a `uniqueKey` that a
   * waiting or running job holds is not stored: that job stands in for it in
   * the result. An occurrence of a recurring job whose date has come by the
   * time its key is taken may have run elsewhere already: the schedule's next
   * occurrence is stored in its place.
   */
  add(jobs: readonly Job[]): Promise<AddResult[]>;
  /** Reads a stored job; `undefined` when it is gone. */
  read(job: JobRef): Promise<Job | undefined>;
  /** Reads the stored job with this id; `undefined` when there is none. */
  find(id: string): Promise<Job | undefined>;
  /** Claims a due job for this engine, atomically across engines. */
  claim(job: JobRef): Promise<ClaimResult>;
  /**
   * Records a claimed job as completed with `result`, keeping its file with
   * `keep` or removing it, and drops the claim. Resolves to `undefined`,
   * recording nothing, when the claim is no longer this engine's (another
   * engine recovered it while this one was unresponsive).
   */
  complete(job: Job, keep: boolean, result: unknown): Promise<Job | undefined>;
  /**
   * Records the progress of a claimed job, keeping the claim. Resolves to
   * `undefined` when the claim is no longer this engine's.
   */
  progress(job: Job, progress: unknown): Promise<Job | undefined>;
  /** Records a claimed job as failed with `error`, as `complete` does. */
  fail(job: Job, error: JobErrorRecord): Promise<Job | undefined>;
  /**
   * Records a failed attempt of a claimed job that will be retried: back to
   * `NOT_STARTED`, due at `executionDate`, with `error`; drops the claim,
   * unless `keepClaim` (then `unclaim` lets go of it). Resolves to
   * `undefined` when the claim is no longer this engine's.
   */
  reschedule(
    job: Job,
    error: JobErrorRecord,
    executionDate: number,
    keepClaim?: boolean,
  ): Promise<Job | undefined>;
  /**
   * Lets go of a claim that `reschedule` kept; resolves to `false` when it
   * was no longer this engine's.
   */
  unclaim(job: Job): Promise<boolean>;
  /**
   * Replaces a failed job by a new one, due now, with a new id and no
   * attempt or crashed run counted. Resolves to `undefined` when the job is
   * not failed (any more) or another engine holds it.
   */
  revive(job: Job): Promise<Job | undefined>;
  /**
   * Gives a claimed job back unrun, as `NOT_STARTED` without counting the
   * attempt; drops the claim even when the file cannot be rewritten.
   * Resolves to `undefined` when the claim is no longer this engine's.
   */
  release(job: Job): Promise<Job | undefined>;
  /** Removes a job that no engine holds; `false` if it is held or gone. */
  remove(job: JobRef): Promise<boolean>;
  /** Every stored job, in id order. */
  list(): Promise<Job[]>;
  /** What changed since the previous poll (everything, the first time). */
  poll(): Promise<PollResult>;
  /** Drops the claims of dead engines; resolves to how many it dropped. */
  recover(): Promise<number>;
  /** Tells other engines that this one is alive. */
  heartbeat(): Promise<void>;
  /** The engines registered on the store (read-only: nothing is recovered). */
  engines(): Promise<EngineInfo[]>;
}
