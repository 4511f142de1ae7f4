/**
 * The seam between the engine and storage: {@linkcode JobStore}, the queue
 * operations every store implements, and the types they speak in. The
 * engine decides the rules of the queue (when to retry, what a retried job
 * looks like, which occurrence of a recurring job comes next); a store keeps
 * jobs, hands out due ones atomically across engines, and tells which engines
 * are alive. `testJobStore` in `@x/jobq/store/testing` checks a store against
 * this contract.
 *
 * @module
 */
import type { Job, JobErrorRecord, JobState } from "../job/job.ts";
import type { JobQueueError } from "../job_queue_error.ts";

/**
 * The engine a store works for, as it introduces itself in
 * {@linkcode JobStore.open}.
 *
 * @example
 * ```ts
 * import type { StoreEngine } from "@x/jobq/store";
 *
 * const engine: StoreEngine = {
 *   engineId: "0123456789abcdef",
 *   claimTimeout: 30_000,
 *   report: (error) => console.error(error.message),
 * };
 * ```
 */
export interface StoreEngine {
  /** The engine's id: 16 lowercase hex digits, unique among a queue's engines. */
  readonly engineId: string;
  /**
   * The engine's lease, in ms: other engines take its claims back when it
   * has gone this long without a heartbeat, as the store's clock measures.
   */
  readonly claimTimeout: number;
  /** Receives problems that fail no operation: a record set aside, a leftover not removed. */
  report(error: JobQueueError): void;
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

/**
 * What became of one job given to {@linkcode JobStore.add}.
 *
 * @example
 * ```ts
 * import type { AddResult } from "@x/jobq/store";
 *
 * function describe(result: AddResult): string {
 *   return result.kind === "added" ? `stored ${result.job.id}` : `not stored (${result.kind})`;
 * }
 * ```
 */
export type AddResult =
  /** Stored: `job` is the job given. */
  | { readonly kind: "added"; readonly job: Job }
  /**
   * Not stored: `job` is the waiting or running job that holds the unique
   * key of the job given, and stands in for it.
   */
  | { readonly kind: "held"; readonly job: Job }
  /**
   * Not stored: the job given is an occurrence of a recurring job (its
   * unique key is its occurrence's) whose date had come by the time its key
   * was taken. It may have run elsewhere and let go of its key meanwhile;
   * the engine stores the schedule's next occurrence instead.
   */
  | { readonly kind: "late"; readonly job: Job };

/**
 * Which due jobs {@linkcode JobStore.claimDue} hands out.
 *
 * @example
 * ```ts
 * import type { ClaimRequest } from "@x/jobq/store";
 *
 * const request: ClaimRequest = { limit: 4, skip: new Set(["paused"]) };
 * ```
 */
export interface ClaimRequest {
  /** How many jobs to claim at most; with 0 none is claimed, and `nextDueAt` is told. */
  readonly limit: number;
  /** Methods whose jobs are neither handed out nor counted in `nextDueAt`: paused ones. */
  readonly skip: ReadonlySet<string>;
}

/**
 * What {@linkcode JobStore.claimDue} hands out.
 *
 * @example
 * ```ts
 * import type { DueJobs } from "@x/jobq/store";
 *
 * const none: DueJobs = { jobs: [], nextDueAt: undefined };
 * ```
 */
export interface DueJobs {
  /**
   * The jobs claimed for this engine, `IN_PROGRESS` with this attempt
   * counted in `attempts`: the highest priority first, then the earliest
   * execution date, then the id.
   */
  readonly jobs: readonly Job[];
  /**
   * When the first waiting job that was not claimed now comes due, in epoch
   * ms on the engine's clock (`Date.now()`), in the past when more are due
   * than were claimed; `undefined` when none waits. Jobs claimed by any
   * engine are not waiting. A store that judges due dates by a clock of its
   * own (a database's) tells how far off the date is by that clock, so that
   * an engine whose clock is off looks again when the job is due, not
   * before or long after.
   */
  readonly nextDueAt: number | undefined;
}

/**
 * Which jobs {@linkcode JobStore.list} returns: those that match every
 * field given, in id order (execution date, then creation).
 *
 * @example The next page of failed jobs
 * ```ts
 * import type { JobQuery } from "@x/jobq/store";
 *
 * const page: JobQuery = { state: "FAILED", after: "2024-01-01T00-00-00-000Z-0000000000000-00000000", limit: 50 };
 * ```
 */
export interface JobQuery {
  /** Only jobs in this state; a claimed job is `IN_PROGRESS`. */
  readonly state?: JobState;
  /** Only jobs of this method. */
  readonly methodName?: string;
  /** Only jobs whose id sorts after this one: the cursor of the next page. */
  readonly after?: string;
  /**
   * At most this many.
   *
   * @default {Infinity}
   */
  readonly limit?: number;
}

/**
 * Which jobs {@linkcode JobStore.removeWhere} removes: those that match every
 * field given and that no engine has claimed.
 *
 * @example Failed jobs older than a week
 * ```ts
 * import type { JobFilter } from "@x/jobq/store";
 *
 * const old: JobFilter = { state: "FAILED", finishedBefore: Date.now() - 7 * 24 * 3600_000 };
 * ```
 */
export interface JobFilter {
  /** Only jobs of this method. */
  readonly methodName?: string;
  /** Only jobs in this state (`IN_PROGRESS` jobs are claimed: never removed). */
  readonly state?: JobState;
  /** Only finished jobs that finished before this epoch ms. */
  readonly finishedBefore?: number;
}

/**
 * Which completed jobs {@linkcode JobStore.pruneCompleted} keeps; every
 * other completed job is removed.
 *
 * @example
 * ```ts
 * import type { CompletedToKeep } from "@x/jobq/store";
 *
 * const keep: CompletedToKeep = { count: 1000, finishedAfter: Date.now() - 24 * 3600_000 };
 * ```
 */
export interface CompletedToKeep {
  /**
   * Keep at most this many, the most recently finished.
   *
   * @default {Infinity}
   */
  readonly count?: number;
  /**
   * Keep only those finished after this epoch ms.
   *
   * @default {-Infinity}
   */
  readonly finishedAfter?: number;
}

/**
 * Where jobs live: the queue operations the engine needs, and nothing of how
 * they are kept. {@linkcode FileJobStore} keeps one file per job in a
 * directory; a database can stand in for it, so that engines on several
 * machines share one queue.
 *
 * One store instance serves one engine, from `open` to `close`. Every job
 * given to a store is valid (`Job` checks that); every job a store returns is
 * a `Job`.
 *
 * **Claims.** An engine runs a job only while it holds the job's claim, and
 * at most one engine holds a job's claim: `claimDue` takes claims atomically
 * across engines. The outcome operations (`complete`, `progress`, `fail`,
 * `retryLater`, `release`) take a claimed job, as `claimDue` or `progress`
 * last returned it, and write only while the claim is still this engine's;
 * when it is not (another engine took it back after this one's lease ran
 * out), they write nothing and resolve to `undefined`.
 *
 * **Leases.** `heartbeat` renews this engine's lease; `recover` takes back
 * the claims of engines whose lease has run out, judged on the store's clock
 * so that machines with skewed clocks agree, and puts their jobs back to
 * `NOT_STARTED`: a job whose run was cut short that way has that run counted
 * in `attempts` (unless a progress report counted it already) and in
 * `interruptions`; a claim that `retryLater` kept guards no run, and counts
 * none. A store may know an engine alive by other means than its lease (the
 * file store: a live process on the same host), but judges an engine on
 * another machine by its lease alone.
 *
 * **Change notification** is optional: a store that can tell when other
 * engines add or free jobs offers `watch`; the engine polls `claimDue` every
 * `pollInterval` in any case, and `claimDue` sees what other engines did
 * whether or not anyone watches.
 *
 * @example A store that logs every claim, around another store
 * ```ts
 * import type { ClaimRequest, DueJobs, JobStore } from "@x/jobq/store";
 * import { FileJobStore } from "@x/jobq/store";
 * import { JobQueue } from "@x/jobq";
 *
 * function logClaims(store: JobStore): JobStore {
 *   return new Proxy(store, {
 *     get(target, property) {
 *       const value = Reflect.get(target, property);
 *       // The store's own methods use its private fields: call them on the store.
 *       if (property !== "claimDue") return typeof value === "function" ? value.bind(target) : value;
 *       return async (request: ClaimRequest): Promise<DueJobs> => {
 *         const due = await target.claimDue(request);
 *         for (const job of due.jobs) console.log(`claimed ${job.key}`);
 *         return due;
 *       };
 *     },
 *   });
 * }
 *
 * const store = logClaims(new FileJobStore({ directory: await Deno.makeTempDir() }));
 * const queue = new JobQueue({ store });
 * queue.registerJobHandler("work", () => {});
 * const job = await queue.scheduleJob({ methodName: "work" });
 * await queue.start();
 * await queue.settled(job.id); // "claimed work__…" was logged
 * await queue.dispose();
 * ```
 */
export interface JobStore {
  /**
   * Prepares the storage (creating what is missing) and registers `engine`
   * as alive. Called once, before any other operation. (`FileJobStore`
   * also reads before `open` and after `close`, for tools that look at
   * what a queue left.)
   *
   * @throws {JobQueueError} When the storage cannot be used; says why.
   */
  open(engine: StoreEngine): Promise<void>;
  /** Unregisters the engine; its claims are settled by then. Releases what `open` took. */
  close(): Promise<void>;

