/**
 * Waiting for the queue: `onIdle()` (nothing running, nothing due),
 * `drained()` (nothing left at all) and `settled(id)` (one job's end).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Job, JobQueue, JobState, NodeFileSystem, type ReadTextFileOptions } from "../mod.ts";
import {
  type Deferred,
  deferred,
  isPending,
  nextEvent,
  outcomeOf,
  recordEvents,
  runToEnd,
  withQueue,
  withTempDir,
} from "./_helpers.ts";
import { withDeadline } from "./_process_helpers.ts";
import { fileStoreOnly, readStoredJob, storeOptions, withPlace } from "./_store.ts";

/**
 * Node's adapter, telling when a file has been read and what it held: to
 * know what a queue saw of a job without waiting for time to pass.
 */
class ReadObserver extends NodeFileSystem {
  readonly #waiters = new Set<{ suffix: string; resolve: (text: string) => void }>();

  /** Resolves with the text of the next file read whose path ends with `suffix`. */
  nextRead(suffix: string): Promise<string> {
    return new Promise((resolve) => this.#waiters.add({ suffix, resolve }));
  }

  override async readTextFile(path: string, options?: ReadTextFileOptions): Promise<string> {
    const text = await super.readTextFile(path, options);
    for (const waiter of this.#waiters) {
      if (!path.endsWith(waiter.suffix)) continue;
      this.#waiters.delete(waiter);
      waiter.resolve(text);
    }
    return text;
  }
}

/** Bounds a wait that must end, so that a broken test fails instead of hanging. */
function soon<T>(promise: Promise<T>, what: string): Promise<T> {
  return withDeadline(promise, 3000, what);
}

/** Two queues on one directory: `runner` doubles "work" params once `gate` opens; `watcher` reads through `reads`. */
interface RunnerAndWatcher {
  readonly runner: JobQueue;
  readonly watcher: JobQueue;
  readonly gate: Deferred<void>;
  readonly reads: ReadObserver;
}

/** Runs `body` with a {@linkcode RunnerAndWatcher} on a fresh directory, keeping completed jobs. File
 * store only: what the watcher saw is told by its file system adapter. */
async function withRunnerAndWatcher(body: (queues: RunnerAndWatcher) => Promise<void>) {
  await withTempDir(async (directory) => {
    const options = { directory, fsync: false, keepCompleted: true, pollInterval: 20 } as const;
    const runner = new JobQueue(options);
    const reads = new ReadObserver();
    const watcher = new JobQueue({ ...options, fs: reads });
    const gate = deferred<void>();
    runner.registerJobHandler("work", async (n: number) => {
      await gate.promise;
      return n * 2;
    });
    try {
      await body({ runner, watcher, gate, reads });
    } finally {
      gate.resolve();
      await runner.dispose();
      await watcher.dispose();
    }
  });
}

/**
 * Calls `watcher.settled(id)` while the job runs in another queue, and
 * hands over its promise once the watcher has read the job's file and found
 * it not finished.
 */
async function watchWhileItRuns(
  watcher: JobQueue,
  reads: ReadObserver,
  key: string,
  id: string,
): Promise<{ watched: Promise<Job | undefined> }> {
  const seen = reads.nextRead(`${key}.json`);
  const watched = watcher.settled(id);
  assert.notEqual(JSON.parse(await soon(seen, "the watcher's read")).state, "COMPLETED");
  // Wrapped: an awaited promise of a promise would wait for the inner one.
  return { watched };
}

describe("onIdle()", () => {
  test("resolves at once on a queue with nothing to do, started or not", async () => {
    await withQueue({}, async (queue) => {
      assert.equal(await isPending(queue.onIdle()), false);
      await queue.start();
      assert.equal(await isPending(queue.onIdle()), false);
    });
  });

  test("resolves at once before start() when no job is due yet", async () => {
    await withQueue({}, async (queue) => {
      await queue.scheduleJob({ methodName: "later", waitTime: 60_000 });
      assert.equal(await isPending(queue.onIdle()), false);
    });
  });

  test("waits for a due job scheduled before start() until it has run", async () => {
    await withQueue({}, async (queue) => {
      const ran: unknown[] = [];
      queue.registerJobHandler("work", (n: number) => {
        ran.push(n);
      });
      await queue.scheduleJob({ methodName: "work", params: 1 });
      const idle = queue.onIdle();
      assert.equal(await isPending(idle), true, "onIdle() resolved with a due job waiting");
      await queue.start();
      await soon(idle, "onIdle()");
      assert.deepEqual(ran, [1]);
    });
  });

  test("resolves once every due job has run", async () => {
    await withQueue({ maxConcurrency: 2 }, async (queue) => {
      const completed = recordEvents(queue, "completed");
      queue.registerJobHandler("work", async (n: number) => {
        await new Promise((resolve) => setTimeout(resolve, n));
      });
      const jobs = await queue.scheduleJobs(
        [5, 1, 4, 2, 3].map((n) => ({ methodName: "work", params: n })),
      );
      await queue.start();
      await soon(queue.onIdle(), "onIdle()");
      assert.deepEqual(
        completed.map((job) => job.id).sort(),
        jobs.map((job) => job.id).sort(),
      );
    });
  });

  test("does not resolve while a handler runs", async () => {
    await withQueue({}, async (queue) => {
      const gate = deferred<void>();
      queue.registerJobHandler("block", () => gate.promise);
      const job = await queue.scheduleJob({ methodName: "block" });
      const started = nextEvent(queue, "started");
      await queue.start();
      await started;
      const idle = queue.onIdle();
      assert.equal(await isPending(idle), true, "onIdle() resolved while a handler runs");
      const done = outcomeOf(queue, job.id);
      gate.resolve();
      await soon(idle, "onIdle()");
      assert.equal((await done).state, JobState.COMPLETED);
    });
  });

  test("does not wait for jobs due much later", async () => {
    await withQueue({}, async (queue, place) => {
      const ran: string[] = [];
      queue.registerJobHandler("work", (name: string) => {
        ran.push(name);
      });
      const later = await queue.scheduleJob({
        methodName: "work",
        params: "later",
        waitTime: 60_000,
      });
      await queue.scheduleJob({ methodName: "work", params: "now" });
      await queue.start();
      await soon(queue.onIdle(), "onIdle()");
      assert.deepEqual(ran, ["now"]);
      assert.equal((await readStoredJob(place, later)).state, JobState.NOT_STARTED);
      assert.equal(await isPending(queue.drained()), true);
    });
  });
});

describe("drained()", () => {
  test("resolves on a queue with no job, started or not", async () => {
    await withQueue({}, async (queue) => {
      await soon(queue.drained(), "drained()");
      await queue.start();
      await soon(queue.drained(), "drained()");
    });
  });

  test("waits for a job due in 100 ms to run", async () => {
    await withQueue({}, async (queue) => {
      const ran: unknown[] = [];
      queue.registerJobHandler("soon", (n: number) => {
        ran.push(n);
      });
      const completed = recordEvents(queue, "completed");
      const job = await queue.scheduleJob({ methodName: "soon", params: 1, waitTime: 100 });
      await queue.start();
      await soon(queue.drained(), "drained()");
      assert.deepEqual(ran, [1]);
      assert.deepEqual(completed.map((done) => done.id), [job.id]);
    });
  });

  test("waits for a job retried after a failed attempt", async () => {
    await withQueue({}, async (queue) => {
      let attempts = 0;
      queue.registerJobHandler("flaky", () => {
        if (++attempts === 1) throw new Error("first attempt fails");
      }, { maxAttempts: 2, backoff: { type: "fixed", delay: 50 } });
      await queue.scheduleJob({ methodName: "flaky" });
      await queue.start();
      await soon(queue.drained(), "drained()");
      assert.equal(attempts, 2);
    });
  });
});

describe("waiting across removal and dispose()", () => {
  test("drained() resolves once the last job is removed, on a queue that never started", async () => {
    await withQueue({}, async (queue) => {
      const job = await queue.scheduleJob({ methodName: "later", waitTime: 60_000 });
      const drained = queue.drained();
      assert.equal(await isPending(drained), true);
      assert.equal(await queue.removeJob(job.id), true);
      await withDeadline(drained, 3000, "drained()");
    });
  });

  test("at dispose(), onIdle() resolves and drained() rejects with the jobs left", async () => {
    await withQueue({}, async (queue) => {
      queue.registerJobHandler("later", () => {});
      await queue.scheduleJob({ methodName: "later", waitTime: 60_000 });
      await queue.start();
      const drained = queue.drained();
      const rejected = assert.rejects(drained, /disposed before it drained/);
      await queue.dispose();
      await rejected;
      await withDeadline(queue.onIdle(), 3000, "onIdle() after dispose()");
    });
  });
});

describe("settled()", () => {
  test("resolves with the completed job and its result", async () => {
    await withQueue({}, async (queue) => {
      queue.registerJobHandler("add", (a: number, b: number) => ({ sum: a + b }));
      const job = await queue.scheduleJob({ methodName: "add", params: [2, 3] });
      const settled = queue.settled(job.id);
      await queue.start();
      const done = await soon(settled, "settled()");
      assert.equal(done?.id, job.id);
      assert.equal(done?.state, JobState.COMPLETED);
      assert.deepEqual(done?.result, { sum: 5 });
    });
  });

  test("resolves with the failed job and its error", async () => {
    await withQueue({}, async (queue) => {
      queue.on("error", () => {});
      queue.registerJobHandler("fail", () => {
        throw new RangeError("out of range");
      });
      const job = await queue.scheduleJob({ methodName: "fail" });
      const settled = queue.settled(job.id);
      await queue.start();
      const done = await soon(settled, "settled()");
      assert.equal(done?.state, JobState.FAILED);
      assert.equal(done?.error?.name, "RangeError");
      assert.equal(done?.error?.message, "out of range");
    });
  });

  test("resolves only after a retry, not with the failed attempt", async () => {
    await withQueue({}, async (queue) => {
      let attempts = 0;
      queue.registerJobHandler("flaky", () => {
        if (++attempts === 1) throw new Error("first attempt fails");
        return "second time lucky";
      }, { maxAttempts: 2, backoff: { type: "fixed", delay: 10 } });
      const job = await queue.scheduleJob({ methodName: "flaky" });
      const settled = queue.settled(job.id);
      await queue.start();
      const done = await soon(settled, "settled()");
      assert.equal(done?.state, JobState.COMPLETED);
      assert.equal(done?.result, "second time lucky");
      assert.equal(attempts, 2);
    });
  });

  test("resolves at once for a completed job kept on disk", async () => {
    await withQueue({ keepCompleted: true }, async (queue) => {
      queue.registerJobHandler("answer", () => 42);
      const job = await runToEnd(queue, { methodName: "answer" });
      // Nothing else happens in the queue: only the file can tell.
      const done = await soon(queue.settled(job.id), "settled()");
      assert.equal(done?.state, JobState.COMPLETED);
      assert.equal(done?.result, 42);
    });
  });

  test("resolves at once for a failed job", async () => {
    await withQueue({}, async (queue) => {
      queue.on("error", () => {});
      queue.registerJobHandler("fail", () => {
        throw new Error("boom");
      });
      const job = await runToEnd(queue, { methodName: "fail" });
      const done = await soon(queue.settled(job.id), "settled()");
      assert.equal(done?.state, JobState.FAILED);
      assert.equal(done?.error?.message, "boom");
    });
  });

  test("resolves with undefined for an unknown id", async () => {
    await withQueue({}, async (queue) => {
      assert.equal(await soon(queue.settled("no-such-job"), "settled()"), undefined);
      const job = await queue.scheduleJob({ methodName: "work", waitTime: 60_000 });
      const unknown = job.id.replace(/-[0-9a-f]{8}$/, "-00000000");
      assert.equal(await soon(queue.settled(unknown), "settled()"), undefined);
    });
  });

  test("resolves with undefined for a completed job whose file is removed", async () => {
    await withQueue({}, async (queue) => {
      queue.registerJobHandler("work", () => "gone");
      const job = await runToEnd(queue, { methodName: "work" });
      assert.equal(await soon(queue.settled(job.id), "settled()"), undefined);
    });
  });

  test("rejects an id that is not a string with a TypeError", async () => {
    await withQueue({}, async (queue) => {
      await assert.rejects(queue.settled(7 as unknown as string), TypeError);
    });
  });

  test(
    "resolves with the completed job in a queue on the directory that did not run it",
    fileStoreOnly,
    async () => {
      await withRunnerAndWatcher(async ({ runner, watcher, gate, reads }) => {
        // The watcher handles "work" too, but the runner takes the job first.
        watcher.registerJobHandler("work", () => {});
        const job = await runner.scheduleJob({ methodName: "work", params: 21 });
        const started = nextEvent(runner, "started");
        await runner.start();
        await started;
        const { watched } = await watchWhileItRuns(watcher, reads, job.key, job.id);
        const ranInWatcher = recordEvents(watcher, "started");
        // Its start reads the directory: the job runs in the runner.
        await watcher.start();
        gate.resolve();
        const done = await soon(watched, "the watcher's settled()");
        assert.equal(done?.state, JobState.COMPLETED);
        assert.equal(done?.result, 42);
        assert.deepEqual(ranInWatcher, []);
      });
    },
  );

  test(
    "resolves in a queue that starts after another queue on the directory completed the job",
    fileStoreOnly,
    async () => {
      await withRunnerAndWatcher(async ({ runner, watcher, gate, reads }) => {
        const job = await runner.scheduleJob({ methodName: "work", params: 50 });
        const started = nextEvent(runner, "started");
        await runner.start();
        await started;
        const { watched } = await watchWhileItRuns(watcher, reads, job.key, job.id);
        const completed = outcomeOf(runner, job.id);
        gate.resolve();
        await completed;
        await watcher.start();
        const done = await soon(watched, "the watcher's settled()");
        assert.equal(done?.state, JobState.COMPLETED);
        assert.equal(done?.result, 100);
      });
    },
  );

  test("resolves in a queue that only schedules, for the job another queue on the directory runs", async () => {
    await withPlace(async (place) => {
      const options = { keepCompleted: true, pollInterval: 20 } as const;
      const producer = new JobQueue({ ...storeOptions(place), ...options });
      const worker = new JobQueue({ ...storeOptions(place), ...options });
      try {
        worker.registerJobHandler("work", (n: number) => n + 1);
        const job = await producer.scheduleJob({ methodName: "work", params: 1 });
        const settled = producer.settled(job.id);
        const completed = outcomeOf(worker, job.id);
        await worker.start();
        assert.equal((await completed).result, 2);
        const done = await soon(settled, "the producer's settled()");
        assert.equal(done?.state, JobState.COMPLETED);
        assert.equal(done?.result, 2);
      } finally {
        await worker.dispose();
        await producer.dispose();
      }
    });
  });
});
