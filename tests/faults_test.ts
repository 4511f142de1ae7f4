/**
 * What a queue does when the disk fails for a moment: it neither loses a job,
 * nor runs one twice, nor takes a live engine for dead, nor crashes.
 */
import assert from "node:assert/strict";
import { access, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import {
  type FileInfo,
  type FileSystemAdapter,
  type Job,
  JobQueue,
  JobState,
  type MkdirOptions,
  NodeFileSystem,
  type ReadTextFileOptions,
  type WriteTextFileOptions,
} from "../mod.ts";
import { FaultyFileSystem } from "./_faulty_fs.ts";
import { deferred, nextEvent, recordEvents, withQueueOn, withTempDir } from "./_helpers.ts";
import {
  delay,
  readJobFile,
  scheduleWork,
  withDeadline,
  writeCutShortJob,
} from "./_process_helpers.ts";

function claimPath(directory: string, job: Job): string {
  return join(directory, ".jobq", "claims", `${job.key}.json`);
}

function enginePath(directory: string, engineId: string): string {
  return join(directory, ".jobq", "engines", `${engineId}.json`);
}

async function exists(path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false);
}

/** Resolves once `condition` holds, checked every 10 ms; rejects after `timeout` ms. */
async function waitFor(
  condition: () => Promise<boolean>,
  what: string,
  timeout = 5_000,
): Promise<void> {
  const check = async () => {
    while (!await condition()) await delay(10);
  };
  await withDeadline(check(), timeout, what);
}

/** The engine files in `directory`, as records. */
async function readEngineFiles(
  directory: string,
): Promise<{ engineId: string; heartbeatAt: number }[]> {
  const folder = join(directory, ".jobq", "engines");
  const names = (await readdir(folder)).filter((name) => !name.startsWith("."));
  return await Promise.all(
    names.map(async (name) => JSON.parse(await readFile(join(folder, name), "utf8"))),
  );
}

/** An engine id as jobq writes them: 16 hex digits. */
const OTHER_ENGINE = "0123456789abcdef";

/**
 * Claims `job` for another engine, on another host, whose heartbeat is old
 * enough (past its own lease of 1 s) to have its claim recovered once this
 * engine has seen it unchanged that long. Resolves to that engine's file.
 */
async function claimByStaleEngine(directory: string, job: Job): Promise<string> {
  const old = Date.now() - 60_000;
  await mkdir(join(directory, ".jobq", "claims"), { recursive: true });
  await writeFile(
    claimPath(directory, job),
    JSON.stringify({ engineId: OTHER_ENGINE, claimedAt: old }),
  );
  await mkdir(join(directory, ".jobq", "engines"), { recursive: true });
  const file = enginePath(directory, OTHER_ENGINE);
  await writeFile(
    file,
    JSON.stringify({
      engineId: OTHER_ENGINE,
      pid: 999_999,
      hostId: "another-host.invalid",
      claimTimeout: 1000,
      startedAt: old,
      heartbeatAt: old,
    }),
  );
  return file;
}

/**
 * A file system with a limit on open files, as `ulimit -n` sets: an
 * operation started while `limit` are in flight fails with EMFILE. Counts the
 * most that were in flight at once.
 */
class OpenFilesLimit implements FileSystemAdapter {
  readonly #inner = new NodeFileSystem();
  readonly #limit: number;
  #inFlight = 0;
  /** The most operations that were in flight at once. */
  peak = 0;
  /** How many operations failed with EMFILE. */
  refused = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  async #open<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#inFlight >= this.#limit) {
      this.refused++;
      throw Object.assign(new Error("EMFILE: too many open files"), { code: "EMFILE" });
    }
    this.#inFlight++;
    this.peak = Math.max(this.peak, this.#inFlight);
    try {
      return await operation();
    } finally {
      this.#inFlight--;
    }
  }

  readTextFile(path: string, options?: ReadTextFileOptions): Promise<string> {
    return this.#open(() => this.#inner.readTextFile(path, options));
  }
  writeTextFile(path: string, data: string, options?: WriteTextFileOptions): Promise<void> {
    return this.#open(() => this.#inner.writeTextFile(path, data, options));
  }
  rename(from: string, to: string): Promise<void> {
    return this.#open(() => this.#inner.rename(from, to));
  }
  remove(path: string): Promise<void> {
    return this.#open(() => this.#inner.remove(path));
  }
  readDir(path: string): Promise<string[]> {
    return this.#open(() => this.#inner.readDir(path));
  }
  mkdir(path: string, options?: MkdirOptions): Promise<void> {
    return this.#open(() => this.#inner.mkdir(path, options));
  }
  link(existing: string, newPath: string): Promise<void> {
    return this.#open(() => this.#inner.link(existing, newPath));
  }
  syncDir(path: string): Promise<void> {
    return this.#open(() => this.#inner.syncDir(path));
  }
  lstat(path: string): Promise<FileInfo> {
    return this.#open(() => this.#inner.lstat(path));
  }
}

