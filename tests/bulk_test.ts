/**
 * Bulk scheduling with `scheduleJobs()` and removing single jobs with
 * `removeJob()`: what reaches the directory, all or none, and what runs.
 */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  JobQueue,
  JobQueueEngine,
  JobQueueError,
  type JobSpec,
  JobState,
  NodeFileSystem,
  type WriteTextFileOptions,
} from "../mod.ts";
import { FaultyFileSystem } from "./_faulty_fs.ts";
import {
  collectEvents,
  deferred,
  nextEvent,
  recordEvents,
  runToEnd,
  startBlocker,
  withQueue,
  withQueueOn,
  withTempDir,
} from "./_helpers.ts";
import { delay, withDeadline } from "./_process_helpers.ts";
import { fileStoreOnly, idsOf, storedIds, storeOptions, withPlace } from "./_store.ts";

/** Everything in `directory` but jobq's own folder: job files and temporary files. */
async function entriesBesideJobq(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => name !== ".jobq").sort();
}

describe("scheduleJobs()", () => {
  test("stores every job, one file each, and returns them in the order of the specs", async () => {
    await withQueue({}, async (queue, place) => {
      const specs: JobSpec[] = [
        { methodName: "resize", params: { path: "a.png" } },
        { methodName: "notify", params: ["user", 1] },
        { methodName: "resize", params: { path: "b.png" }, waitTime: 60_000 },
      ];
      const jobs = await queue.scheduleJobs(specs);
      assert.deepEqual(
        jobs.map((job) => [job.methodName, job.params, job.state]),
        specs.map((spec) => [spec.methodName, spec.params, JobState.NOT_STARTED]),
      );
      assert.equal(new Set(jobs.map((job) => job.id)).size, 3);
      assert.deepEqual(await storedIds(place), idsOf(jobs));
      const stored = await queue.getAllJobs();
      assert.deepEqual(
        stored.map((job) => job.toJSON()).sort((a, b) => a.id.localeCompare(b.id)),
        jobs.map((job) => job.toJSON()).sort((a, b) => a.id.localeCompare(b.id)),
      );
    });
  });

  test("emits 'scheduled' for each job, and the jobs run", async () => {
    await withQueue({ maxConcurrency: 2 }, async (queue) => {
      const scheduled = recordEvents(queue, "scheduled");
      const ran: unknown[] = [];
      queue.registerJobHandler("work", (n: number) => {
        ran.push(n);
      });
      const jobs = await queue.scheduleJobs(
        [1, 2, 3, 4].map((n) => ({ methodName: "work", params: n })),
      );
      assert.deepEqual(scheduled.map((job) => job.id), jobs.map((job) => job.id));
      const completed = collectEvents(queue, "completed", 4);
      await queue.start();
      assert.deepEqual(
        (await completed).map((job) => job.id).sort(),
        jobs.map((job) => job.id).sort(),
      );
      assert.deepEqual(ran.sort(), [1, 2, 3, 4]);
    });
  });

  test("the engine's scheduleJobs() stores the jobs too, and its start runs them", async () => {
    await withPlace(async (place) => {
      const engine = new JobQueueEngine(storeOptions(place));
      try {
        const ran: unknown[] = [];
        const done = deferred<void>();
        engine.registerJobHandler("work", (n: number) => {
          ran.push(n);
          if (ran.length === 2) done.resolve();
        });
        const jobs = await engine.scheduleJobs([
          { methodName: "work", params: 1 },
          { methodName: "work", params: 2 },
        ]);
        assert.deepEqual(jobs.map((job) => job.params), [1, 2]);
        assert.deepEqual(await storedIds(place), idsOf(jobs));
        await engine.startNextJob();
        await withDeadline(done.promise, 10_000, "both jobs running");
        assert.deepEqual(ran.sort(), [1, 2]);
      } finally {
        await engine.dispose();
      }
    });
  });

  test("an empty array resolves to an empty array and writes nothing", async () => {
    await withQueue({}, async (queue, place) => {
      const scheduled = recordEvents(queue, "scheduled");
      assert.deepEqual(await queue.scheduleJobs([]), []);
      assert.deepEqual(await storedIds(place), []);
      assert.deepEqual(scheduled, []);
    });
  });

  for (const notAnArray of [undefined, null, "work", { methodName: "work" }]) {
    test(`rejects ${JSON.stringify(notAnArray) ?? "undefined"} instead of an array with a TypeError`, async () => {
      await withQueue({}, async (queue, place) => {
        await assert.rejects(
          queue.scheduleJobs(notAnArray as unknown as JobSpec[]),
          (error: unknown) => error instanceof TypeError && /array/.test(error.message),
        );
        assert.deepEqual(await storedIds(place), []);
      });
    });
  }

  const INVALID: [string, JobSpec[], typeof TypeError | typeof RangeError, number][] = [
    [
      "a method name that escapes the directory, first",
      [{ methodName: "../evil" }, { methodName: "work" }, { methodName: "work" }],
      TypeError,
      0,
    ],
    [
      "params JSON cannot carry, in the middle",
      [{ methodName: "work" }, { methodName: "work", params: { n: 1n } }, { methodName: "work" }],
      TypeError,
      1,
    ],
    [
      "a negative wait time, last",
      [{ methodName: "work" }, { methodName: "work" }, { methodName: "work", waitTime: -1 }],
      RangeError,
      2,
    ],
    [
      "a priority that is not an integer, last",
      [{ methodName: "work" }, { methodName: "work" }, { methodName: "work", priority: 1.5 }],
      RangeError,
      2,
    ],
  ];
  for (const [what, specs, errorClass, index] of INVALID) {
    test(`a spec with ${what} rejects with a ${errorClass.name} naming its index, and nothing is written`, async () => {
      await withQueue({}, async (queue, place) => {
        const scheduled = recordEvents(queue, "scheduled");
        await assert.rejects(
          queue.scheduleJobs(specs),
          (error: unknown) =>
            error instanceof errorClass &&
            error.message.startsWith(`Spec ${index} of ${specs.length}:`),
        );
        assert.deepEqual(await storedIds(place), []);
        assert.deepEqual(scheduled, []);
        assert.deepEqual(await queue.getAllJobs(), []);
      });
    });
  }

  test(
    "no job of a batch that fails runs, though a queue polls the directory meanwhile",
    fileStoreOnly,
    async () => {
      await withTempDir(async (directory) => {
        const lastWrite = deferred<void>();
        /** Holds the tenth job file's write, then fails it. */
        class FailingTenthWrite extends NodeFileSystem {
          #jobWrites = 0;
          override async writeTextFile(
            path: string,
            data: string,
            options?: WriteTextFileOptions,
          ): Promise<void> {
            if (data.includes('"methodName":"work"') && ++this.#jobWrites === 10) {
              await lastWrite.promise;
              throw Object.assign(new Error(`EIO: i/o error, open '${path}'`), { code: "EIO" });
            }
            await super.writeTextFile(path, data, options);
          }
        }
        const scheduler = new JobQueue({ directory, fsync: false, fs: new FailingTenthWrite() });
        const worker = new JobQueue({ directory, fsync: false, pollInterval: 10 });
        try {
          const started = recordEvents(worker, "started");
          worker.registerJobHandler("work", () => {});
          await worker.start();
          const batch = scheduler.scheduleJobs(
            Array.from({ length: 10 }, (_, n) => ({ methodName: "work", params: n })),
          );
          // Nine jobs written, the tenth held: ten polls of the worker.
          await delay(100);
          lastWrite.resolve();
          await assert.rejects(batch, JobQueueError);
          await delay(50);
          assert.deepEqual(started, []);
          assert.deepEqual(await entriesBesideJobq(directory), []);
        } finally {
          lastWrite.resolve();
          await scheduler.dispose();
          await worker.dispose();
        }
      });
    },
  );

  test(
    "a job its own queue's poll finds while it is being stored runs once, not twice",
    fileStoreOnly,
    async () => {
      await withTempDir(async (directory) => {
        /** Flushes the directory slowly: polls come while scheduleJob() still waits for it. */
        class SlowFlush extends NodeFileSystem {
          slow = false;
          override async syncDir(path: string): Promise<void> {
            if (this.slow) await delay(200);
            await super.syncDir(path);
          }
        }
        const fs = new SlowFlush();
        await withQueueOn(
          directory,
          { fs, fsync: true, pollInterval: 10, maxConcurrency: 2 },
          async (queue) => {
            const started = recordEvents(queue, "started");
            const release = deferred<void>();
            queue.registerJobHandler("slow", () => release.promise);
            await queue.start();
            fs.slow = true;
            const job = await queue.scheduleJob({ methodName: "slow" });
            fs.slow = false;
            await delay(100);
            assert.deepEqual(started.map((run) => run.id), [job.id]);
            const completed = nextEvent(queue, "completed");
            release.resolve();
            assert.equal((await completed).id, job.id);
          },
        );
      });
    },
  );

  for (const method of ["writeTextFile", "rename"] as const) {
    test(
      `a failed ${method} of one job file rejects with a JobQueueError and keeps no job`,
      fileStoreOnly,
      async () => {
        const fs = new FaultyFileSystem();
        await withQueue({ fs }, async (queue, directory) => {
          const scheduled = recordEvents(queue, "scheduled");
          const fault = fs.fail({
            method,
            path: (path) => path.includes("second__"),
            code: "EIO",
            times: 1,
          });
          await assert.rejects(
            queue.scheduleJobs(
              ["first", "second", "third", "fourth"].map((methodName) => ({ methodName })),
            ),
            (error: unknown) => error instanceof JobQueueError && /EIO/.test(error.message),
          );
          assert.equal(fault.hits, 1);
          assert.deepEqual(await entriesBesideJobq(directory), []);
          assert.deepEqual(scheduled, []);

          // Nothing of the batch runs, and the queue still works.
          const ran: string[] = [];
          for (const name of ["first", "second", "third", "fourth"]) {
            queue.registerJobHandler(name, () => {
              ran.push(name);
            });
          }
          const job = await queue.scheduleJob({ methodName: "first" });
          const completed = nextEvent(queue, "completed", (done) => done.id === job.id);
          await queue.start();
          await completed;
          await queue.onIdle();
          assert.deepEqual(ran, ["first"]);
        });
      },
    );
  }

  test(
    "a failed flush of the directory rejects with a JobQueueError and keeps no job",
    fileStoreOnly,
    async () => {
      const fs = new FaultyFileSystem();
      await withQueue({ fs, fsync: true }, async (queue, directory) => {
        await queue.getAllJobs(); // opens the directory, which flushes its parent
        const fault = fs.fail({
          method: "syncDir",
          path: (path) => path === directory,
          code: "EIO",
          times: 1,
        });
        await assert.rejects(
          queue.scheduleJobs([{ methodName: "work" }, { methodName: "work" }]),
          JobQueueError,
        );
        assert.equal(fault.hits, 1);
        assert.deepEqual(await entriesBesideJobq(directory), []);
      });
    },
  );

  test("specs with the same uniqueKey in one batch store one job, returned for both", async () => {
    await withQueue({}, async (queue, place) => {
      const scheduled = recordEvents(queue, "scheduled");
      const jobs = await queue.scheduleJobs([
        { methodName: "report", params: 1, uniqueKey: "daily" },
        { methodName: "other", params: 2 },
        { methodName: "report", params: 3, uniqueKey: "daily" },
      ]);
      assert.equal(jobs.length, 3);
      assert.equal(jobs[0]!.id, jobs[2]!.id);
      assert.deepEqual(jobs[0]!.toJSON(), jobs[2]!.toJSON());
      assert.notEqual(jobs[1]!.id, jobs[0]!.id);
      assert.deepEqual(
        await storedIds(place),
        idsOf([jobs[0]!, jobs[1]!]),
      );
      assert.equal(scheduled.length, 2);
    });
  });

  test("a spec whose uniqueKey a waiting job holds resolves to that job, and nothing is added", async () => {
    await withQueue({}, async (queue, place) => {
      const holder = await queue.scheduleJob({
        methodName: "report",
        uniqueKey: "weekly",
        waitTime: 60_000,
      });
      const scheduled = recordEvents(queue, "scheduled");
      const [kept, added] = await queue.scheduleJobs([
        { methodName: "report", uniqueKey: "weekly" },
        { methodName: "report", uniqueKey: "monthly" },
      ]);
      assert.deepEqual(kept!.toJSON(), holder.toJSON());
      assert.notEqual(added!.id, holder.id);
      assert.deepEqual(scheduled.map((job) => job.id), [added!.id]);
      assert.deepEqual(
        await storedIds(place),
        idsOf([holder, added!]),
      );
    });
  });

  test("a failed batch lets go of the unique keys its jobs took", fileStoreOnly, async () => {
    const fs = new FaultyFileSystem();
    await withQueue({ fs }, async (queue, directory) => {
      const fault = fs.fail({
        method: "rename",
        path: (path) => path.includes("second__"),
        code: "EIO",
      });
      await assert.rejects(
        queue.scheduleJobs([
          { methodName: "first", uniqueKey: "only-one" },
          { methodName: "second" },
        ]),
        JobQueueError,
      );
      fault.clear();
      assert.deepEqual(await storedIds(directory), []);
      assert.deepEqual(await readdir(join(directory, ".jobq", "unique")), []);
      // The key is free: scheduling it again stores a new job.
      const job = await queue.scheduleJob({ methodName: "first", uniqueKey: "only-one" });
      assert.deepEqual(await storedIds(directory), idsOf([job]));
    });
  });

  test("scheduleJobs() after dispose() rejects with a JobQueueError", async () => {
    await withPlace(async (place) => {
      const queue = new JobQueue(storeOptions(place));
      await queue.dispose();
      await assert.rejects(queue.scheduleJobs([{ methodName: "work" }]), JobQueueError);
      assert.deepEqual(await storedIds(place), []);
    });
  });
});

