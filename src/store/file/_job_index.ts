import type { JobRef } from "./_job_files.ts";
import type { Job } from "../../job/job.ts";

/**
 * Jobs in an order (see {@linkcode byDate} and {@linkcode byPriority}): a
 * binary min-heap for the order and a map for membership.
 * Deleting only drops a job from the map; its heap entry is skipped when it
 * surfaces, and the heap is rebuilt once stale entries outnumber live ones.
 */
export class JobIndex<T extends JobRef> {
  #heap: T[] = [];
  readonly #jobs = new Map<string, T>();
  readonly #compare: (a: T, b: T) => number;

  constructor(compare: (a: T, b: T) => number) {
    this.#compare = compare;
  }

  /** How many jobs are waiting. */
  get size(): number {
    return this.#jobs.size;
  }

  /** Adds a job, or replaces the waiting job with the same id. */
  add(job: T): void {
    this.#jobs.set(job.id, job);
    this.#heap.push(job);
    this.#siftUp(this.#heap.length - 1);
  }

  /** Forgets a waiting job. */
  delete(id: string): void {
    this.#jobs.delete(id);
    if (this.#heap.length > 64 && this.#heap.length > 2 * this.#jobs.size) this.#rebuild();
  }

  /** The first job in order, without removing it. */
  peek(): T | undefined {
    this.#dropStale();
    return this.#heap[0];
  }

  /** Removes and returns the first job in order. */
  pop(): T | undefined {
    const job = this.peek();
    if (job !== undefined) {
      this.#jobs.delete(job.id);
      this.#removeRoot();
    }
    return job;
  }

  /** Drops heap entries whose job was deleted or replaced. */
  #dropStale(): void {
    while (this.#heap.length > 0 && this.#jobs.get(this.#heap[0]!.id) !== this.#heap[0]) {
      this.#removeRoot();
    }
  }

  #rebuild(): void {
    this.#heap = [...this.#jobs.values()].sort(this.#compare);
  }

  #removeRoot(): void {
    const last = this.#heap.pop()!;
    if (this.#heap.length === 0) return;
    this.#heap[0] = last;
    this.#siftDown(0);
  }

  #siftUp(index: number): void {
    const heap = this.#heap;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (this.#compare(heap[parent]!, heap[index]!) <= 0) return;
      [heap[parent], heap[index]] = [heap[index]!, heap[parent]!];
      index = parent;
    }
  }

  #siftDown(index: number): void {
    const heap = this.#heap;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && this.#compare(heap[left]!, heap[smallest]!) < 0) smallest = left;
      if (right < heap.length && this.#compare(heap[right]!, heap[smallest]!) < 0) smallest = right;
      if (smallest === index) return;
      [heap[smallest], heap[index]] = [heap[index]!, heap[smallest]!];
      index = smallest;
    }
  }
}

/** Execution date, then id (creation order for equal dates). */
export function byDate(a: JobRef, b: JobRef): number {
  if (a.executionDate !== b.executionDate) return a.executionDate - b.executionDate;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Higher priority first, then as {@linkcode byDate}. */
export function byPriority(a: Job, b: Job): number {
  return b.priority - a.priority || byDate(a, b);
}