describe("faults", () => {
  test(
    "a passing EIO on another engine's file does not make this engine take that engine's claims",
    { timeout: 15_000 },
    async () => {
      await withTempDir(async (directory) => {
        const job = await writeCutShortJob(directory);
        const otherEngine = await claimByStaleEngine(directory, job);
        const fs = new FaultyFileSystem();
        const fault = fs.fail({
          method: "readTextFile",
          path: (path) => path === otherEngine,
          code: "EIO",
        });
        await withQueueOn(directory, { fs, pollInterval: 20 }, async (queue) => {
          const started: Job[] = [];
          queue.on("started", (job) => started.push(job));
          queue.registerJobHandler("work", () => {});
          const completed = nextEvent(queue, "completed");
          await queue.start();
          // Bounded: the load and the polls every 20 ms meanwhile all read the
          // engine file and fail; a queue that took the failure for a dead
          // engine would have started the job at once.
          await delay(800);
          assert.ok(fault.hits >= 2, `the engine file was read ${fault.hits} times`);
          assert.deepEqual(started, []);
          fault.clear();
          const done = await completed;
          assert.equal(done.id, job.id);
          assert.equal(done.attempts, 2);
          assert.equal(started.length, 1);
        });
      });
    },
  );

  test(
    "a poll while a dead engine's claim is taken back does not run the job before the cut-short run is counted",
    { timeout: 15_000 },
    async () => {
      await withTempDir(async (directory) => {
        const [job] = await scheduleWork(directory, 1);
        await claimByStaleEngine(directory, job!);
        // Recovery moves the claim aside and reads it there before it counts
        // the run: slowed, so that polls every 20 ms find the claim gone.
        const fs = new FaultyFileSystem();
        const slowed = fs.disturb((call) =>
          call.method === "readTextFile" && call.path.includes(join(".jobq", "claims")) &&
            call.path.endsWith(".tmp")
            ? { kind: "slow", delay: 300 }
            : undefined
        );
        await withQueueOn(directory, { fs, pollInterval: 20 }, async (queue) => {
          queue.registerJobHandler("work", () => {});
          const completed = nextEvent(queue, "completed", (done) => done.id === job!.id, 10_000);
          await queue.start();
          const done = await completed;
          assert.equal(slowed.hits, 1);
          assert.equal(done.attempts, 2, "the run the dead engine began is counted");
          assert.equal(done.interruptions, 1);
        });
      });
    },
  );

  test(
    "a claim that cannot be removed after the outcome is written is reported, not run again, and removed later",
    { timeout: 15_000 },
    async () => {
      await withTempDir(async (directory) => {
        const fs = new FaultyFileSystem();
        // Completed files kept, to check what the outcome says.
        const options = { fs, pollInterval: 20, keepCompleted: true };
        await withQueueOn(directory, options, async (queue) => {
          let runs = 0;
          queue.registerJobHandler("work", () => {
            runs++;
          });
          const job = await queue.scheduleJob({ methodName: "work" });
          const claim = claimPath(directory, job);
          const fault = fs.fail({
            method: "remove",
            path: (path) => path === claim,
            code: "EIO",
            times: 1,
          });
          const reported = nextEvent(queue, "error", (error) => error.info.job?.id === job.id);
          const completed = nextEvent(queue, "completed");
          await queue.start();
          assert.equal((await completed).state, JobState.COMPLETED);
          const error = await reported;
          assert.equal(fault.hits, 1);
          assert.match(error.message, /claim/);
          await waitFor(async () => !await exists(claim), "the removal of the leftover claim");
          // Bounded: ten poll intervals, in which a job wrongly given back
          // because of the failed removal would run again.
          await delay(200);
          assert.equal(runs, 1);
          assert.equal((await readJobFile(directory, job)).state, JobState.COMPLETED);
        });
      });
    },
  );

  test("a passing read error on the job file during the claim does not lose the job", {
    timeout: 15_000,
  }, async () => {
    await withTempDir(async (directory) => {
      const fs = new FaultyFileSystem();
      await withQueueOn(directory, { fs, pollInterval: 20 }, async (queue) => {
        queue.registerJobHandler("work", () => {});
        const job = await queue.scheduleJob({ methodName: "work" });
        const jobPath = join(directory, `${job.key}.json`);
        const claim = claimPath(directory, job);
        // Claims are links to the engine's claim token.
        const claimCreated = () => fs.callsOf("link").some((call) => call.to === claim);
        // The read under the claim, the first after the claim file is created.
        const fault = fs.fail({
          method: "readTextFile",
          path: (path) => path === jobPath && claimCreated(),
          code: "EIO",
          times: 1,
        });
        const reported = nextEvent(queue, "error");
        const completed = nextEvent(queue, "completed");
        await queue.start();
        assert.match((await reported).message, /EIO/);
        const done = await completed;
        assert.equal(fault.hits, 1);
        assert.equal(done.id, job.id);
        assert.equal(done.attempts, 1);
        assert.equal(await exists(claim), false);
      });
    });
  });

  test(
    "a failed claim with a fractional pollInterval is retried without an unhandled rejection",
    { timeout: 15_000 },
    async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on("unhandledRejection", onUnhandled);
      try {
        await withTempDir(async (directory) => {
          const fs = new FaultyFileSystem();
          const claims = join(directory, ".jobq", "claims");
          const fault = fs.fail({
            method: "link",
            path: (path) => path.startsWith(claims + "/"),
            code: "EIO",
            times: 1,
          });
          await withQueueOn(directory, { fs, pollInterval: 20.5 }, async (queue) => {
            queue.registerJobHandler("work", () => {});
            const completed = nextEvent(queue, "completed");
            const job = await queue.scheduleJob({ methodName: "work" });
            await queue.start();
            assert.equal((await completed).id, job.id);
            assert.equal(fault.hits, 1);
          });
        });
        // Bounded: a rejection is reported as unhandled once the microtasks
        // after it have run; a few timer turns are plenty.
        await delay(50);
        assert.deepEqual(unhandled, []);
      } finally {
        process.off("unhandledRejection", onUnhandled);
      }
    },
  );

  test("dispose() keeps the heartbeat going while a handler still runs", {
    timeout: 15_000,
  }, async () => {
    await withTempDir(async (directory) => {
      // A lease of 600 ms: a heartbeat every 200 ms.
      const queue = new JobQueue({ directory, fsync: false, claimTimeout: 600 });
      const release = deferred<void>();
      let disposed: Promise<void> | undefined;
      try {
        queue.registerJobHandler("work", () => release.promise);
        const started = nextEvent(queue, "started");
        await queue.scheduleJob({ methodName: "work" });
        await queue.start();
        await started;
        const disposedAt = Date.now();
        disposed = queue.dispose();
        let engineId: string | undefined;
        // Up to five leases: an engine whose heartbeat stopped at dispose()
        // would look dead to others after one.
        await waitFor(async () => {
          const fresh = (await readEngineFiles(directory)).find((engine) =>
            engine.heartbeatAt > disposedAt
          );
          engineId = fresh?.engineId;
          return fresh !== undefined;
        }, "a heartbeat after dispose() was called");
        release.resolve();
        await disposed;
        assert.ok(engineId !== undefined);
        assert.equal(await exists(enginePath(directory, engineId)), false);
      } finally {
        release.resolve();
        await (disposed ?? queue.dispose());
      }
    });
  });

  describe("a disk full when the outcome is written", () => {
    /** Makes the next `times` writes of job files fail with ENOSPC (every write without). */
    function fillDisk(fs: FaultyFileSystem, directory: string, times?: number) {
      return fs.fail({
        method: "writeTextFile",
        path: (path) => dirname(path) === directory,
        code: "ENOSPC",
        ...(times === undefined ? {} : { times }),
      });
    }

    test(
      "does not run a successful handler again: the engine keeps the claim and records the completion once the disk has room",
      {
        timeout: 15_000,
      },
      async () => {
        await withTempDir(async (directory) => {
          const fs = new FaultyFileSystem();
          await withQueueOn(
            directory,
            { fs, pollInterval: 20, keepCompleted: true },
            async (queue) => {
              let runs = 0;
              queue.registerJobHandler("work", () => {
                runs++;
                return "done";
              });
              const started = recordEvents(queue, "started");
              const errors = recordEvents(queue, "error");
              const job = await queue.scheduleJob({ methodName: "work" });
              const fault = fillDisk(fs, directory, 5);
              const completed = nextEvent(queue, "completed");
              await queue.start();
              const done = await completed;
              await queue.onIdle();
              assert.equal(runs, 1);
              assert.equal(started.length, 1);
              assert.equal(fault.hits, 5);
              assert.equal(errors.filter((error) => /ENOSPC/.test(error.message)).length, 5);
              assert.equal(done.result, "done");
              const stored = await readJobFile(directory, job);
              assert.equal(stored.state, JobState.COMPLETED);
              assert.equal(stored.attempts, 1);
              assert.equal(await exists(claimPath(directory, job)), false);
            },
          );
        });
      },
    );

    test("does not run a failing handler again: the failure is recorded once the disk has room", {
      timeout: 15_000,
    }, async () => {
      await withTempDir(async (directory) => {
        const fs = new FaultyFileSystem();
        await withQueueOn(directory, { fs, pollInterval: 20 }, async (queue) => {
          let runs = 0;
          queue.registerJobHandler("work", () => {
            runs++;
            throw new Error("broken");
          });
          const job = await queue.scheduleJob({ methodName: "work" });
          const fault = fillDisk(fs, directory, 3);
          const failed = nextEvent(queue, "failed");
          await queue.start();
          assert.equal((await failed).error?.message, "broken");
          await queue.onIdle();
          assert.equal(runs, 1);
          assert.equal(fault.hits, 3);
          const stored = await readJobFile(directory, job);
          assert.equal(stored.state, JobState.FAILED);
          assert.equal(stored.attempts, 1);
        });
      });
    });

    test(
      "gives the job back at dispose() while the outcome still cannot be written, and it runs at the next start",
      {
        timeout: 15_000,
      },
      async () => {
        await withTempDir(async (directory) => {
          const fs = new FaultyFileSystem();
          let runs = 0;
          let job!: Job;
          await withQueueOn(
            directory,
            { fs, pollInterval: 20, keepCompleted: true },
            async (queue) => {
              queue.registerJobHandler("work", () => {
                runs++;
              });
              job = await queue.scheduleJob({ methodName: "work" });
              const fault = fillDisk(fs, directory);
              const reported = nextEvent(queue, "error", (error) => /ENOSPC/.test(error.message));
              await queue.start();
              await reported;
              await queue.dispose();
              assert.equal(runs, 1);
              assert.ok(fault.hits >= 1);
              fault.clear();
            },
          );
          assert.equal(await exists(claimPath(directory, job)), false);
          assert.equal((await readJobFile(directory, job)).state, JobState.NOT_STARTED);
          await withQueueOn(directory, { keepCompleted: true }, async (queue) => {
            queue.registerJobHandler("work", () => {
              runs++;
            });
            const completed = nextEvent(queue, "completed");
            await queue.start();
            assert.equal((await completed).id, job.id);
            assert.equal(runs, 2);
          });
        });
      },
    );
  });

  test("2,000 concurrent scheduleJob() calls all resolve under a limit of 256 open files", {
    timeout: 60_000,
  }, async () => {
    await withTempDir(async (directory) => {
      const fs = new OpenFilesLimit(256);
      await withQueueOn(directory, { fs, fsync: true }, async (queue) => {
        const results = await Promise.allSettled(
          Array.from({ length: 2_000 }, (_, index) =>
            queue.scheduleJob({
              methodName: "work",
              params: { index },
              ...(index % 4 === 0 ? { uniqueKey: `key-${index}` } : {}),
            })),
        );
        const rejected = results.filter((result) => result.status === "rejected");
        assert.equal(rejected.length, 0, String((rejected[0] as PromiseRejectedResult)?.reason));
        assert.equal(fs.refused, 0);
        assert.ok(fs.peak <= 64, `${fs.peak} file operations were in flight at once`);
        assert.equal(
          (await readdir(directory)).filter((name) => name.endsWith(".json")).length,
          2_000,
        );
      });
    });
  });

  describe("temporary files", () => {
    /** Writes a temporary job file of an engine that has no engine file, created at `createdAt`. */
    async function writeTempFile(directory: string, createdAt: number): Promise<string> {
      const name = `.x__orphan.json.${OTHER_ENGINE}-${createdAt.toString(36)}-0.tmp`;
      await writeFile(join(directory, name), "{}");
      return join(directory, name);
    }

    test("one just created by an engine with no engine file yet survives a queue's load", async () => {
      await withTempDir(async (directory) => {
        const temp = await writeTempFile(directory, Date.now());
        await withQueueOn(directory, {}, async (queue) => {
          await queue.start();
          assert.equal(await exists(temp), true);
        });
      });
    });

    test("one older than claimTimeout of an engine with no engine file is removed on load", async () => {
      await withTempDir(async (directory) => {
        const temp = await writeTempFile(directory, Date.now() - 60_000);
        await withQueueOn(directory, { claimTimeout: 30_000 }, async (queue) => {
          await queue.start();
          assert.equal(await exists(temp), false);
        });
      });
    });
  });
});
