/**
 * Priorities: among due jobs, higher `priority` starts first; equal
 * priorities start in execution-date, then creation order.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Job, JobQueue, JobSpec } from "../mod.ts";
import { collectEvents, startBlocker, withQueue, withQueueOn } from "./_helpers.ts";
import { withDeadline } from "./_process_helpers.ts";
import { fileStoreOnly, type Place, withPlace } from "./_store.ts";

/**
 * Schedules `specs` (method `work`, params = a name) on a queue that has not
 * started, starts it with one slot, and resolves to the names in the order
 * their handlers ran.
 */
async function runOrder(queue: JobQueue, specs: JobSpec[]): Promise<unknown[]> {
  const ran: unknown[] = [];
  queue.registerJobHandler("work", (name: string) => {
    ran.push(name);
  });
  for (const spec of specs) await queue.scheduleJob(spec);
  const completed = collectEvents(queue, "completed", specs.length);
  await queue.start();
  await completed;
  return ran;
}

/** The raw record of a job's file. */
async function readRecord(directory: string, job: Job): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(directory, `${job.key}.json`), "utf8"));
}

/**
 * Starts a new queue on `place` with one slot, runs `count` "work" jobs
 * and resolves with their params in the order they ran.
 */
async function runOneAtATime(place: Place, count: number): Promise<unknown[]> {
  const ran: unknown[] = [];
  await withQueueOn(place, { maxConcurrency: 1 }, async (queue) => {
    queue.registerJobHandler("work", (name: string) => {
      ran.push(name);
    });
    const completed = collectEvents(queue, "completed", count);
    await queue.start();
    await completed;
    await withDeadline(queue.drained(), 3000, "drained()");
  });
  return ran;
}

describe("priorities", () => {
  test("among due jobs, a higher priority starts first", async () => {
    await withQueue({ maxConcurrency: 1 }, async (queue) => {
      const ran = await runOrder(queue, [
        { methodName: "work", params: "low" },
        { methodName: "work", params: "mid", priority: 5 },
        { methodName: "work", params: "top", priority: 10 },
        { methodName: "work", params: "default" },
      ]);
      assert.deepEqual(ran, ["top", "mid", "low", "default"]);
    });
  });

  test("equal priorities start in execution-date order, then creation order", async () => {
    await withQueue({ maxConcurrency: 1 }, async (queue) => {
      const now = Date.now();
      const ran = await runOrder(queue, [
        { methodName: "work", params: "due now", priority: 1 },
        {
          methodName: "work",
          params: "due 2 s ago, first",
          priority: 1,
          executionDate: now - 2000,
        },
        { methodName: "work", params: "due 3 s ago", priority: 1, executionDate: now - 3000 },
        {
          methodName: "work",
          params: "due 2 s ago, second",
          priority: 1,
          executionDate: now - 2000,
        },
        { methodName: "work", params: "priority 2, due now", priority: 2 },
      ]);
      assert.deepEqual(ran, [
        "priority 2, due now",
        "due 3 s ago",
        "due 2 s ago, first",
        "due 2 s ago, second",
        "due now",
      ]);
    });
  });

  test("negative priorities start after priority 0", async () => {
    await withQueue({ maxConcurrency: 1 }, async (queue) => {
      const now = Date.now();
      const ran = await runOrder(queue, [
        { methodName: "work", params: "-5", priority: -5, executionDate: now - 3000 },
        { methodName: "work", params: "-1", priority: -1, executionDate: now - 2000 },
        { methodName: "work", params: "0" },
        { methodName: "work", params: "explicit 0", priority: 0 },
      ]);
      assert.deepEqual(ran, ["0", "explicit 0", "-1", "-5"]);
    });
  });

  test("a job that becomes due later with a high priority overtakes waiting lower ones", async () => {
    await withQueue({ maxConcurrency: 1 }, async (queue) => {
      const ran: string[] = [];
      queue.registerJobHandler("work", (name: string) => {
        ran.push(name);
      });
      const blocker = await startBlocker(queue);
      // Due now, while the only slot is taken: they wait for it.
      await queue.scheduleJob({ methodName: "work", params: "low 1" });
      await queue.scheduleJob({ methodName: "work", params: "low 2", priority: 1 });
      await queue.scheduleJob({ methodName: "work", params: "urgent", priority: 100 });
      const completed = collectEvents(queue, "completed", 4);
      blocker.release();
      await completed;
      assert.deepEqual(ran, ["urgent", "low 2", "low 1"]);
    });
  });

  const INVALID: [unknown, typeof TypeError | typeof RangeError][] = [
    [1.5, RangeError],
    [Number.NaN, RangeError],
    [Infinity, RangeError],
    [2 ** 53, RangeError],
    ["high", TypeError],
    [null, TypeError],
  ];
  for (const [priority, errorClass] of INVALID) {
    test(`a priority of ${String(priority)} is refused with a ${errorClass.name}`, async () => {
      await withQueue({}, async (queue) => {
        await assert.rejects(
          queue.scheduleJob({ methodName: "work", priority: priority as number }),
          (error: unknown) => error instanceof errorClass && /'priority'/.test(error.message),
        );
        assert.deepEqual(await queue.getAllJobs(), []);
      });
    });
  }

  test("the file holds the priority only when it is not 0", fileStoreOnly, async () => {
    await withQueue({}, async (queue, directory) => {
      const none = await queue.scheduleJob({ methodName: "work" });
      const zero = await queue.scheduleJob({ methodName: "work", priority: 0 });
      const high = await queue.scheduleJob({ methodName: "work", priority: 7 });
      const low = await queue.scheduleJob({ methodName: "work", priority: -3 });
      assert.deepEqual(
        [none, zero, high, low].map((job) => job.priority),
        [0, 0, 7, -3],
      );
      assert.equal("priority" in await readRecord(directory, none), false);
      assert.equal("priority" in await readRecord(directory, zero), false);
      assert.equal((await readRecord(directory, high)).priority, 7);
      assert.equal((await readRecord(directory, low)).priority, -3);
      const stored = new Map((await queue.getAllJobs()).map((job) => [job.id, job.priority]));
      assert.deepEqual(
        [none, zero, high, low].map((job) => stored.get(job.id)),
        [0, 0, 7, -3],
      );
    });
  });

  test("priorities survive a restart: a new queue on the directory runs jobs in priority order", async () => {
    await withPlace(async (place) => {
      const now = Date.now();
      await withQueueOn(place, {}, async (queue) => {
        await queue.scheduleJob({ methodName: "work", params: "c", executionDate: now - 3000 });
        await queue.scheduleJob({ methodName: "work", params: "a", priority: 9 });
        await queue.scheduleJob({
          methodName: "work",
          params: "d",
          priority: -1,
          executionDate: now - 4000,
        });
        await queue.scheduleJob({ methodName: "work", params: "b", priority: 3 });
      });
      assert.deepEqual(await runOneAtATime(place, 4), ["a", "b", "c", "d"]);
    });
  });

  test("jobs found in the directory before they are due start in priority order once due", async () => {
    await withPlace(async (place) => {
      await withQueueOn(place, {}, async (queue) => {
        // One batch: every job gets the same execution date.
        await queue.scheduleJobs(
          [["low", -2], ["mid", 0], ["high", 4], ["top", 8]].map(([name, priority]) => ({
            methodName: "work",
            params: name,
            priority: priority as number,
            waitTime: 200,
          })),
        );
      });
      assert.deepEqual(await runOneAtATime(place, 4), ["top", "high", "mid", "low"]);
    });
  });
});