  /**
   * Stores new jobs durably, all or none: once it resolves, every job
   * reported `added` survives a crash. A job whose unique key a waiting or
   * running job holds is not stored (`held`), nor is a late occurrence of a
   * recurring job (`late`); within one call, a unique key goes to the first
   * job that has it.
   *
   * @returns What became of each job, in the order given.
   * @throws {JobQueueError} When a job cannot be stored; none is.
   * @throws {RangeError} When a job is too large for the store. jobq's file
   *   store takes a job file of up to 64 MiB of UTF-8, its PostgreSQL store a
   *   job of up to 64 Mi characters of JSON.
   */
  add(jobs: readonly Job[]): Promise<AddResult[]>;
  /** The job with this id as stored (`IN_PROGRESS` while claimed), or `undefined`. */
  get(id: string): Promise<Job | undefined>;
  /** The stored jobs that match `query`, in id order. */
  list(query?: JobQuery): Promise<Job[]>;

  /**
   * Claims up to `limit` waiting jobs that are due by the store's clock, of
   * methods not in `skip`, for this engine: the highest priority first, then
   * the earliest execution date. Jobs another engine holds are not handed
   * out. Also tells when the next waiting job comes due. The engine calls
   * it again while a call is under way (each asks for other free slots): no
   * two calls hand out one job.
   */
  claimDue(request: ClaimRequest): Promise<DueJobs>;
  /**
   * Records that a claimed job completed with `result`: keeps it as
   * `COMPLETED` with `keep`, or removes it; lets go of its unique key and its
   * claim. Resolves to the completed job, or `undefined` when the claim was
   * no longer this engine's.
   */
  complete(job: Job, result: unknown, keep: boolean): Promise<Job | undefined>;
  /**
   * Records a claimed job's progress, keeping the claim; the job then counts
   * this attempt itself. Resolves to the updated job, or `undefined` when
   * the claim was no longer this engine's.
   */
  progress(job: Job, progress: unknown): Promise<Job | undefined>;
  /**
   * Records that a claimed job failed for good with `error`, lets go of its
   * unique key and its claim. Resolves to the failed job, or `undefined`
   * when the claim was no longer this engine's.
   */
  fail(job: Job, error: JobErrorRecord): Promise<Job | undefined>;
  /**
   * Records a failed attempt of a claimed job that will be retried:
   * `NOT_STARTED` again, due at `executionDate`, with `error`. Lets go of
   * the claim, unless `keepClaim` (then {@linkcode unclaim} does later: the
   * retry must not start before). Resolves to the waiting job, or
   * `undefined` when the claim was no longer this engine's.
   */
  retryLater(
    job: Job,
    error: JobErrorRecord,
    executionDate: number,
    keepClaim: boolean,
  ): Promise<Job | undefined>;
  /**
   * Gives a claimed job back unrun: `NOT_STARTED`, this attempt not
   * counted, due at `executionDate` (or when it was), and lets go of the
   * claim (even when the job cannot be rewritten). Resolves to the waiting
   * job, or `undefined` when the claim was no longer this engine's.
   */
  release(job: Job, executionDate?: number): Promise<Job | undefined>;
  /**
   * Lets go of a claim that `retryLater` kept. Resolves to `false` when it
   * was no longer this engine's.
   */
  unclaim(job: Job): Promise<boolean>;

