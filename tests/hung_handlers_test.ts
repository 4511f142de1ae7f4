/**
 * Handlers that never settle and ignore their signal: a timeout decides the
 * attempt at once and frees its slot, a retry waits for its predecessor only
 * so long, and `dispose({ timeout })` ends whatever handlers do.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { jobContext, JobQueue, JobQueueError, JobState } from "../mod.ts";
import {
  deferred,
  nextEvent,
  outcomeOf,
  recordEvents,
  spawnFixture,
  withQueue,
  withQueueOn,
} from "./_helpers.ts";
import { cleanUpFixtures, delay, withDeadline } from "./_process_helpers.ts";
import { readStoredJob, storeOptions, withPlace } from "./_store.ts";

/** A handler that never settles and never looks at its signal. */
const hang = () => new Promise<never>(() => {});

describe("a handler that ignores its signal", () => {
  test("with maxConcurrency 1, one that never settles does not stop the next job", async () => {
    await withQueue({ maxConcurrency: 1 }, async (queue) => {
      queue.registerJobHandler("hang", hang, { timeout: 100 });
      queue.registerJobHandler("work", () => "done");
      const hung = await queue.scheduleJob({ methodName: "hang" });
      const work = await queue.scheduleJob({ methodName: "work" });
      const failed = outcomeOf(queue, hung.id);
      const completed = outcomeOf(queue, work.id);
      await queue.start();

      assert.equal((await failed).state, JobState.FAILED);
      assert.match((await failed).error?.message ?? "", /timed out after 100 ms/);
      assert.equal((await completed).result, "done");
      await queue.onIdle();
      assert.equal(queue.overdueHandlers, 1);
      assert.equal(queue.engine.hasReachedMaxConcurrency, false);
    });
  });

  test("its attempt is reported at its timeout, and its retry waits until the handler settles", async () => {
    await withQueue({}, async (queue) => {
      const firstSettles = deferred<void>();
      const order: string[] = [];
      queue.registerJobHandler("slowOnce", async () => {
        const { attempt } = jobContext();
        order.push(`attempt ${attempt} starts`);
        if (attempt === 1) {
          await firstSettles.promise;
          order.push("attempt 1 settles");
        }
        return attempt;
      }, { maxAttempts: 2, timeout: 200, backoff: { type: "fixed", delay: 10 } });
      queue.on("retrying", (job) => {
        order.push(`retrying after attempt ${job.attempts}`);
        // Well within the hold: the attempt's timeout once more.
        setTimeout(() => firstSettles.resolve(), 50);
      });
      const errors = recordEvents(queue, "error");

      const job = await queue.scheduleJob({ methodName: "slowOnce" });
      const outcome = outcomeOf(queue, job.id);
      await queue.start();
      const completed = await outcome;

      assert.equal(completed.state, JobState.COMPLETED);
      assert.equal(completed.result, 2);
      assert.equal(completed.attempts, 2);
      assert.deepEqual(order, [
        "attempt 1 starts",
        "retrying after attempt 1",
        "attempt 1 settles",
        "attempt 2 starts",
      ]);
      // The timeout is reported; nothing is abandoned.
      assert.equal(errors.length, 0);
      assert.equal(queue.overdueHandlers, 0);
    });
  });

  test("a retry whose predecessor never settles starts once that handler has had its timeout again, with an error event", async () => {
    await withQueue({}, async (queue, place) => {
      const starts: number[] = [];
      queue.registerJobHandler("stuckOnce", () => {
        const { attempt } = jobContext();
        starts.push(attempt);
        return attempt === 1 ? hang() : "second";
      }, { maxAttempts: 2, timeout: 100, backoff: { type: "fixed", delay: 10 } });
      const retrying = nextEvent(queue, "retrying");
      const abandoned = nextEvent(
        queue,
        "error",
        (error) => /still runs 100 ms after its attempt timed out/.test(error.message),
      );

      const job = await queue.scheduleJob({ methodName: "stuckOnce" });
      const outcome = outcomeOf(queue, job.id);
      await queue.start();
      const retry = await retrying;
      // Held: stored as waiting, with the attempt and its error, but claimed.
      const stored = await readStoredJob(place, job);
      assert.equal(stored.state, JobState.NOT_STARTED);
      assert.equal(stored.attempts, 1);
      assert.match(stored.error?.message ?? "", /timed out after 100 ms/);
      assert.deepEqual(starts, [1]);

      const error = await abandoned;
      assert.equal(error.info.job?.id, retry.id);
      assert.equal((await outcome).result, "second");
      assert.deepEqual(starts, [1, 2]);
      assert.equal(queue.overdueHandlers, 1);
    });
  });

  test("what it does after its timeout is not recorded: a late result or progress changes nothing", async () => {
    await withQueue({ keepCompleted: true }, async (queue, place) => {
      const timedOut = deferred<void>();
      const lateWrites = deferred<void>();
      queue.registerJobHandler("late", async () => {
        const { progress, signal } = jobContext();
        signal.addEventListener("abort", () => timedOut.resolve());
        await timedOut.promise;
        await progress("after the timeout");
        lateWrites.resolve();
        return "too late";
      }, { timeout: 100 });
      const completed = recordEvents(queue, "completed");
      const progress = recordEvents(queue, "progress");

      const job = await queue.scheduleJob({ methodName: "late" });
      const failed = outcomeOf(queue, job.id);
      await queue.start();
      assert.equal((await failed).state, JobState.FAILED);
      await lateWrites.promise;
      await queue.onIdle();

      assert.deepEqual(completed, []);
      assert.deepEqual(progress, []);
      const stored = await readStoredJob(place, job);
      assert.equal(stored.state, JobState.FAILED);
      assert.equal(stored.result, undefined);
      assert.equal(stored.progress, undefined);
      assert.equal(queue.overdueHandlers, 0);
    });
  });

  test("past maxOverdueHandlers, no job starts until one of them settles, and an error event says so", async () => {
    await withQueue({ maxOverdueHandlers: 1 }, async (queue) => {
      const release = deferred<void>();
      queue.registerJobHandler("stuck", () => release.promise, { timeout: 100 });
      queue.registerJobHandler("work", () => "done");
      const limit = nextEvent(queue, "error", (error) => /maxOverdueHandlers/.test(error.message));
      const started = recordEvents(queue, "started");

      await queue.scheduleJob({ methodName: "stuck" });
      await queue.start();
      await limit;
      const work = await queue.scheduleJob({ methodName: "work" });
      const completed = outcomeOf(queue, work.id);
      // Ample time for the job to start if the limit did not hold it.
      await delay(200);
      assert.deepEqual(started.map((job) => job.methodName), ["stuck"]);
      assert.equal(queue.overdueHandlers, 1);

      release.resolve();
      assert.equal((await completed).result, "done");
      assert.equal(queue.overdueHandlers, 0);
    });
  });

  test("maxOverdueHandlers must be a positive integer or Infinity", () => {
    for (const value of [0, -1, 1.5, NaN]) {
      assert.throws(
        () => new JobQueue({ directory: "unused", maxOverdueHandlers: value }),
        (error) => error instanceof RangeError && /'maxOverdueHandlers'/.test(error.message),
      );
    }
  });
});

