import { isUnfinished, Job } from "../../job/job.ts";
import type { JobRef } from "./_job_files.ts";
import { byDate, byPriority, JobIndex } from "./_job_index.ts";

/**
 * The waiting jobs of a directory as one engine knows them, so that handing
 * out due work reads no directory: jobs not due yet in date order (known by
 * their file name alone until they come due), due jobs in priority order,
 * and jobs another engine holds, which wait again once its claim is gone.
 */
export class DueIndex {
  /** Jobs waiting for their date; those found in the directory not due yet are known by name. */
  readonly #waiting = new JobIndex<JobRef>(byDate);
  /** Due jobs, highest priority first. */
  readonly #due = new JobIndex<Job>(byPriority);
  /** Due jobs known by name whose file is being read. */
  readonly #reading = new Set<string>();
  /** Jobs another engine holds, by id. */
  readonly #heldElsewhere = new Map<string, JobRef>();

  /** How many jobs wait or are held elsewhere. */
  get size(): number {
    return this.#waiting.size + this.#due.size + this.#reading.size + this.#heldElsewhere.size;
  }

  /** Indexes a waiting job (again), replacing what was known of it. */
  add(job: JobRef): void {
    this.#heldElsewhere.delete(job.id);
    this.#due.delete(job.id);
    this.#waiting.add(job);
  }

  /** Notes that another engine holds a job: it waits again once that claim is gone. */
  holdElsewhere(job: JobRef): void {
    this.#waiting.delete(job.id);
    this.#due.delete(job.id);
    this.#heldElsewhere.set(job.id, job);
  }

  /** Forgets a job: gone, finished, or claimed here. */
  delete(id: string): void {
    this.#waiting.delete(id);
    this.#due.delete(id);
    this.#reading.delete(id);
    this.#heldElsewhere.delete(id);
  }

  /** Puts back to wait the jobs held elsewhere whose claim is not in `claimed`. */
  releaseHeld(claimed: ReadonlySet<string>): boolean {
    let released = false;
    for (const [id, job] of this.#heldElsewhere) {
      if (claimed.has(id)) continue;
      this.#heldElsewhere.delete(id);
      this.#waiting.add(job);
      released = true;
    }
    return released;
  }

  /**
   * Moves the jobs due by `now` to the priority order; those known by name
   * only are read first with `read` (a job gone, finished or due later since
   * is dropped or waits again).
   */
  async promote(
    now: number,
    read: (refs: JobRef[]) => Promise<(Job | undefined)[]>,
  ): Promise<void> {
    const unread: JobRef[] = [];
    for (let next = this.#waiting.peek(); next !== undefined && next.executionDate <= now;) {
      this.#waiting.pop();
      if (next instanceof Job) this.#due.add(next);
      else {
        unread.push(next);
        this.#reading.add(next.id);
      }
      next = this.#waiting.peek();
    }
    if (unread.length === 0) return;
    const jobs = await read(unread);
    unread.forEach((ref, index) => {
      // Forgotten while it was read: removed, or claimed.
      if (!this.#reading.delete(ref.id)) return;
      const job = jobs[index];
      if (job === undefined || !isUnfinished(job)) return;
      if (job.executionDate <= now) this.#due.add(job);
      else this.#waiting.add(job);
    });
  }

  /** Takes the first due job whose method is not in `skip`; the skipped ones stay. */
  takeDue(skip: ReadonlySet<string>): Job | undefined {
    const skipped: Job[] = [];
    let next = this.#due.pop();
    while (next !== undefined && skip.has(next.methodName)) {
      skipped.push(next);
      next = this.#due.pop();
    }
    for (const job of skipped) this.#due.add(job);
    return next;
  }

  /**
   * When the next waiting job comes due: `now` when a due job of a method
   * not in `skip` waits, the first date of the jobs not due yet otherwise.
   */
  nextDueAt(now: number, skip: ReadonlySet<string>): number | undefined {
    if (skip.size === 0 ? this.#due.peek() !== undefined : this.#hasDue(skip)) return now;
    return this.#waiting.peek()?.executionDate;
  }

  /** Whether a due job of a method not in `skip` waits. */
  #hasDue(skip: ReadonlySet<string>): boolean {
    const due = this.takeDue(skip);
    if (due === undefined) return false;
    this.#due.add(due);
    return true;
  }
}
