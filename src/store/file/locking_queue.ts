/**
 * Runs tasks one at a time per key, in the order they were queued; tasks on
 * different keys run freely. The engine runs every file operation on a job
 * under that job's id, so that, within a process, removing a job never
 * interleaves with recording its outcome. Pass your own through the
 * `lockingQueue` option to share one among several engines.
 *
 * @example Serialising work on one key
 * ```ts
 * import { LockingQueue } from "@x/jobq";
 * import assert from "node:assert/strict";
 *
 * const lock = new LockingQueue();
 * const order: string[] = [];
 * await Promise.all([
 *   lock.run("job-1", async () => {
 *     await new Promise((resolve) => setTimeout(resolve, 10));
 *     order.push("first");
 *   }),
 *   lock.run("job-1", async () => {
 *     order.push("second");
 *   }),
 * ]);
 * assert.deepEqual(order, ["first", "second"]);
 * ```
 */
export class LockingQueue {
  readonly #tails = new Map<string, Promise<void>>();

  /**
   * Runs `task` once every task queued before it on `key` has settled.
   *
   * @param key What the task works on, such as a job id.
   * @param task The work to do.
   * @returns What `task` resolves to; rejects as `task` does.
   */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(() => task());
    const tail = result.then(() => {}, () => {});
    this.#tails.set(key, tail);
    tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