  /**
   * Replaces a failed job by `fresh` (made by the engine: a new id, due now,
   * no attempt counted), in one step: nobody sees both or neither. Resolves
   * to what became of `fresh` (`held` when a waiting job holds its unique
   * key: then `failed` stays), or `undefined` when `failed` is no longer a
   * failed job or another engine holds it.
   */
  replace(failed: Job, fresh: Job): Promise<AddResult | undefined>;
  /** Removes the job with this id unless an engine holds it; `false` if held or gone. */
  remove(id: string): Promise<boolean>;
  /** Removes every job that matches `filter` and that no engine holds; resolves to how many. */
  removeWhere(filter: JobFilter): Promise<number>;
  /** Removes the completed jobs that `keep` does not cover; resolves to how many. */
  pruneCompleted(keep: CompletedToKeep): Promise<number>;

  /** Renews this engine's lease. */
  heartbeat(): Promise<void>;
  /**
   * Takes back the claims of engines whose lease has run out (or that are
   * gone) and puts their jobs back to wait, counting the cut-short runs;
   * resolves to how many claims it took back.
   */
  recover(): Promise<number>;
  /**
   * The engines registered on the store, as their heartbeats tell (read
   * only: nothing is recovered).
   */
  engines(): Promise<EngineInfo[]>;
  /**
   * Calls `onChange` when other engines may have added, freed or finished
   * jobs, so that this engine looks at once instead of at its next poll.
   * Optional; returns a function that stops watching.
   */
  watch?(onChange: () => void): () => void;
  /**
   * Where the jobs are, for people to read (the `jobq` command's messages,
   * the dashboard's header): a directory, a database URL without its
   * password. Optional; never holds a secret.
   */
  readonly location?: string;
}
