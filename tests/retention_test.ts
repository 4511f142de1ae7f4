/**
 * Retention: which job files stay in the directory once their job is done,
 * and that `getAllJobs()` always tells what the directory holds.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import v8 from "node:v8";
import vm from "node:vm";
import { type Job, JobQueue, type JobQueueOptions, type JobSpec, JobState } from "../mod.ts";
import { withQueueOn, withTempDir } from "./_helpers.ts";
import { delay, withDeadline } from "./_process_helpers.ts";
import {
  fileStoreOnly,
  idsOf,
  type Place,
  readStoredJob,
  storedIds,
  storedJobs,
  testStore,
  withPlace,
} from "./_store.ts";

function fileOf(job: Job): string {
  return `${job.key}.json`;
}

/** Asserts that `getAllJobs()` lists exactly the jobs stored on `place`. */
async function assertListingAgrees(queue: JobQueue, place: Place): Promise<void> {
  assert.deepEqual(idsOf(await queue.getAllJobs()), await storedIds(place));
}

/**
 * Schedules the specs on a queue that has not started, starts it, and
 * resolves with each job once it completed or failed; rejects after 20 s so
 * that a broken test fails instead of hanging.
 */
async function runAll(queue: JobQueue, specs: JobSpec[]): Promise<Job[]> {
  const scheduled: Job[] = [];
  for (const spec of specs) scheduled.push(await queue.scheduleJob(spec));
  const outcomes = new Map<string, Job>();
  const finished = new Promise<void>((resolve) => {
    for (const type of ["completed", "failed"] as const) {
      queue.on(type, (job) => {
        outcomes.set(job.id, job);
        if (outcomes.size === scheduled.length) resolve();
      });
    }
  });
  await queue.start();
  await withDeadline(finished, 20_000, `the end of ${scheduled.length} jobs`);
  return scheduled.map((job) => outcomes.get(job.id)!);
}

/** A queue with a handler that completes `"work"` jobs and fails `"fail"` ones. */
function registerHandlers(queue: JobQueue): void {
  queue.registerJobHandler("work", () => {});
  queue.registerJobHandler("fail", () => {
    throw new Error("this job always fails");
  });
}

/** Resolves once `job` is no longer stored on `place`; rejects after 10 s. */
async function untilRemoved(place: Place, job: Job): Promise<void> {
  const poll = async () => {
    while ((await storedIds(place)).includes(job.id)) await delay(20);
  };
  await withDeadline(poll(), 10_000, `the removal of job ${job.id}`);
}

/** Rewrites a job's file as if it had finished `ago` ms earlier. */
async function backdate(directory: string, job: Job, ago: number): Promise<void> {
  const path = join(directory, fileOf(job));
  const temp = join(directory, `.${fileOf(job)}.backdate.tmp`);
  await writeFile(temp, JSON.stringify({ ...job.toJSON(), finishedAt: Date.now() - ago }));
  await rename(temp, path);
}

