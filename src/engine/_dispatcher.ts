/**
 * Dispatching: asks the store for due jobs whenever a slot may be free or a
 * job may have come due, starts them, and sets one timer for the next due
 * date. Looks may overlap: each asks for the slots that are free and not
 * promised to another look, so that a slot freed during a look is filled
 * without waiting for it.
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
  /** How many looks are under way. */
  #looks = 0;
  /** The latest look: what a wake that starts none resolves with. */
  #latest: Promise<void> = Promise.resolve();
  /** Slots promised to the looks under way: the jobs they claim take them. */
  #promised = 0;
  /** A wake found no slot to ask for while looks were under way: look once they end. */
  #lookAgain = false;
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the timer fires. */
  #timerFiresAt = 0;
  /** When the next job the store knows of comes due, as the last look told. */
  #nextDueAt: number | undefined;

  constructor(context: DispatcherContext) {
    this.#context = context;
  }

  /** Whether a look is under way. */
  get looking(): boolean {
    return this.#looks > 0;
  }

  /** Whether a job is due now, as the last look told: it waits for a slot. */
  get dueNow(): boolean {
    return this.#nextDueAt !== undefined && this.#nextDueAt <= Date.now();
  }

  /**
   * Looks for due jobs, for the slots that are free and not promised to a
   * look under way. With none such, only notes when the next job is due
   * (for `onIdle()`), once no other look is under way. Resolves once the
   * look it started, or the latest one, is over.
   */
  wake(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return this.#lookIfAllowed() ?? this.#latest;
  }

  /**
   * Starts a look for the slots free and not promised, unless there are
   * none and other looks are under way: then one more follows them.
   */
  #lookIfAllowed(): Promise<void> | undefined {
    const limit = Math.min(Math.max(0, this.#context.freeSlots() - this.#promised), CLAIM_BATCH);
    if (limit === 0 && this.#looks > 0) {
      this.#lookAgain = true;
      return undefined;
    }
    this.#lookAgain = false;
    this.#looks++;
    this.#promised += limit;
    let full = false;
    return this.#latest = this.#context.inBackground(async () => {
      try {
        const due = await this.#context.store.claimDue({ limit, skip: this.#context.paused() });
        for (const job of due.jobs) this.#context.start(job);
        // Jobs left due with every slot taken start when a slot frees up.
        this.#nextDueAt = due.nextDueAt;
        full = limit > 0 && due.jobs.length === limit;
      } finally {
        // Once its jobs hold their slots: a wake from a starting handler
        // must not ask for those slots again.
        this.#promised -= limit;
      }
    }).then(() => {
      this.#looks--;
      this.#arm();
      // More may be due than this look could take, or a wake found no slot
      // to ask for while it ran (for a job stored meanwhile, perhaps).
      const more = (full && this.#context.freeSlots() > this.#promised) || this.#lookAgain;
      const next = more && !this.#stopped ? this.#lookIfAllowed() : undefined;
      // Once the next look is under way: until it ends, nobody may take the
      // engine for idle on this look's answer.
      this.#context.looked();
      return next;
    });
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

  /**
   * Sets the timer for the next due date, unless the timer already set
   * fires no later than that: the look it makes sets the next one.
   */
  #arm(): void {
    const due = this.#stopped ? undefined : this.#nextDueAt;
    let delay = due === undefined ? undefined : due - Date.now();
    if (delay !== undefined && delay <= 0) {
      // Due by this engine's clock with a slot free, yet not handed out: the
      // store's clock (a database's) is a little behind. Look again soon.
      // With every slot taken, a slot that frees up looks again.
      delay = this.#context.freeSlots() - this.#promised > 0 ? CLOCK_SLACK_MS : undefined;
    }
    if (delay === undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      return;
    }
    // A timer may fire a little early: the store checks the clock, and the
    // look arms the timer again.
    const firesAt = Date.now() + Math.min(delay, MAX_TIMER_DELAY);
    // Not set again for a date a little later: a store on a clock of its own
    // tells a date that moves by its round trip from one look to the next.
    if (this.#timer !== undefined && this.#timerFiresAt <= firesAt) return;
    clearTimeout(this.#timer);
    this.#timerFiresAt = firesAt;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.wake();
    }, Math.min(delay, MAX_TIMER_DELAY));
  }
}
