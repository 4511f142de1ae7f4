/**
 * Behaviour of `JobQueueEngine` in one process: order, concurrency, timing,
 * polling, job management, loading and recovery.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  Job,
  type JobHandler,
  JobQueueEngine,
  type JobQueueEngineOptions,
  JobQueueError,
  type JobQueueEventName,
  type JobQueuePayloadMap,
  type JobRecord,
  JobState,
} from "../mod.ts";
import { type Deferred, deferred, withTempDir } from "./_helpers.ts";
import {
  fileStoreOnly,
  idsOf,
  type Place,
  readStoredJob,
  storedIds,
  storeOptions,
  withPlace,
} from "./_store.ts";

type EngineOptions = Omit<JobQueueEngineOptions, "directory" | "store">;

/** Runs `test` with one more engine on `place`, disposed afterwards. */
async function withEngine(
  place: Place,
  options: EngineOptions,
  test: (engine: JobQueueEngine) => Promise<void>,
): Promise<void> {
  const engine = new JobQueueEngine({ ...storeOptions(place), ...options });
  try {
    await test(engine);
  } finally {
    await engine.dispose();
  }
}

/**
 * Resolves with the payloads of the next `count` `name` events of `engine`
 * for which `predicate` holds; rejects after 10 s so that a broken test
 * fails instead of hanging.
 */
function engineEvents<K extends JobQueueEventName>(
  engine: JobQueueEngine,
  name: K,
  count = 1,
  predicate: (payload: JobQueuePayloadMap[K]) => boolean = () => true,
): Promise<JobQueuePayloadMap[K][]> {
  const payloads: JobQueuePayloadMap[K][] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`Only ${payloads.length} of ${count} '${name}' events within 10 s`));
    }, 10_000);
    const off = engine.listen((eventName, payload) => {
      if ((eventName as JobQueueEventName) !== name) return;
      const typed = payload as unknown as JobQueuePayloadMap[K];
      if (!predicate(typed)) return;
      payloads.push(typed);
      if (payloads.length < count) return;
      clearTimeout(timer);
      off();
      resolve(payloads);
    });
  });
}

/** Promises that handlers wait on, opened by name from the test. */
class Gates {
  readonly #gates = new Map<string, Deferred<void>>();

