/**
 * The promises to wait on: `onIdle()`, `drained()` and `settled(id)`, and
 * when each holds.
 */
import { isUnfinished, type Job, JobState } from "../job/job.ts";
import { JobQueueError } from "../job_queue_error.ts";
import type { JobStore } from "../store/job_store.ts";

/** What the waiters need of their engine. */
export interface WaitersContext {
  readonly store: JobStore;
  /** Whether nothing runs here, no look is under way, and no job this engine would start is due. */
  isIdle(): boolean;
  /** Whether this engine holds a job without running it (a held retry). */
  holdsJobs(): boolean;
  /** Runs a check as background work that dispose() waits for, reporting its failure. */
  inBackground(task: () => Promise<void>): Promise<void>;
}

/** A caller of onIdle() or drained(). */
interface StateWaiter {
  readonly drained: boolean;
  resolve(): void;
  reject(error: unknown): void;
}

/** A caller of settled(). */
interface SettledWaiter {
  resolve(job: Job | undefined): void;
  reject(error: unknown): void;
}

/** The callers of `onIdle()`, `drained()` and `settled(id)`, and when each holds. */
export class Waiters {
  readonly #context: WaitersContext;
  readonly #state = new Set<StateWaiter>();
  readonly #settled = new Map<string, Set<SettledWaiter>>();
  /** Whether the store is being asked whether any job is left. */
  #askingStore = false;
  /** Counts the jobs stored or started here, so that a stale "none left" is not believed. */
  #changes = 0;

  constructor(context: WaitersContext) {
    this.#context = context;
  }

  /** Whether some caller waits for a job to settle. */
  get waitingForJobs(): boolean {
    return this.#settled.size > 0;
  }

  /** Whether some caller of `onIdle()` or `drained()` waits. */
  get waitingForState(): boolean {
    return this.#state.size > 0;
  }

  /** Resolves once the engine is idle; at once when it is now. */
  onIdle(): Promise<void> {
    if (this.#context.isIdle()) return Promise.resolve();
    return new Promise((resolve, reject) => this.#state.add({ drained: false, resolve, reject }));
  }

  /** Resolves once the engine is idle, holds no job and the store has no job left. */
  drained(): Promise<void> {
    const drained = new Promise<void>((resolve, reject) =>
      this.#state.add({ drained: true, resolve, reject })
    );
    this.check();
    return drained;
  }

  /**
   * Resolves with the job once it has completed or failed, at once if it
   * has; with `undefined` when it is gone.
   */
  async settled(id: string): Promise<Job | undefined> {
    let waiter!: SettledWaiter;
    const settled = new Promise<Job | undefined>((resolve, reject) => {
      waiter = { resolve, reject };
    });
    // Listening before looking: the job may settle while it is read.
    const waiters = this.#settled.get(id) ?? new Set();
    waiters.add(waiter);
    this.#settled.set(id, waiters);
    try {
      const job = await this.#context.store.get(id);
      if (job === undefined || !isUnfinished(job)) this.notifySettled(id, job);
    } catch (error) {
      waiters.delete(waiter);
      if (waiters.size === 0) this.#settled.delete(id);
      throw error;
    }
    return await settled;
  }

  /** Notes that a job was stored or started here: the store's last word on what is left is stale. */
  changed(): void {
    this.#changes++;
  }

  /** Hands a job's end (or `undefined`: it is gone) to whoever waits for it. */
  notifySettled(id: string, job: Job | undefined): void {
    const waiters = this.#settled.get(id);
    if (waiters === undefined) return;
    this.#settled.delete(id);
    for (const { resolve } of waiters) resolve(job);
  }

  /** Reads the jobs waited for, for those that settled elsewhere. */
  async checkSettled(): Promise<void> {
    for (const id of [...this.#settled.keys()]) {
      const job = await this.#context.store.get(id);
      if (job === undefined || !isUnfinished(job)) this.notifySettled(id, job);
    }
  }

  /** Resolves the callers of `onIdle()` and `drained()` whose condition holds now. */
  check(): void {
    if (this.#state.size === 0 || !this.#context.isIdle()) return;
    const drained = [...this.#state].filter((waiter) => waiter.drained);
    for (const waiter of this.#state) {
      if (!waiter.drained) {
        this.#state.delete(waiter);
        waiter.resolve();
      }
    }
    if (drained.length > 0 && !this.#context.holdsJobs()) this.#askStore();
  }

  /**
   * At dispose(): `onIdle()` resolves (nothing runs any more), `drained()`
   * rejects unless nothing is left, `settled()` rejects for every job.
   */
  async dispose(): Promise<void> {
    for (const [id, waiters] of this.#settled) {
      const error = new JobQueueError(
        `Job ${id} did not settle before the queue was disposed; it runs at a later start`,
      );
      for (const { reject } of waiters) reject(error);
    }
    this.#settled.clear();
    const left = [...this.#state].some((waiter) => waiter.drained) && await this.#anyJobLeft();
    for (const waiter of this.#state) {
      if (!waiter.drained || !left) waiter.resolve();
      else {waiter.reject(
          new JobQueueError("The queue was disposed before it drained: jobs are left"),
        );}
    }
    this.#state.clear();
  }

  /** Asks the store whether any job is left; resolves the `drained()` callers when none is. */
  #askStore(): void {
    if (this.#askingStore) return;
    this.#askingStore = true;
    const changes = this.#changes;
    void this.#context.inBackground(async () => {
      const left = await this.#anyJobLeft();
      if (left || changes !== this.#changes || !this.#context.isIdle()) return;
      for (const waiter of this.#state) {
        if (waiter.drained) {
          this.#state.delete(waiter);
          waiter.resolve();
        }
      }
    }).finally(() => this.#askingStore = false);
  }

  async #anyJobLeft(): Promise<boolean> {
    for (const state of [JobState.NOT_STARTED, JobState.IN_PROGRESS]) {
      if ((await this.#context.store.list({ state, limit: 1 })).length > 0) return true;
    }
    return false;
  }
}
