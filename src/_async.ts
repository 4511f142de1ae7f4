/**
 * Maps `items` through `task` with at most `limit` tasks in flight, keeping
 * the order of the results. Bounded so that reading a directory of 100,000
 * job files does not open 100,000 files at once.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Whether `promise` settles within `ms` milliseconds (`Infinity`: waits as
 * long as it takes); waits no longer. A rejection counts as settling, and is
 * left to whoever else awaits it.
 */
export async function finishesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<false>((resolve) => {
    // Beyond 2^31−1 ms, setTimeout would fire at once: that long is forever here.
    if (ms < 2 ** 31) timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs tasks with at most `limit` in flight; the others wait their turn, in
 * the order they came.
 */
export class Limiter {
  readonly #limit: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active < this.#limit) this.#active++;
    // The task that ends hands its slot over: the count stays.
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#active--;
      else next();
    }
  }
}
