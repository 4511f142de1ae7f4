/**
 * Pausing and resuming: of the whole queue or of one method, what keeps
 * running, what waits, and what `onIdle()` and `drained()` make of it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Job, JobQueue, JobState } from "../mod.ts";
import {
  collectEvents,
  deferred,
  isPending,
  nextEvent,
  outcomeOf,
  recordEvents,
  withQueue,
} from "./_helpers.ts";
import { withDeadline } from "./_process_helpers.ts";
import { readStoredJob, storeOptions, withPlace } from "./_store.ts";

/** Registers a handler for each method that records `<method>:<params>` in `ran`. */
function recordRuns(queue: JobQueue, methods: string[]): string[] {
  const ran: string[] = [];
  for (const method of methods) {
    queue.registerJobHandler(method, (params: unknown) => {
      ran.push(`${method}:${String(params)}`);
    });
  }
  return ran;
}

describe("pause() and resume()", () => {
  test("pause() lets the running handler finish and starts nothing more until resume()", async () => {
    await withQueue({ maxConcurrency: 1 }, async (queue, place) => {
      const gate = deferred<void>();
      queue.registerJobHandler("block", () => gate.promise);
      const ran = recordRuns(queue, ["work"]);
      const started = recordEvents(queue, "started");
      await queue.start();
      const blockStarted = nextEvent(queue, "started");
      const blocker = await queue.scheduleJob({ methodName: "block" });
      await blockStarted;
      const waiting = await queue.scheduleJobs([
        { methodName: "work", params: 1 },
        { methodName: "work", params: 2 },
      ]);

      queue.pause();
      const blockerDone = outcomeOf(queue, blocker.id);
      gate.resolve();
      assert.equal((await blockerDone).state, JobState.COMPLETED);
      await withDeadline(queue.onIdle(), 3000, "onIdle()");
      assert.deepEqual(ran, []);
      assert.deepEqual(started.map((job) => job.id), [blocker.id]);
      for (const job of waiting) {
        assert.equal((await readStoredJob(place, job)).state, JobState.NOT_STARTED);
      }

      const completed = collectEvents(queue, "completed", 2);
      queue.resume();
      await completed;
      assert.deepEqual(ran, ["work:1", "work:2"]);
    });
  });

  test("jobs scheduled while paused wait, before start() and after it", async () => {
    await withQueue({}, async (queue, place) => {
      const ran = recordRuns(queue, ["work"]);
      queue.pause();
      const before = await queue.scheduleJob({ methodName: "work", params: "before" });
      await queue.start();
      const after = await queue.scheduleJob({ methodName: "work", params: "after" });
      await withDeadline(queue.onIdle(), 3000, "onIdle()");
      assert.deepEqual(ran, []);
      assert.equal((await readStoredJob(place, before)).state, JobState.NOT_STARTED);
      assert.equal((await readStoredJob(place, after)).state, JobState.NOT_STARTED);

      const completed = collectEvents(queue, "completed", 2);
      queue.resume();
      await completed;
      assert.deepEqual(ran.sort(), ["work:after", "work:before"]);
    });
  });

  test("pause(method) holds only that method's jobs while the others run", async () => {
    await withQueue({ maxConcurrency: 1 }, async (queue) => {
      const ran = recordRuns(queue, ["a", "b"]);
      await queue.start();
      queue.pause("a");
      const bDone = collectEvents(queue, "completed", 2);
      const [a1] = await queue.scheduleJobs([
        { methodName: "a", params: 1 },
        { methodName: "b", params: 1 },
        { methodName: "b", params: 2 },
      ]);
      await bDone;
      await withDeadline(queue.onIdle(), 3000, "onIdle()");
      assert.deepEqual(ran, ["b:1", "b:2"]);
      assert.equal(queue.isPaused("a"), true);
      assert.equal(queue.isPaused("b"), false);
      assert.equal(queue.isPaused(), false);

      const aDone = outcomeOf(queue, a1!.id);
      queue.resume("a");
      assert.equal((await aDone).state, JobState.COMPLETED);
      assert.deepEqual(ran, ["b:1", "b:2", "a:1"]);
      assert.equal(queue.isPaused("a"), false);
    });
  });

  test("pause(method) lets that method's running handler finish", async () => {
    await withQueue({}, async (queue) => {
      const gate = deferred<string>();
      queue.registerJobHandler("a", () => gate.promise);
      const started = nextEvent(queue, "started");
      const job = await queue.scheduleJob({ methodName: "a" });
      await queue.start();
      await started;
      queue.pause("a");
      const done = outcomeOf(queue, job.id);
      gate.resolve("finished");
      const completed = await done;
      assert.equal(completed.state, JobState.COMPLETED);
      assert.equal(completed.result, "finished");
    });
  });

  test("resume() without a method resumes every paused method too", async () => {
    await withQueue({ maxConcurrency: 2 }, async (queue) => {
      const ran = recordRuns(queue, ["a", "b"]);
      queue.pause("a");
      queue.pause("b");
      await queue.scheduleJobs([{ methodName: "a", params: 1 }, { methodName: "b", params: 1 }]);
      await queue.start();
      await withDeadline(queue.onIdle(), 3000, "onIdle()");
      assert.deepEqual(ran, []);
      const completed = collectEvents(queue, "completed", 2);
      queue.resume();
      await completed;
      assert.deepEqual(ran.sort(), ["a:1", "b:1"]);
      assert.equal(queue.isPaused("a"), false);
      assert.equal(queue.isPaused("b"), false);
    });
  });

  test("resume(method) does not lift a pause of the whole queue", async () => {
    await withQueue({}, async (queue) => {
      const ran = recordRuns(queue, ["a"]);
      queue.pause();
      queue.pause("a");
      await queue.scheduleJob({ methodName: "a", params: 1 });
      await queue.start();
      queue.resume("a");
      await withDeadline(queue.onIdle(), 3000, "onIdle()");
      assert.deepEqual(ran, []);
      assert.equal(queue.isPaused("a"), true);
      const completed = nextEvent(queue, "completed");
      queue.resume();
      await completed;
      assert.deepEqual(ran, ["a:1"]);
    });
  });

  test("isPaused() tells whether all jobs or one method's jobs would wait", async () => {
    await withQueue({}, (queue) => {
      assert.equal(queue.isPaused(), false);
      assert.equal(queue.isPaused("a"), false);
      queue.pause("a");
      assert.equal(queue.isPaused("a"), true);
      assert.equal(queue.isPaused("b"), false);
      assert.equal(queue.isPaused(), false);
      queue.pause();
      assert.equal(queue.isPaused(), true);
      assert.equal(queue.isPaused("b"), true);
      queue.resume();
      assert.equal(queue.isPaused(), false);
      assert.equal(queue.isPaused("a"), false);
      assert.equal(queue.isPaused("b"), false);
      return Promise.resolve();
    });
  });

  test("pause() and resume() refuse an unsafe method name with a TypeError", async () => {
    await withQueue({}, (queue) => {
      assert.throws(() => queue.pause("../a"), TypeError);
      assert.throws(() => queue.resume("../a"), TypeError);
      assert.equal(queue.isPaused(), false);
      return Promise.resolve();
    });
  });

  test("onIdle() resolves while only paused jobs wait, but drained() waits for them", async () => {
    await withQueue({}, async (queue) => {
      const ran = recordRuns(queue, ["a", "b"]);
      queue.pause("a");
      await queue.start();
      const bDone = nextEvent(queue, "completed");
      await queue.scheduleJobs([{ methodName: "a", params: 1 }, { methodName: "b", params: 1 }]);
      await bDone;
      await withDeadline(queue.onIdle(), 3000, "onIdle()");
      const drained = queue.drained();
      assert.equal(await isPending(drained), true, "drained() resolved while a job waits");
      queue.resume("a");
      await withDeadline(drained, 3000, "drained()");
      assert.deepEqual(ran.sort(), ["a:1", "b:1"]);
    });
  });

  test("drained() waits for the jobs of a paused queue until it resumes", async () => {
    await withQueue({}, async (queue) => {
      const ran = recordRuns(queue, ["work"]);
      queue.pause();
      await queue.scheduleJob({ methodName: "work", params: 1 });
      await queue.start();
      await withDeadline(queue.onIdle(), 3000, "onIdle()");
      const drained = queue.drained();
      assert.equal(await isPending(drained), true, "drained() resolved while a job waits");
      queue.resume();
      await withDeadline(drained, 3000, "drained()");
      assert.deepEqual(ran, ["work:1"]);
    });
  });

  test("a paused queue does not pause another queue on the same directory", async () => {
    await withPlace(async (place) => {
      const paused = new JobQueue({ ...storeOptions(place), pollInterval: 20 });
      const running = new JobQueue({ ...storeOptions(place), pollInterval: 20 });
      try {
        const pausedRan = recordRuns(paused, ["work"]);
        recordRuns(running, ["work"]);
        paused.pause();
        await paused.start();
        const job: Job = await paused.scheduleJob({ methodName: "work", params: 1 });
        const done = outcomeOf(running, job.id);
        await running.start();
        assert.equal((await done).state, JobState.COMPLETED);
        assert.deepEqual(pausedRan, []);
      } finally {
        await paused.dispose();
        await running.dispose();
      }
    });
  });
});