describe("dispose({ timeout })", () => {
  test("returns in time when a handler never settles, hands its job back unfailed, and the job runs again in a new queue", async () => {
    await withPlace(async (place) => {
      const queue = new JobQueue(storeOptions(place));
      queue.registerJobHandler("stuck", hang);
      const errors = recordEvents(queue, "error");
      const failed = recordEvents(queue, "failed");
      const started = nextEvent(queue, "started");
      const job = await queue.scheduleJob({ methodName: "stuck" });
      await queue.start();
      await started;

      // Without the bound, this never resolves: the deadline turns that into a failure.
      await withDeadline(queue.dispose({ timeout: 100 }), 5_000, "dispose({ timeout: 100 })");

      assert.deepEqual(failed, []);
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof JobQueueError);
      assert.match(errors[0].message, /handed back unfinished/);
      assert.equal(errors[0].info.job?.id, job.id);
      assert.equal(queue.overdueHandlers, 1);
      const stored = await readStoredJob(place, job);
      assert.equal(stored.state, JobState.NOT_STARTED);
      assert.equal(stored.attempts, 0);

      await withQueueOn(place, {}, async (next) => {
        next.registerJobHandler("stuck", () => "ran again");
        const outcome = outcomeOf(next, job.id);
        await next.start();
        const completed = await outcome;
        assert.equal(completed.result, "ran again");
        assert.equal(completed.attempts, 1);
      });
    });
  });

  test("lets go of a retry held for a timed-out handler, so that the retry runs in a new queue", async () => {
    await withPlace(async (place) => {
      const queue = new JobQueue(storeOptions(place));
      queue.registerJobHandler("stuck", hang, {
        maxAttempts: 2,
        timeout: 100,
        backoff: { type: "fixed", delay: 10 },
      });
      const retrying = nextEvent(queue, "retrying");
      const job = await queue.scheduleJob({ methodName: "stuck" });
      await queue.start();
      await retrying;
      // The hold would last 100 ms more; the dispose timeout is shorter.
      await withDeadline(queue.dispose({ timeout: 10 }), 5_000, "dispose({ timeout: 10 })");

      await withQueueOn(place, {}, async (next) => {
        next.registerJobHandler("stuck", () => jobContext().attempt);
        const outcome = outcomeOf(next, job.id);
        await next.start();
        assert.equal((await outcome).result, 2);
      });
    });
  });

  test("the process exits by itself after dispose, with handlers still hung", async () => {
    await withPlace(async (place) => {
      const child = spawnFixture("dispose_hung", [place]);
      try {
        await child.waitForOutput("disposed");
        const exit = await withDeadline(child.exited, 10_000, "the process's exit");
        assert.deepEqual(exit, { code: 0, signal: null });
      } finally {
        await cleanUpFixtures(child);
      }
      const queue = new JobQueue(storeOptions(place));
      try {
        const jobs = await queue.getAllJobs();
        assert.deepEqual(
          jobs.map((job) => [job.methodName, job.state, job.attempts]).sort(),
          [["retried", JobState.NOT_STARTED, 1], ["stuck", JobState.NOT_STARTED, 0]],
        );
      } finally {
        await queue.dispose();
      }
    });
  });
});

