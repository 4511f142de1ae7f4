/**
 * Dispatching: asks the store for due jobs whenever a slot may be free or a
 * job may have come due, starts them, and sets one timer for the next due
 * date. One look at a time; a wake-up during a look makes another.
 */
import type { Job } from "../job/job.ts";
import type { JobStore } from "../store/job_store.ts";

/** `setTimeout` fires at once for delays beyond 2^31−1 ms: longer waits are split. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * How long to wait before looking again at a job that is due by this
 * engine's clock but not yet by the store's.
 */
const CLOCK_SLACK_MS = 10;

/** The most jobs one look claims: with unlimited concurrency, more looks follow. */
const CLAIM_BATCH = 256;

/** What the dispatcher needs of its engine. */
export interface DispatcherContext {
  readonly store: JobStore;
  /** How many jobs may start now: free slots, or 0 (paused, shutting down). */
  freeSlots(): number;
  /** Methods whose jobs must not start: paused ones. */
  paused(): ReadonlySet<string>;
  /** Runs a claimed job. */
  start(job: Job): void;
  /** Runs a look as background work that dispose() waits for, reporting its failure. */
  inBackground(task: () => Promise<void>): Promise<void>;
  /** A look has ended: waiters may hold now. */
  looked(): void;
}

/** Hands due jobs from the store to the engine. */
export class Dispatcher {
  readonly #context: DispatcherContext;
  /** The look under way: it looks again when woken meanwhile. */
  #current: Promise<void> | undefined;
  #lookAgain = false;
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The due date the timer is set for. */
  #timerDue: number | undefined;
  /** When the next job the store knows of comes due, as the last look told. */
  #nextDueAt: number | undefined;

  constructor(context: DispatcherContext) {
    this.#context = context;
  }

  /** Whether a look is under way. */
  get looking(): boolean {
    return this.#current !== undefined;
  }

  /** Whether a job is due now, as the last look told: it waits for a slot. */
  get dueNow(): boolean {
    return this.#nextDueAt !== undefined && this.#nextDueAt <= Date.now();
  }

  /**
   * Looks for due jobs: now, or right after the look under way. With no
   * free slot, only notes when the next one is due (for `onIdle()`).
   * Resolves once that look is over.
   */
  wake(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#current !== undefined) {
      this.#lookAgain = true;
      return this.#current;
    }
    this.#current = this.#context.inBackground(() => this.#look()).then(() => {
      this.#current = undefined;
      this.#context.looked();
      // A wake that came after the look's last claim (its loop had ended, in
      // the same turn of the event loop as the claim's answer) looks again.
      if (this.#lookAgain) return this.wake();
    });
    return this.#current;
  }

  /**
   * Notes a job this engine stored, due at `executionDate`, without looking:
   * an engine that does not process jobs looks only when asked, but knows
   * what it stored itself.
   */
  noteDue(executionDate: number): void {
    if (this.#nextDueAt === undefined || executionDate < this.#nextDueAt) {
      this.#nextDueAt = executionDate;
    }
  }

  /** Starts no job from now on and clears the timer. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  async #look(): Promise<void> {
    do {
      this.#lookAgain = false;
      const limit = Math.min(Math.max(0, this.#context.freeSlots()), CLAIM_BATCH);
      const due = await this.#context.store.claimDue({ limit, skip: this.#context.paused() });
      for (const job of due.jobs) this.#context.start(job);
      // Jobs left due with every slot taken start when a slot frees up.
      this.#nextDueAt = due.nextDueAt;
      if (limit > 0 && due.jobs.length === limit && this.#context.freeSlots() > 0) {
        this.#lookAgain = true;
      }
    } while (this.#lookAgain && !this.#stopped);
    this.#arm();
  }

  /** Sets the timer for the next due date, when that is later than now and not set yet. */
  #arm(): void {
    const due = this.#stopped ? undefined : this.#nextDueAt;
    if (this.#timer !== undefined && this.#timerDue === due) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (due === undefined) return;
    let delay = due - Date.now();
    if (delay <= 0) {
      // Due by this engine's clock with a slot free, yet not handed out: the
      // store's clock (a database's) is a little behind. Look again soon.
      // With every slot taken, a slot that frees up looks again.
      if (this.#context.freeSlots() <= 0) return;
      delay = CLOCK_SLACK_MS;
    }
    // A timer may fire a little early: the store checks the clock, and the
    // look arms the timer again.
    this.#timerDue = due;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.wake();
    }, Math.min(delay, MAX_TIMER_DELAY));
  }
}