describe("retention of completed jobs", () => {
  test("by default a completed job's file is removed", async () => {
    await withPlace(async (place) => {
      await withQueueOn(place, {}, async (queue) => {
        registerHandlers(queue);
        const [job] = await runAll(queue, [{ methodName: "work" }]);
        assert.equal(job!.state, JobState.COMPLETED);
        assert.deepEqual(await storedIds(place), []);
        assert.deepEqual(await queue.getAllJobs(), []);
        if (testStore === "file") {
          assert.deepEqual(await readdir(join(place, ".jobq", "claims")), []);
        }
      });
    });
  });

  test("keepCompleted: true keeps a completed job's file, as COMPLETED", async () => {
    await withPlace(async (place) => {
      await withQueueOn(place, { keepCompleted: true }, async (queue) => {
        registerHandlers(queue);
        const [job] = await runAll(queue, [{ methodName: "work" }]);
        assert.equal((await readStoredJob(place, job!)).state, JobState.COMPLETED);
        assert.deepEqual(
          (await queue.getAllJobs()).map((listed) => [listed.id, listed.state]),
          [[job!.id, JobState.COMPLETED]],
        );
        await assertListingAgrees(queue, place);
      });
    });
  });

  test("keepCompleted { count: 2 } keeps the files of the two newest completed jobs", async () => {
    await withPlace(async (place) => {
      let jobs: Job[] = [];
      await withQueueOn(place, { keepCompleted: { count: 2 } }, async (queue) => {
        registerHandlers(queue);
        jobs = await runAll(queue, Array.from({ length: 5 }, () => ({ methodName: "work" })));
      });
      // dispose() waited for the last completion's pruning.
      const newest = jobs.slice(-2);
      assert.deepEqual(await storedIds(place), idsOf(newest));
      for (const job of newest) {
        assert.equal((await readStoredJob(place, job)).state, JobState.COMPLETED);
      }
      await withQueueOn(place, {}, (queue) => assertListingAgrees(queue, place));
    });
  });

  test("keepCompleted { count: 2 } keeps two files when jobs complete concurrently", async () => {
    await withPlace(async (place) => {
      const completionOrder: Job[] = [];
      await withQueueOn(
        place,
        { keepCompleted: { count: 2 }, maxConcurrency: 4 },
        async (queue) => {
          // Uneven run times interleave the completions, and so the pruning
          // each of them starts.
          queue.registerJobHandler("work", () => delay(Math.random() * 5));
          queue.on("completed", (job) => completionOrder.push(job));
          await runAll(queue, Array.from({ length: 40 }, () => ({ methodName: "work" })));
        },
      );
      assert.equal(completionOrder.length, 40);
      // The newest two by completion date; jobs that completed in the same
      // millisecond are equally new, so their dates are compared, not ids.
      const newest = completionOrder.map((job) => job.finishedAt!).sort((a, b) => b - a);
      const kept = (await storedJobs(place)).map((job) => job.finishedAt!).sort((a, b) => b - a);
      assert.deepEqual(kept, newest.slice(0, 2));
    });
  });

  test("keepCompleted { age: 200 } removes a completed job's file once it is older than that", async () => {
    await withPlace(async (place) => {
      await withQueueOn(
        place,
        { keepCompleted: { age: 200 }, pollInterval: 50 },
        async (queue) => {
          registerHandlers(queue);
          let keptAtCompletion = false;
          // Checked as the event fires (on the file store, where a look is
          // synchronous): the file cannot be pruned before the engine has
          // recorded the completion, which comes after the event.
          queue.on(
            "completed",
            (job) =>
              keptAtCompletion = testStore !== "file" || existsSync(join(place, fileOf(job))),
          );
          const [job] = await runAll(queue, [{ methodName: "work" }]);
          assert.ok(keptAtCompletion, "the file was removed at once");
          await untilRemoved(place, job!);
          const age = Date.now() - job!.finishedAt!;
          assert.ok(age >= 200, `the file was removed ${age} ms after completion`);
          await assertListingAgrees(queue, place);
        },
      );
    });
  });

  for (
    const [value, error] of [
      [{ count: -1 }, RangeError],
      [{ count: 1.5 }, RangeError],
      [{ size: 1 }, TypeError],
      ["yes", TypeError],
    ] as const
  ) {
    test(
      `keepCompleted ${JSON.stringify(value)} is refused with a ${error.name}`,
      fileStoreOnly,
      async () => {
        await withTempDir(async (directory) => {
          assert.throws(
            () => new JobQueue({ directory, keepCompleted: value as unknown as boolean }),
            error,
          );
          // Nothing was written: the queue did not get as far as the disk.
          assert.deepEqual(await readdir(directory), []);
        });
      },
    );
  }
});

/** Runs a full garbage collection, in whichever runtime runs the tests. */
function collectGarbage(): void {
  const bun = (globalThis as { Bun?: { gc(full: boolean): void } }).Bun;
  if (bun !== undefined) return bun.gc(true);
  // V8 (Deno, Node): gc() exists once the flag is set, in a new context.
  v8.setFlagsFromString("--expose-gc");
  (vm.runInNewContext("gc") as () => void)();
}