describe("dispose() awaited in a handler of its own queue", () => {
  test("resolves once the other handlers settle, and the calling job's outcome is recorded", async () => {
    await withQueue({ keepCompleted: true, maxConcurrency: 2 }, async (queue, place) => {
      const otherRuns = deferred<void>();
      const otherEnds = deferred<void>();
      const order: string[] = [];
      queue.registerJobHandler("other", async () => {
        otherRuns.resolve();
        await otherEnds.promise;
        order.push("other settles");
      });
      queue.registerJobHandler("shutDown", async () => {
        await otherRuns.promise;
        otherEnds.resolve();
        await queue.dispose();
        order.push("dispose resolves in the handler");
        return "stopped";
      });
      await queue.scheduleJob({ methodName: "other" });
      const job = await queue.scheduleJob({ methodName: "shutDown" });
      const completed = nextEvent(queue, "completed", (completed) => completed.id === job.id);
      await queue.start();

      assert.equal((await completed).result, "stopped");
      await withDeadline(queue.dispose(), 5_000, "dispose()");
      assert.deepEqual(order, ["other settles", "dispose resolves in the handler"]);
      assert.equal((await readStoredJob(place, job)).state, JobState.COMPLETED);
      await assert.rejects(queue.scheduleJob({ methodName: "other" }), /disposed/);
    });
  });
});