  #gate(name: string): Deferred<void> {
    let gate = this.#gates.get(name);
    if (gate === undefined) this.#gates.set(name, gate = deferred<void>());
    return gate;
  }

  wait(name: string): Promise<void> {
    return this.#gate(name).promise;
  }

  open(name: string): void {
    this.#gate(name).resolve();
  }

  /** Lets every handler finish, so that dispose() does not wait forever after a failure. */
  openAll(): void {
    for (const gate of this.#gates.values()) gate.resolve();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Lets pending promise callbacks (the engine's bookkeeping after an event) run. */
function settle(): Promise<void> {
  return delay(0);
}

describe("JobQueueEngine: order and concurrency", () => {
  test("ready jobs start in execution-date order, then in creation order", async () => {
    await withPlace(async (place) => {
      await withEngine(place, { maxConcurrency: 1 }, async (engine) => {
        const order: string[] = [];
        engine.registerJobHandler("record", (name: string) => {
          order.push(name);
        });
        const base = Date.now() - 10_000;
        const jobs: [string, number][] = [
          ["late", base + 3],
          ["first", base + 1],
          ["middle", base + 2],
          ["first, created later", base + 1],
          ["middle, created later", base + 2],
        ];
        for (const [name, executionDate] of jobs) {
          await engine.scheduleJob({ methodName: "record", params: name, executionDate });
        }
        const completed = engineEvents(engine, "completed", jobs.length);
        await engine.startNextJob();
        await completed;
        assert.deepEqual(order, [
          "first",
          "first, created later",
          "middle",
          "middle, created later",
          "late",
        ]);
      });
    });
  });

  for (const limit of [1, 3]) {
    test(`an engine never runs more than maxConcurrency ${limit} handlers at once`, async () => {
      await withPlace(async (place) => {
        await withEngine(place, { maxConcurrency: limit }, async (engine) => {
          const total = 10;
          let active = 0;
          let peak = 0;
          let finished = 0;
          const watchers = new Set<() => void>();
          const changed = () => watchers.forEach((watcher) => watcher());
          // Each handler holds its slot until the limit is reached (or no job
          // is left to join), so that an engine that let more in would show it.
          const limitReached = () =>
            new Promise<void>((resolve) => {
              const check = () => {
                if (active < limit && active + finished < total) return;
                watchers.delete(check);
                resolve();
              };
              watchers.add(check);
              check();
            });
          engine.registerJobHandler("count", async () => {
            active++;
            peak = Math.max(peak, active);
            changed();
            await limitReached();
            await delay(5);
            active--;
            finished++;
            changed();
          });
          const completed = engineEvents(engine, "completed", total);
          for (let i = 0; i < total; i++) await engine.scheduleJob({ methodName: "count" });
          await engine.startNextJob();
          await completed;
          assert.equal(finished, total);
          assert.equal(peak, limit);
        });
      });
    });
  }

  test("setMaxConcurrency() starts waiting jobs when raised and holds new starts when lowered", async () => {
    await withPlace(async (place) => {
      // Polls a minute apart: only setMaxConcurrency() itself can start the waiting jobs.
      await withEngine(place, { maxConcurrency: 1, pollInterval: 60_000 }, async (engine) => {
        const gates = new Gates();
        const started: string[] = [];
        engine.listen((eventName, payload) => {
          if (eventName === "started") started.push((payload as Job).params as string);
        });
        engine.registerJobHandler("hold", (name: string) => gates.wait(name));
        const completedJob = (name: string) =>
          engineEvents(engine, "completed", 1, (job) => job.params === name);
        try {
          for (const name of ["j1", "j2", "j3", "j4", "j5"]) {
            await engine.scheduleJob({ methodName: "hold", params: name });
          }
          const first = engineEvents(engine, "started");
          await engine.startNextJob();
          await first;
          // Nothing else may start at a limit of 1; 100 ms is ample to see it if it did.
          await delay(100);
          assert.deepEqual(started, ["j1"]);
          assert.equal(engine.hasReachedMaxConcurrency, true);

          const twoMore = engineEvents(engine, "started", 2);
          engine.setMaxConcurrency(3);
          await twoMore;
          // Both claims run at once, so their start events come in either order.
          assert.deepEqual([...started].sort(), ["j1", "j2", "j3"]);

          engine.setMaxConcurrency(1);
          for (const name of ["j1", "j2"]) {
            const completed = completedJob(name);
            gates.open(name);
            await completed;
            // Still at or above the new limit: no job may start; 100 ms is
            // ample to see one if it did.
            await delay(100);
            assert.deepEqual([...started].sort(), ["j1", "j2", "j3"]);
          }

          const fourth = engineEvents(engine, "started");
          gates.open("j3");
          assert.equal((await fourth)[0]!.params, "j4");
        } finally {
          gates.openAll();
        }
      });
    });
  });

  test("hasReachedMaxConcurrency tells whether every slot is taken", async () => {
    await withPlace(async (place) => {
      await withEngine(place, { maxConcurrency: 2 }, async (engine) => {
        const gates = new Gates();
        engine.registerJobHandler("hold", () => gates.wait("all"));
        try {
          assert.equal(engine.hasReachedMaxConcurrency, false);
          const started = engineEvents(engine, "started", 2);
          await engine.scheduleJob({ methodName: "hold" });
          await engine.scheduleJob({ methodName: "hold" });
          await engine.startNextJob();
          await started;
          assert.equal(engine.hasReachedMaxConcurrency, true);

          const completed = engineEvents(engine, "completed", 2);
          gates.open("all");
          await completed;
          await settle();
          assert.equal(engine.hasReachedMaxConcurrency, false);
        } finally {
          gates.openAll();
        }
      });
    });
  });

  test("setMaxConcurrency() rejects a value that is not a positive integer with a RangeError", async () => {
    await withPlace(async (place) => {
      const engine = new JobQueueEngine(storeOptions(place));
      for (const value of [0, -1, 2.5, NaN]) {
        assert.throws(() => engine.setMaxConcurrency(value), RangeError, String(value));
      }
      await engine.dispose();
    });
  });
});

describe("JobQueueEngine: timing", () => {
  test("a deferred job starts once its execution date has come, not before", async () => {
    await withPlace(async (place) => {
      await withEngine(place, {}, async (engine) => {
        const ran = deferred<number>();
        engine.registerJobHandler("later", () => ran.resolve(Date.now()));
        await engine.startNextJob();
        const started = engineEvents(engine, "started");
        const job = await engine.scheduleJob({ methodName: "later", waitTime: 150 });
        const [startedJob] = await started;
        assert.ok(startedJob!.startedAt! >= job.executionDate, "claimed before it was due");
        assert.ok(await ran.promise >= job.executionDate, "ran before it was due");
      });
    });
  });

  test("a job due beyond setTimeout's 2^31-1 ms limit does not run early", async () => {
    await withPlace(async (place) => {
      await withEngine(place, {}, async (engine) => {
        const ran: string[] = [];
        engine.registerJobHandler("run", (name: string) => {
          ran.push(name);
        });
        const far = await engine.scheduleJob({
          methodName: "run",
          params: "far",
          executionDate: Date.now() + 2 ** 31 + 60_000,
        });
        const completed = engineEvents(engine, "completed");
        await engine.scheduleJob({ methodName: "run", params: "now" });
        await engine.startNextJob();
        await completed;
        // An overflowing timer fires after about 1 ms; 300 ms is ample to see it.
        await delay(300);
        assert.deepEqual(ran, ["now"]);
        assert.equal((await readStoredJob(place, far)).state, JobState.NOT_STARTED);
      });
    });
  });
  test("a job due beyond setTimeout's limit is waited for with one clamped timer, not a busy loop", async () => {
    // setTimeout fires at once for delays above 2^31-1 ms; an engine that
    // passed such a delay would wake up over and over until the job is due.
    const realSetTimeout = globalThis.setTimeout;
    const delays: number[] = [];
    globalThis.setTimeout =
      ((handler: (...args: unknown[]) => void, delay?: number, ...args: unknown[]) => {
        delays.push(delay ?? 0);
        // With its arguments: a database client's timers pass some.
        return realSetTimeout(() => handler(...args), delay);
      }) as typeof setTimeout;
    try {
      await withPlace(async (place) => {
        await withEngine(place, {}, async (engine) => {
          engine.registerJobHandler("run", () => {});
          await engine.scheduleJob({ methodName: "run", executionDate: Date.now() + 2 ** 32 });
          await engine.startNextJob();
          await delay(200);
        });
      });
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
    const longest = Math.max(...delays);
    assert.equal(longest, 2 ** 31 - 1, "the due timer is clamped to setTimeout's limit");
    assert.ok(
      delays.filter((delay) => delay === longest).length <= 2,
      `the clamped timer was armed ${delays.length} times in 200 ms`,
    );
  });
});

describe("JobQueueEngine: several engines", () => {
  test("a started engine picks up, by polling, a job another engine wrote", async () => {
    await withPlace(async (place) => {
      // The completed file is kept to check that the worker wrote the outcome.
      const options = { pollInterval: 50, keepCompleted: true };
      await withEngine(place, options, async (worker) => {
        worker.registerJobHandler("remote", () => {});
        const completed = engineEvents(worker, "completed");
        await worker.startNextJob();
        await withEngine(place, {}, async (producer) => {
          const job = await producer.scheduleJob({ methodName: "remote", params: { from: "b" } });
          const [done] = await completed;
          assert.equal(done!.id, job.id);
          assert.deepEqual(done!.params, { from: "b" });
          assert.equal((await readStoredJob(place, job)).state, JobState.COMPLETED);
        });
      });
    });
  });
});

describe("JobQueueEngine: managing jobs", () => {
  test("removeJobsByMethodName() removes that method's jobs and no others", async () => {
    await withPlace(async (place) => {
      await withEngine(place, { maxConcurrency: 1 }, async (engine) => {
        const ran: string[] = [];
        const record = (methodName: string) => () => {
          ran.push(methodName);
        };
        engine.registerJobHandler("drop", record("drop"));
        engine.registerJobHandler("keep", record("keep"));
        for (let i = 0; i < 3; i++) await engine.scheduleJob({ methodName: "drop" });
        const kept = [
          await engine.scheduleJob({ methodName: "keep" }),
          await engine.scheduleJob({ methodName: "keep" }),
        ];

        assert.equal(await engine.removeJobsByMethodName("drop"), 3);
        assert.deepEqual(await storedIds(place), idsOf(kept));

        // The removed jobs came first in order: had they stayed in the index,
        // they would have run before the kept ones.
        const completed = engineEvents(engine, "completed", 2);
        await engine.startNextJob();
        await completed;
        assert.deepEqual(ran, ["keep", "keep"]);
      });
    });
  });

  test("removeJobsByMethodName() leaves a running job alone", async () => {
    await withPlace(async (place) => {
      // The completed file is kept to check that the running job's outcome was written.
      await withEngine(place, { keepCompleted: true }, async (engine) => {
        const gates = new Gates();
        engine.registerJobHandler("clean", () => gates.wait("running"));
        try {
          const started = engineEvents(engine, "started");
          await engine.startNextJob();
          const running = await engine.scheduleJob({ methodName: "clean" });
          await started;
          const waiting = await engine.scheduleJob({ methodName: "clean", waitTime: 60_000 });
          const other = await engine.scheduleJob({ methodName: "other", waitTime: 60_000 });

          assert.equal(await engine.removeJobsByMethodName("clean"), 1);
          assert.deepEqual(await storedIds(place), idsOf([running, other]));
          assert.ok(!(await storedIds(place)).includes(waiting.id));

          const completed = engineEvents(engine, "completed");
          gates.open("running");
          assert.equal((await completed)[0]!.id, running.id);
          assert.equal((await readStoredJob(place, running)).state, JobState.COMPLETED);
        } finally {
          gates.openAll();
        }
      });
    });
  });

  test("getAllJobs() reads every job from disk, in id order, with its state", async () => {
    await withPlace(async (place) => {
      const now = Date.now();
      const scheduled: Job[] = [];
      // Completed files are kept so that the reader finds jobs in every state.
      await withEngine(place, { keepCompleted: true }, async (engine) => {
        engine.registerJobHandler("ok", () => {});
        engine.registerJobHandler("bad", () => {
          throw new Error("bad");
        });
        const finished = Promise.all([
          engineEvents(engine, "completed", 2),
          engineEvents(engine, "failed"),
        ]);
        scheduled.push(
          await engine.scheduleJob({ methodName: "ok", executionDate: now - 3000 }),
          await engine.scheduleJob({ methodName: "bad", executionDate: now - 1000 }),
          await engine.scheduleJob({ methodName: "idle", waitTime: 60_000 }),
          await engine.scheduleJob({ methodName: "ok", executionDate: now - 5000 }),
        );
        await engine.startNextJob();
        await finished;
      });

      await withEngine(place, {}, async (reader) => {
        const jobs = await reader.getAllJobs();
        const [late, bad, idle, early] = scheduled;
        assert.deepEqual(jobs.map((job) => job.id), [early!.id, late!.id, bad!.id, idle!.id]);
        assert.deepEqual(jobs.map((job) => job.id), jobs.map((job) => job.id).sort());
        assert.deepEqual(jobs.map((job) => [job.methodName, job.state]), [
          ["ok", JobState.COMPLETED],
          ["ok", JobState.COMPLETED],
          ["bad", JobState.FAILED],
          ["idle", JobState.NOT_STARTED],
        ]);
        assert.equal(jobs[2]!.error?.message, "bad");
      });
    });
  });
});

describe("JobQueueEngine: loading", () => {
  test("load() twice reads the directory once", async () => {
    await withPlace(async (place) => {
      let stored: Job | undefined;
      await withEngine(place, {}, async (producer) => {
        stored = await producer.scheduleJob({ methodName: "once" });
      });

      let loaded = 0;
      await withEngine(place, {
        eventListener: (eventName, event) => {
          if (eventName === "debug" && (event as { message: string }).message === "loaded jobs") {
            loaded++;
          }
        },
      }, async (engine) => {
        let runs = 0;
        engine.registerJobHandler("once", () => {
          runs++;
        });
        await Promise.all([engine.load(), engine.load()]);
        await engine.load();
        assert.equal(loaded, 1);

        const completed = engineEvents(engine, "completed");
        await engine.startNextJob();
        assert.equal((await completed)[0]!.id, stored!.id);
        assert.equal(runs, 1);
        assert.equal(loaded, 1);
      });
    });
  });

  test(
    "a job left IN_PROGRESS without a claim runs again on load, one attempt more",
    fileStoreOnly,
    async () => {
      await withTempDir(async (directory) => {
        // What a process killed mid-run leaves: the file says IN_PROGRESS, and
        // no live engine holds a claim on it.
        const job = Job.fromSpec({ methodName: "resume", params: { step: 2 } });
        const record: JobRecord = {
          ...job.toJSON(),
          state: JobState.IN_PROGRESS,
          attempts: 1,
          startedAt: Date.now() - 1000,
        };
        await writeFile(join(directory, `${job.key}.json`), JSON.stringify(record));

        // The completed file is kept to check the attempts it records.
        await withEngine(directory, { keepCompleted: true }, async (engine) => {
          const ran = deferred<unknown>();
          engine.registerJobHandler("resume", (params) => ran.resolve(params));
          const started = engineEvents(engine, "started");
          const completed = engineEvents(engine, "completed");
          await engine.load();
          await engine.startNextJob();
          assert.equal((await started)[0]!.attempts, 2);
          assert.deepEqual(await ran.promise, { step: 2 });
          await completed;
        });
        const after = await readStoredJob(directory, job);
        assert.equal(after.state, JobState.COMPLETED);
        assert.equal(after.attempts, 2);
      });
    },
  );
});

describe("JobQueueEngine: options and input", () => {
  test("the eventListener option receives error and debug events", async () => {
    await withPlace(async (place) => {
      const heard: [string, unknown][] = [];
      await withEngine(place, {
        eventListener: (eventName, event) => heard.push([eventName, event]),
      }, async (engine) => {
        const cause = new Error("boom");
        engine.registerJobHandler("explode", () => {
          throw cause;
        });
        const errorSeen = engineEvents(engine, "error");
        const job = await engine.scheduleJob({ methodName: "explode" });
        await engine.startNextJob();
        await errorSeen;

        const errors = heard.filter(([name]) => name === "error").map(([, event]) => event);
        assert.equal(errors.length, 1);
        assert.ok(errors[0] instanceof JobQueueError);
        assert.equal(errors[0].info.job?.id, job.id);
        assert.equal(errors[0].cause, cause);

        const messages = heard
          .filter(([name]) => name === "debug")
          .map(([, event]) => (event as { message: string }).message);
        for (const message of ["scheduled job", "loaded jobs", "starting job", "failed job"]) {
          assert.ok(messages.includes(message), `no '${message}' in ${messages}`);
        }
      });
    });
  });

  test("registerJobHandler() rejects an unsafe name or a non-function with a TypeError", async () => {
    await withPlace(async (place) => {
      await withEngine(place, {}, async (engine) => {
        for (const name of ["../escape", "a/b", "a\\b", ".hidden", "", "a b", "x".repeat(200)]) {
          assert.throws(() => engine.registerJobHandler(name, () => {}), TypeError, name);
        }
        for (const handler of [undefined, null, "run", { run() {} }]) {
          assert.throws(
            () => engine.registerJobHandler("valid", handler as unknown as JobHandler),
            TypeError,
          );
        }
        assert.deepEqual(await storedIds(place), []);
      });
    });
  });
});
