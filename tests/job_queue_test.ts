/**
 * Behaviour of the `JobQueue` facade in one process: starting, events,
 * failures, shutdown, the job context and its options.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  type Job,
  type JobContext,
  jobContext,
  JobEvent,
  type JobHandler,
  JobQueue,
  JobQueueDebugEvent,
  JobQueueEngine,
  JobQueueError,
  JobQueueErrorEvent,
  type JobRecord,
  JobState,
} from "../mod.ts";
import { collectEvents, deferred, nextEvent, withQueue, withTempDir } from "./_helpers.ts";
import {
  fileStoreOnly,
  type Place,
  readStoredJob,
  storedIds,
  storeOptions,
  withPlace,
} from "./_store.ts";

/** The record of a job as it is stored now on `place`. */
async function readRecord(place: Place, job: Job): Promise<JobRecord> {
  return (await readStoredJob(place, job)).toJSON();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("JobQueue: starting", () => {
  test("the first claims of a queue, made all at once, all succeed", async () => {
    // The claim token is written by the first claims: many at once must not
    // replace it under one another's links.
    for (let round = 0; round < 5; round++) {
      await withQueue({ maxConcurrency: 8 }, async (queue) => {
        const errors: string[] = [];
        queue.on("error", (error) => errors.push(error.message));
        queue.registerJobHandler("work", () => {});
        await queue.scheduleJobs(
          Array.from({ length: 8 }, (_, n) => ({ methodName: "work", params: n })),
        );
        const completed = collectEvents(queue, "completed", 8);
        await queue.start();
        await completed;
        assert.deepEqual(errors, []);
      });
    }
  });

  test("jobs scheduled before start() wait for it, then run", async () => {
    await withQueue({}, async (queue) => {
      const ran: unknown[] = [];
      queue.registerJobHandler("greet", (params) => {
        ran.push(params);
      });
      await queue.scheduleJob({ methodName: "greet", params: { name: "a" } });
      await queue.scheduleJob({ methodName: "greet", params: { name: "b" } });
      // A queue that ran jobs before start() would run these within
      // milliseconds; 100 ms is ample to catch it.
      await delay(100);
      assert.deepEqual(ran, []);

      const completed = collectEvents(queue, "completed", 2);
      await queue.start();
      await completed;
      assert.deepEqual(ran, [{ name: "a" }, { name: "b" }]);
    });
  });

  test("start() twice loads once and runs each job once", async () => {
    await withQueue({}, async (queue) => {
      let runs = 0;
      let loads = 0;
      queue.on("debug", ({ message }) => {
        if (message === "loaded jobs") loads++;
      });
      queue.registerJobHandler("once", () => {
        runs++;
      });
      const completed = nextEvent(queue, "completed");
      await queue.scheduleJob({ methodName: "once" });
      await Promise.all([queue.start(), queue.start()]);
      await queue.start();
      await completed;
      assert.equal(loads, 1);
      assert.equal(runs, 1);
    });
  });

  test("the default, fsync on, stores and runs jobs", fileStoreOnly, async () => {
    await withTempDir(async (directory) => {
      // fsync is left at its default; the completed file is kept to check
      // that the outcome went through the fsynced write.
      const queue = new JobQueue({ directory, keepCompleted: true });
      try {
        queue.registerJobHandler("durable", () => {});
        const completed = nextEvent(queue, "completed");
        const job = await queue.scheduleJob({ methodName: "durable", params: [1] });
        assert.equal((await readRecord(directory, job)).state, JobState.NOT_STARTED);
        await queue.start();
        await completed;
      } finally {
        await queue.dispose();
      }
      const files = await readdir(directory);
      assert.ok(!files.some((name) => name.endsWith(".tmp")), `leftover files: ${files}`);
      const record = JSON.parse(
        await readFile(
          join(directory, files.find((name) => name.startsWith("durable__"))!),
          "utf8",
        ),
      );
      assert.equal(record.state, JobState.COMPLETED);
    });
  });
});

describe("JobQueue: finished jobs' files", () => {
  test("by default a completed job's file is removed, and getAllJobs() no longer lists it", async () => {
    await withQueue({}, async (queue, place) => {
      queue.registerJobHandler("fine", () => {});
      queue.registerJobHandler("broken", () => {
        throw new Error("boom");
      });
      queue.on("error", () => {}); // the failed job's error is expected
      const completed = nextEvent(queue, "completed");
      const failed = nextEvent(queue, "failed");
      const fine = await queue.scheduleJob({ methodName: "fine" });
      const broken = await queue.scheduleJob({ methodName: "broken" });
      assert.deepEqual((await queue.getAllJobs()).map(({ id }) => id), [fine.id, broken.id]);
      await queue.start();
      const completedJob = await completed;
      assert.equal(completedJob.id, fine.id);
      assert.equal(completedJob.state, JobState.COMPLETED);
      assert.equal((await failed).id, broken.id);

      // Both events come after their outcome is on disk: the completed
      // job's file is gone, the failed job's file stays with its error.
      assert.deepEqual(await storedIds(place), [broken.id]);
      const jobs = await queue.getAllJobs();
      assert.deepEqual(jobs.map(({ id, state }) => [id, state]), [[broken.id, JobState.FAILED]]);
      const record = await readRecord(place, broken);
      assert.equal(record.state, JobState.FAILED);
      assert.equal(record.error?.message, "boom");
    });
  });
});

describe("JobQueue: events", () => {
  test("an event type nobody listens to is not dispatched; once listened to, it is", async () => {
    await withPlace(async (place) => {
      const dispatched: string[] = [];
      class CountingQueue extends JobQueue {
        override dispatchEvent(event: Event): boolean {
          dispatched.push(event.type);
          return super.dispatchEvent(event);
        }
      }
      const queue = new CountingQueue(storeOptions(place));
      try {
        await queue.scheduleJob({ methodName: "work", waitTime: 60_000 });
        assert.deepEqual(dispatched, []);
        const scheduled: string[] = [];
        queue.on("scheduled", (job) => scheduled.push(job.id));
        const job = await queue.scheduleJob({ methodName: "work", waitTime: 60_000 });
        assert.deepEqual(dispatched, ["scheduled"]);
        assert.deepEqual(scheduled, [job.id]);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("on() returns a function that unsubscribes the listener", async () => {
    await withQueue({}, async (queue) => {
      const kept: string[] = [];
      const dropped: string[] = [];
      queue.on("scheduled", (job) => kept.push(job.id));
      const off = queue.on("scheduled", (job) => dropped.push(job.id));
      const first = await queue.scheduleJob({ methodName: "a", waitTime: 60_000 });
      off();
      const second = await queue.scheduleJob({ methodName: "a", waitTime: 60_000 });
      assert.deepEqual(kept, [first.id, second.id]);
      assert.deepEqual(dropped, [first.id]);
    });
  });

  test("addEventListener receives JobEvent, JobQueueErrorEvent and JobQueueDebugEvent", async () => {
    await withQueue({}, async (queue) => {
      const events: Event[] = [];
      for (const type of ["scheduled", "started", "completed", "failed", "error", "debug"]) {
        queue.addEventListener(type, (event) => events.push(event));
      }
      queue.registerJobHandler("ok", () => {});
      queue.registerJobHandler("bad", () => {
        throw new Error("bad job");
      });
      const settled = Promise.all([nextEvent(queue, "completed"), nextEvent(queue, "error")]);
      const ok = await queue.scheduleJob({ methodName: "ok" });
      const bad = await queue.scheduleJob({ methodName: "bad" });
      await queue.start();
      await settled;

      const jobEvents = (type: string) =>
        events.filter((event) => event.type === type).map((event) => {
          assert.ok(event instanceof JobEvent, `${type} is not a JobEvent`);
          return [event.job.id, event.job.state];
        });
      assert.deepEqual(jobEvents("scheduled"), [
        [ok.id, JobState.NOT_STARTED],
        [bad.id, JobState.NOT_STARTED],
      ]);
      assert.deepEqual(jobEvents("started"), [
        [ok.id, JobState.IN_PROGRESS],
        [bad.id, JobState.IN_PROGRESS],
      ]);
      assert.deepEqual(jobEvents("completed"), [[ok.id, JobState.COMPLETED]]);
      assert.deepEqual(jobEvents("failed"), [[bad.id, JobState.FAILED]]);

      const errors = events.filter((event) => event.type === "error");
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof JobQueueErrorEvent);
      assert.ok(errors[0].error instanceof JobQueueError);
      assert.equal(errors[0].error.info.job?.id, bad.id);

      const debug = events.filter((event) => event.type === "debug");
      assert.ok(debug.every((event) => event instanceof JobQueueDebugEvent));
      const starting = debug.find((event) =>
        (event as JobQueueDebugEvent).message === "starting job"
      ) as JobQueueDebugEvent | undefined;
      assert.equal(starting?.info.job?.id, ok.id);
    });
  });

  test("a job's events come in order: scheduled, started, completed", async () => {
    await withQueue({}, async (queue) => {
      const seen: string[] = [];
      for (const type of ["scheduled", "started", "completed", "failed"] as const) {
        queue.on(type, (job) => seen.push(`${type} ${job.id}`));
      }
      queue.registerJobHandler("step", () => {
        seen.push("handler");
      });
      const completed = nextEvent(queue, "completed");
      await queue.start();
      const job = await queue.scheduleJob({ methodName: "step" });
      await completed;
      assert.deepEqual(seen, [
        `scheduled ${job.id}`,
        `started ${job.id}`,
        "handler",
        `completed ${job.id}`,
      ]);
    });
  });
});

describe("JobQueue: failures", () => {
  const failures: { how: string; handler: JobHandler; name: string; message: string }[] = [
    {
      how: "throws",
      handler: () => {
        throw new TypeError("bad input");
      },
      name: "TypeError",
      message: "bad input",
    },
    {
      how: "rejects",
      handler: async () => {
        await Promise.resolve();
        throw new RangeError("out of range");
      },
      name: "RangeError",
      message: "out of range",
    },
    {
      how: "throws a non-Error",
      handler: () => {
        throw "plain text";
      },
      name: "Error",
      message: "plain text",
    },
  ];
  for (const { how, handler, name, message } of failures) {
    test(`a handler that ${how} fails its job, records the error and keeps the file`, async () => {
      await withQueue({}, async (queue, place) => {
        queue.registerJobHandler("fragile", handler);
        const failed = nextEvent(queue, "failed");
        const errorSeen = nextEvent(queue, "error");
        const job = await queue.scheduleJob({ methodName: "fragile", params: { n: 1 } });
        await queue.start();

        const failedJob = await failed;
        assert.equal(failedJob.id, job.id);
        assert.equal(failedJob.state, JobState.FAILED);
        const error = await errorSeen;
        assert.ok(error instanceof JobQueueError);
        assert.equal(error.info.job?.id, job.id);
        assert.equal(error.info.job?.state, JobState.FAILED);
        if (name === "Error") assert.equal(error.cause, message);
        else assert.equal((error.cause as Error).message, message);

        const record = await readRecord(place, job);
        assert.equal(record.state, JobState.FAILED);
        assert.equal(record.attempts, 1);
        assert.equal(record.error?.name, name);
        assert.equal(record.error?.message, message);
      });
    });
  }

  test("a due job without a handler fails with a JobQueueError naming the method", async () => {
    await withQueue({}, async (queue, place) => {
      const failed = nextEvent(queue, "failed");
      const errorSeen = nextEvent(queue, "error");
      const job = await queue.scheduleJob({ methodName: "unheardOf" });
      await queue.start();

      assert.equal((await failed).id, job.id);
      const error = await errorSeen;
      assert.ok(error instanceof JobQueueError);
      assert.equal(error.name, "JobQueueError");
      assert.match(error.message, /unheardOf/);
      assert.equal(error.info.job?.id, job.id);

      const record = await readRecord(place, job);
      assert.equal(record.state, JobState.FAILED);
      assert.equal(record.error?.name, "JobQueueError");
      assert.match(record.error?.message ?? "", /unheardOf/);
    });
  });
});

describe("JobQueue: shutdown", () => {
  test("dispose() resolves after running handlers settle and their outcome is written", async () => {
    await withPlace(async (place) => {
      // The completed file is kept to check that the outcome was written.
      const queue = new JobQueue({ ...storeOptions(place), keepCompleted: true });
      const release = deferred<void>();
      queue.registerJobHandler("slow", () => release.promise);
      const started = nextEvent(queue, "started");
      const job = await queue.scheduleJob({ methodName: "slow" });
      await queue.start();
      await started;

      let disposed = false;
      const disposing = queue.dispose().then(() => disposed = true);
      // dispose() must wait for the handler, however long it takes: give a
      // dispose() that did not wait time to resolve first.
      await delay(100);
      assert.equal(disposed, false);
      release.resolve();
      await disposing;
      assert.equal((await readRecord(place, job)).state, JobState.COMPLETED);
    });
  });

  test("scheduleJob() rejects with a JobQueueError after dispose() and writes nothing", async () => {
    await withPlace(async (place) => {
      const queue = new JobQueue(storeOptions(place));
      await queue.start();
      await queue.dispose();
      await assert.rejects(queue.scheduleJob({ methodName: "late" }), JobQueueError);
      assert.deepEqual(await storedIds(place), []);
    });
  });

  test("await using disposes the queue at the end of the block", async () => {
    await withPlace(async (place) => {
      let escaped: JobQueue | undefined;
      {
        await using queue = new JobQueue(storeOptions(place));
        escaped = queue;
        await queue.start();
      }
      await assert.rejects(escaped.scheduleJob({ methodName: "late" }), JobQueueError);
    });
  });

  test("dispose({ timeout }) aborts the handler's signal and gives the job back unfailed", async () => {
    await withPlace(async (place) => {
      const timeout = 100;
      const queue = new JobQueue(storeOptions(place));
      const failures: Job[] = [];
      queue.on("failed", (job) => failures.push(job));
      let abortedAt: number | undefined;
      queue.registerJobHandler("endless", () => {
        const { signal } = jobContext();
        return new Promise((_, reject) => {
          signal.addEventListener("abort", () => {
            abortedAt = Date.now();
            reject(signal.reason);
          }, { once: true });
        });
      });
      const started = nextEvent(queue, "started");
      const job = await queue.scheduleJob({ methodName: "endless", params: { n: 7 } });
      await queue.start();
      await started;

      const disposeCalledAt = Date.now();
      await queue.dispose({ timeout });
      assert.ok(abortedAt !== undefined, "the handler's signal was not aborted");
      assert.ok(abortedAt - disposeCalledAt >= timeout, "aborted before the timeout");
      assert.deepEqual(failures, []);
      const record = await readRecord(place, job);
      assert.equal(record.state, JobState.NOT_STARTED);
      assert.equal(record.error, undefined);

      // The interrupted job runs when a queue next starts on the directory;
      // its completed file is kept to check that the outcome was written.
      const next = new JobQueue({ ...storeOptions(place), keepCompleted: true });
      try {
        const ran = deferred<{ params: unknown; attempt: number }>();
        next.registerJobHandler("endless", (params) => {
          ran.resolve({ params, attempt: jobContext().attempt });
        });
        const completed = nextEvent(next, "completed");
        await next.start();
        assert.equal((await completed).id, job.id);
        assert.deepEqual(await ran.promise, { params: { n: 7 }, attempt: 1 });
      } finally {
        await next.dispose();
      }
      assert.equal((await readRecord(place, job)).state, JobState.COMPLETED);
    });
  });
});

describe("JobQueue: job context", () => {
  test("jobContext() gives a handler its job, attempt and signal, even after an await", async () => {
    await withQueue({}, async (queue) => {
      const seen = deferred<{ before: JobContext; after: JobContext }>();
      queue.registerJobHandler("introspect", async () => {
        const before = jobContext();
        await delay(1);
        seen.resolve({ before, after: jobContext() });
      });
      const job = await queue.scheduleJob({ methodName: "introspect" });
      await queue.start();
      const { before, after } = await seen.promise;
      assert.equal(before.job.id, job.id);
      assert.equal(before.job.state, JobState.IN_PROGRESS);
      assert.equal(before.attempt, 1);
      assert.ok(before.signal instanceof AbortSignal);
      assert.equal(before.signal.aborted, false);
      assert.equal(after.job.id, job.id);
    });
  });

  test("jobContext() throws a TypeError outside a handler", () => {
    assert.throws(() => jobContext(), TypeError);
  });
});

describe("JobQueue: options", () => {
  test("a queue built on an engine uses that engine", async () => {
    await withPlace(async (place) => {
      const engine = new JobQueueEngine(storeOptions(place));
      const queue = new JobQueue({ engine });
      try {
        assert.equal(queue.engine, engine);
        const ran = deferred<unknown>();
        engine.registerJobHandler("viaEngine", (params) => ran.resolve(params));
        const completed = nextEvent(queue, "completed");
        const job = await queue.scheduleJob({ methodName: "viaEngine", params: "x" });
        assert.deepEqual((await engine.getAllJobs()).map(({ id }) => id), [job.id]);
        await queue.start();
        assert.equal(await ran.promise, "x");
        assert.equal((await completed).id, job.id);
      } finally {
        await queue.dispose();
      }
    });
  });

  test(
    "a queue rejects an engine on another directory with a TypeError",
    fileStoreOnly,
    async () => {
      await withTempDir(async (directory) => {
        const engine = new JobQueueEngine({ directory, fsync: false });
        try {
          assert.throws(
            () => new JobQueue({ engine, directory: join(directory, "elsewhere") }),
            TypeError,
          );
        } finally {
          await engine.dispose();
        }
      });
    },
  );

  test("a queue without a directory is a TypeError", () => {
    assert.throws(() => new JobQueue({}), TypeError);
    assert.throws(() => new JobQueue({ directory: "" }), TypeError);
  });

  for (const maxConcurrency of [0, -1, 1.5, NaN]) {
    test(
      `a queue with maxConcurrency ${maxConcurrency} is a RangeError`,
      fileStoreOnly,
      async () => {
        await withTempDir(async (directory) => {
          assert.throws(() => new JobQueue({ directory, maxConcurrency }), RangeError);
          assert.deepEqual(await readdir(directory), []);
        });
      },
    );
  }
});
