import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { LockingQueue } from "../mod.ts";

/** A promise with its resolve function, for tasks the test releases by hand. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => resolve = done);
  return { promise, resolve };
}

/**
 * Rejects with `message` unless `promise` settles within `ms`, so that a
 * broken lock fails the test instead of hanging it.
 */
async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("LockingQueue.run()", () => {
  test("tasks on one key run one at a time, in the order they were queued", async () => {
    const lock = new LockingQueue();
    const events: string[] = [];
    let running = 0;
    let mostAtOnce = 0;
    // Earlier tasks take longer: run at once, they would finish in reverse
    // order, and all three would start before the first timer fires.
    const task = (name: string, ms: number) => async () => {
      running++;
      mostAtOnce = Math.max(mostAtOnce, running);
      events.push(`start ${name}`);
      await delay(ms);
      events.push(`end ${name}`);
      running--;
      return name;
    };
    const results = await Promise.all([
      lock.run("job-1", task("a", 30)),
      lock.run("job-1", task("b", 20)),
      lock.run("job-1", task("c", 10)),
    ]);
    assert.deepEqual(results, ["a", "b", "c"]);
    assert.equal(mostAtOnce, 1);
    assert.deepEqual(events, ["start a", "end a", "start b", "end b", "start c", "end c"]);
  });

  test("tasks on different keys run at the same time", async () => {
    const lock = new LockingQueue();
    const secondStarted = deferred();
    // The first task cannot end until the second has started: if the keys
    // shared one lane, the second would wait behind the first forever.
    const first = lock.run(
      "job-1",
      () =>
        within(secondStarted.promise, 10_000, "the task on job-2 did not start while job-1 ran"),
    );
    const second = lock.run("job-2", () => {
      secondStarted.resolve();
      return Promise.resolve("second");
    });
    assert.deepEqual(await Promise.all([first, second]), [undefined, "second"]);
  });

  test("a rejecting task rejects its own promise and the next task on the key still runs", async () => {
    const lock = new LockingQueue();
    const order: string[] = [];
    const failure = new Error("boom");
    const first = lock.run("job-1", async () => {
      await delay(5);
      order.push("first");
      throw failure;
    });
    const second = lock.run("job-1", () => {
      order.push("second");
      return Promise.resolve(42);
    });
    await assert.rejects(first, (error) => error === failure);
    assert.equal(await within(second, 10_000, "the task after the rejected one never ran"), 42);
    assert.deepEqual(order, ["first", "second"]);
  });

  test("a task that throws synchronously rejects its own promise and does not block the key", async () => {
    const lock = new LockingQueue();
    const failure = new TypeError("bad task");
    const first = lock.run("job-1", (): Promise<never> => {
      throw failure;
    });
    const second = lock.run("job-1", () => Promise.resolve("next"));
    await assert.rejects(first, (error) => error === failure);
    assert.equal(
      await within(second, 10_000, "the task after the throwing one never ran"),
      "next",
    );
  });

  test("a key can be used again after all its tasks have settled", async () => {
    const lock = new LockingQueue();
    await assert.rejects(lock.run("job-1", () => Promise.reject(new Error("boom"))));
    assert.equal(await lock.run("job-1", () => Promise.resolve(1)), 1);
    assert.equal(await lock.run("job-1", () => Promise.resolve(2)), 2);
  });

  test("a task's result is passed through unchanged", async () => {
    const lock = new LockingQueue();
    const value = { nested: [1, 2, 3] };
    assert.equal(await lock.run("job-1", () => Promise.resolve(value)), value);
    assert.equal(await lock.run("job-1", () => Promise.resolve(undefined)), undefined);
    assert.equal(await lock.run("job-2", () => Promise.resolve(null)), null);
  });
});