describe("removeJob()", () => {
  test("removes a waiting job: its file goes and it never runs", async () => {
    await withQueue({}, async (queue, place) => {
      const ran: unknown[] = [];
      queue.registerJobHandler("work", (n: number) => {
        ran.push(n);
      });
      const [removed, kept] = await queue.scheduleJobs([
        { methodName: "work", params: 1 },
        { methodName: "work", params: 2 },
      ]);
      assert.equal(await queue.removeJob(removed!.id), true);
      assert.deepEqual(await storedIds(place), idsOf([kept!]));
      const completed = nextEvent(queue, "completed");
      await queue.start();
      assert.equal((await completed).id, kept!.id);
      await queue.drained();
      assert.deepEqual(ran, [2]);
    });
  });

  test("removes a job due later from a running queue, which then has nothing left", async () => {
    await withQueue({}, async (queue, place) => {
      let ran = 0;
      queue.registerJobHandler("later", () => {
        ran++;
      });
      await queue.start();
      const job = await queue.scheduleJob({ methodName: "later", waitTime: 60_000 });
      assert.equal(await queue.removeJob(job.id), true);
      assert.deepEqual(await storedIds(place), []);
      // Forgotten by the queue too: nothing is left to wait for.
      await withDeadline(queue.drained(), 3000, "drained()");
      assert.equal(ran, 0);
    });
  });

  test("removes a due job waiting for a free slot, which then never runs", async () => {
    await withQueue({ maxConcurrency: 1 }, async (queue, place) => {
      const ran: string[] = [];
      queue.registerJobHandler("work", (name: string) => {
        ran.push(name);
      });
      const blocker = await startBlocker(queue);
      const waiting = await queue.scheduleJob({ methodName: "work", params: "removed" });
      await queue.scheduleJob({ methodName: "work", params: "kept" });
      assert.equal(await queue.removeJob(waiting.id), true);
      assert.equal(
        (await storedIds(place)).includes(waiting.id),
        false,
      );
      blocker.release();
      await withDeadline(queue.drained(), 3000, "drained()");
      assert.deepEqual(ran, ["kept"]);
    });
  });

  test("removes a failed job", async () => {
    await withQueue({}, async (queue, place) => {
      queue.registerJobHandler("flaky", () => {
        throw new Error("boom");
      });
      queue.on("error", () => {});
      const failed = await runToEnd(queue, { methodName: "flaky" });
      assert.equal(failed.state, JobState.FAILED);
      assert.deepEqual(await storedIds(place), idsOf([failed]));
      assert.equal(await queue.removeJob(failed.id), true);
      assert.deepEqual(await storedIds(place), []);
      assert.deepEqual(await queue.getAllJobs(), []);
    });
  });

  test("returns false for an unknown id", async () => {
    await withQueue({}, async (queue) => {
      const job = await queue.scheduleJob({ methodName: "work" });
      const unknown = job.id.replace(/-[0-9a-f]{8}$/, "-00000000");
      assert.equal(await queue.removeJob(unknown), false);
      assert.equal(await queue.removeJob("no-such-job"), false);
      assert.equal((await queue.getAllJobs()).length, 1);
    });
  });

  test("returns false for a running job, which finishes and completes", async () => {
    await withQueue({}, async (queue, place) => {
      const { job, release } = await startBlocker(queue);
      assert.equal(await queue.removeJob(job.id), false);
      assert.deepEqual(await storedIds(place), idsOf([job]));
      const completed = nextEvent(queue, "completed");
      release();
      assert.equal((await completed).id, job.id);
    });
  });

  test("returns false for a job another queue on the directory is running", async () => {
    await withPlace(async (place) => {
      const runner = new JobQueue(storeOptions(place));
      const other = new JobQueue(storeOptions(place));
      try {
        const { job, release } = await startBlocker(runner);
        assert.equal(await other.removeJob(job.id), false);
        assert.deepEqual(await storedIds(place), idsOf([job]));
        release();
      } finally {
        await runner.dispose();
        await other.dispose();
      }
    });
  });

  test("a removed job's settled() resolves with undefined", async () => {
    await withQueue({}, async (queue) => {
      const job = await queue.scheduleJob({ methodName: "work", waitTime: 60_000 });
      const settled = queue.settled(job.id);
      assert.equal(await queue.removeJob(job.id), true);
      assert.equal(await withDeadline(settled, 3000, "settled()"), undefined);
      assert.equal(await withDeadline(queue.settled(job.id), 3000, "settled()"), undefined);
    });
  });

  test("frees the removed job's unique key", async () => {
    await withQueue({}, async (queue, place) => {
      const first = await queue.scheduleJob({ methodName: "report", uniqueKey: "daily" });
      assert.equal(await queue.removeJob(first.id), true);
      const second = await queue.scheduleJob({ methodName: "report", uniqueKey: "daily" });
      assert.notEqual(second.id, first.id);
      assert.deepEqual(await storedIds(place), idsOf([second]));
    });
  });

  test("rejects an id that is not a string with a TypeError", async () => {
    await withQueue({}, async (queue) => {
      await assert.rejects(queue.removeJob(42 as unknown as string), TypeError);
    });
  });
});