/** The heap in use after a full garbage collection, in bytes. */
async function heapInUse(): Promise<number> {
  await delay(0);
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/**
 * How much the heap grows while a queue with `keepCompleted` completes 300
 * jobs with 200 KB of params each (60 MB in all), measured while the queue
 * is still open; the test itself keeps no job.
 */
async function heapGrowthOfCompletedJobs(
  keepCompleted: NonNullable<JobQueueOptions["keepCompleted"]>,
): Promise<number> {
  return await withPlace(async (place) => {
    let growth = 0;
    await withQueueOn(place, { keepCompleted }, async (queue) => {
      queue.registerJobHandler("work", () => {});
      const count = 300;
      let completed = 0;
      const finished = new Promise<void>((resolve) =>
        queue.on("completed", () => {
          if (++completed === count) resolve();
        })
      );
      const before = await heapInUse();
      for (let batch = 0; batch < count; batch += 50) {
        await queue.scheduleJobs(Array.from({ length: 50 }, (_, index) => ({
          methodName: "work",
          params: { blob: String(batch + index).padEnd(200_000, "x") },
        })));
      }
      await queue.start();
      await withDeadline(finished, 30_000, `the completion of ${count} jobs`);
      await queue.onIdle();
      growth = await heapInUse() - before;
      assert.equal((await storedIds(place)).length, keepCompleted === false ? 0 : count);
    });
    return growth;
  });
}

describe("memory of completed jobs", () => {
  // Holding the jobs would take 60 MB; a quarter of that is margin enough
  // for any runtime's own allocations.
  const LIMIT = 15_000_000;

  for (const keepCompleted of [true, { count: 1_000 }, { age: 3_600_000 }]) {
    test(
      `keepCompleted: ${
        JSON.stringify(keepCompleted)
      } keeps the files but not the completed jobs in memory`,
      async () => {
        const growth = await heapGrowthOfCompletedJobs(keepCompleted);
        assert.ok(growth < LIMIT, `the heap grew by ${(growth / 1e6).toFixed(1)} MB`);
      },
    );
  }
});

describe("retention of failed jobs", () => {
  for (const keepCompleted of [false, { count: 0 }, { age: 0 }]) {
    test(`failed jobs are kept with keepCompleted ${JSON.stringify(keepCompleted)}`, async () => {
      await withPlace(async (place) => {
        let failed: Job | undefined;
        await withQueueOn(place, { keepCompleted, pollInterval: 50 }, async (queue) => {
          registerHandlers(queue);
          // The completed job runs after the failed one: its removal shows
          // that pruning ran with the failed job in the directory.
          const [first, completed] = await runAll(queue, [
            { methodName: "fail" },
            { methodName: "work" },
          ]);
          await untilRemoved(place, completed!);
          failed = first;
        });
        assert.deepEqual(await storedIds(place), [failed!.id]);
        const stored = await readStoredJob(place, failed!);
        assert.equal(stored.state, JobState.FAILED);
        assert.equal(stored.error?.message, "this job always fails");
        await withQueueOn(place, {}, (queue) => assertListingAgrees(queue, place));
      });
    });
  }

  test(
    "pruneFailedJobs() removes only the failed jobs older than olderThan, and counts them",
    fileStoreOnly,
    async () => {
      await withTempDir(async (directory) => {
        let jobs: Job[] = [];
        await withQueueOn(directory, { keepCompleted: true }, async (queue) => {
          registerHandlers(queue);
          jobs = await runAll(queue, [
            { methodName: "fail" },
            { methodName: "fail" },
            { methodName: "fail" },
            { methodName: "work" },
          ]);
        });
        const [oldFailure, olderFailure, recentFailure, oldCompletion] = jobs as [
          Job,
          Job,
          Job,
          Job,
        ];
        // Jobs that finished an hour and a day ago, without waiting that long.
        await backdate(directory, oldFailure, 3_600_000);
        await backdate(directory, olderFailure, 86_400_000);
        await backdate(directory, oldCompletion, 3_600_000);

        await withQueueOn(directory, { keepCompleted: true }, async (queue) => {
          const waiting = await queue.scheduleJob({ methodName: "work", waitTime: 3_600_000 });
          assert.equal(await queue.pruneFailedJobs({ olderThan: 60_000 }), 2);
          assert.deepEqual(
            await storedIds(directory),
            idsOf([recentFailure, oldCompletion, waiting]),
          );
          assert.equal(await queue.pruneFailedJobs({ olderThan: 60_000 }), 0);
          // olderThan 0 takes every failed job, the recent one too.
          assert.equal(await queue.pruneFailedJobs({ olderThan: 0 }), 1);
          assert.deepEqual(await storedIds(directory), idsOf([oldCompletion, waiting]));
          await assertListingAgrees(queue, directory);
        });
      });
    },
  );

  test("pruneFailedJobs() refuses a negative olderThan with a RangeError and removes nothing", async () => {
    await withPlace(async (place) => {
      await withQueueOn(place, {}, async (queue) => {
        registerHandlers(queue);
        const [failed] = await runAll(queue, [{ methodName: "fail" }]);
        await assert.rejects(queue.pruneFailedJobs({ olderThan: -1 }), RangeError);
        assert.deepEqual(await storedIds(place), [failed!.id]);
        await assertListingAgrees(queue, place);
      });
    });
  });
});
