import type { Job, JobErrorRecord } from "./job.ts";

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
  /** Jobs this engine has not seen before. */
  readonly added: readonly Job[];
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
  /** Stores a new job durably. */
  add(job: Job): Promise<void>;
  /** Claims a due job for this engine, atomically across engines. */
  claim(job: Job): Promise<ClaimResult>;
  /**
   * Records a claimed job as completed, keeping its file with `keep` or
   * removing it, and drops the claim. Resolves to `undefined`, recording
   * nothing, when the claim is no longer this engine's (another engine
   * recovered it while this one was unresponsive).
   */
  complete(job: Job, keep: boolean): Promise<Job | undefined>;
  /** Records a claimed job as failed with `error`, as `complete` does. */
  fail(job: Job, error: JobErrorRecord): Promise<Job | undefined>;
  /**
   * Records a failed attempt of a claimed job that will be retried: back to
   * `NOT_STARTED`, due at `executionDate`, with `error`; drops the claim.
   * Resolves to `undefined` when the claim is no longer this engine's.
   */
  reschedule(job: Job, error: JobErrorRecord, executionDate: number): Promise<Job | undefined>;
  /**
   * Gives a failed job a new set of attempts: `NOT_STARTED`, due now, with
   * no attempt counted. Resolves to `undefined` when the job is not failed
   * (any more) or another engine holds it.
   */
  revive(job: Job): Promise<Job | undefined>;
  /**
   * Gives a claimed job back unrun, as `NOT_STARTED` without counting the
   * attempt; drops the claim even when the file cannot be rewritten.
   * Resolves to `undefined` when the claim is no longer this engine's.
   */
  release(job: Job): Promise<Job | undefined>;
  /** Removes a job that no engine holds; `false` if it is held or gone. */
  remove(job: Job): Promise<boolean>;
  /** Every stored job, in id order. */
  list(): Promise<Job[]>;
  /** What changed since the previous poll (everything, the first time). */
  poll(): Promise<PollResult>;
  /** Drops the claims of dead engines; resolves to how many it dropped. */
  recover(): Promise<number>;
  /** Tells other engines that this one is alive. */
  heartbeat(): Promise<void>;
}
