/**
 * What clock steps, stalls, full disks and containers do to a queue: no job
 * runs twice at once, none is lost, none is failed for a death that did not
 * happen. Clocks are replaced where the test needs them still or stepped
 * (`Date.now` is the wall clock, `performance.now` the monotonic one).
 */
import assert from "node:assert/strict";
import { mkdir, readdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { DenoFileSystem, Job, jobContext, JobQueue, JobState, NodeFileSystem } from "../mod.ts";
import { FaultyFileSystem } from "./_faulty_fs.ts";
import {
  deferred,
  type Fixture,
  nextEvent,
  outcomeOf,
  recordEvents,
  runToEnd,
  spawnFixture,
  withTempDir,
} from "./_helpers.ts";
import {
  cleanUpFixtures,
  delay,
  printed,
  readJobFile,
  withDeadline,
  writeCutShortJob,
} from "./_process_helpers.ts";

/** Ids as jobq makes them. */
const ID_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-[0-9a-z]{13}-[0-9a-f]{8}$/;

/** Runs `body` with `Date.now` replaced by `now`, restored afterwards. */
async function withWallClock<T>(now: () => number, body: () => Promise<T> | T): Promise<T> {
  const real = Date.now;
  Date.now = now;
  try {
    return await body();
  } finally {
    Date.now = real;
  }
}

describe("job ids", () => {
  test(
    "a job scheduled after the clock was set back by a day keeps an id in its pattern and runs",
    { timeout: 120_000 },
    async () => {
      const real = Date.now;
      // A job made while the clock was a day ahead: later ids may not sort before it.
      await withWallClock(() => real() + 86_400_000, () => Job.fromSpec({ methodName: "work" }));
      // Corrected, and still: the ids of the next day all share one creation
      // millisecond, more of them than the 4-digit sequence counts.
      const frozen = real();
      await withWallClock(() => frozen, async () => {
        let last = "";
        for (let n = 0; n < 36 ** 4; n++) last = Job.fromSpec({ methodName: "work" }).id;
        assert.match(last, ID_PATTERN);
        await withTempDir(async (directory) => {
          const queue = new JobQueue({ directory, fsync: false, pollInterval: 20 });
          try {
            queue.registerJobHandler("work", () => "done");
            const done = await runToEnd(queue, { methodName: "work" });
            assert.match(done.id, ID_PATTERN);
            assert.equal(done.state, JobState.COMPLETED);
          } finally {
            await queue.dispose();
          }
        });
      });
    },
  );
});

/** What a fake `Deno` namespace grants, for {@linkcode withFakeDeno}. */
interface FakeDeno {
  /** Whether `--allow-read` reaches `/proc/self/ns/pid`. */
  readonly namespaceReadable: boolean;
  /** Whether `--allow-run` is granted. */
  readonly run: boolean;
}

/**
 * Runs `body` (synchronously) with a `Deno` namespace that has a host name
 * shared by containers and the permissions `grants` says, under any runtime:
 * `DenoFileSystem` reads the namespace when a method runs.
 */
function withFakeDeno<T>(grants: FakeDeno, body: () => T): T {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, "Deno");
  const granted = (yes: boolean) => ({ state: yes ? "granted" : "denied" });
  Object.defineProperty(globalThis, "Deno", {
    configurable: true,
    value: {
      hostname: () => SHARED_HOST,
      readLinkSync: () => {
        if (!grants.namespaceReadable) throw new Error("Requires read access");
        return "pid:[4026532999]";
      },
      permissions: {
        querySync: (descriptor: { name: string }) =>
          granted(
            descriptor.name === "read"
              ? grants.namespaceReadable
              : descriptor.name === "run"
              ? grants.run
              : true,
          ),
      },
    },
  });
  try {
    return body();
  } finally {
    if (descriptor === undefined) delete (globalThis as { Deno?: unknown }).Deno;
    else Object.defineProperty(globalThis, "Deno", descriptor);
  }
}

/** The host name two containers share. */
const SHARED_HOST = "web-1";

/**
 * Runs `body` with a queue on `directory` that runs one "work" job until
 * `finish()`, and a worker in another process that polls the directory
 * every 20 ms with `workerOptions` (see `fixtures/worker.ts`), judging this
 * queue by its heartbeat alone. Checks afterwards that the job ran once, in
 * this queue, and that its outcome was recorded.
 */
async function whileAnotherProcessWatches(
  directory: string,
  queueOptions: { claimTimeout: number; fs?: FaultyFileSystem },
  workerOptions: Record<string, unknown>,
  body: (context: { worker: Fixture; started: Job; finish: () => Promise<void> }) => Promise<void>,
): Promise<void> {
  const queue = new JobQueue({ directory, fsync: false, pollInterval: 20, ...queueOptions });
  const release = deferred<void>();
  let runs = 0;
  queue.registerJobHandler("work", async () => {
    runs++;
    await release.promise;
    return "done";
  });
  const errors = recordEvents(queue, "error");
  let worker: Fixture | undefined;
  try {
    const started = nextEvent(queue, "started");
    const job = await queue.scheduleJob({ methodName: "work" });
    await queue.start();
    await started;
    worker = spawnFixture("worker", [
      directory,
      JSON.stringify({ trustPids: false, keepCompleted: true, ...workerOptions }),
    ]);
    await worker.waitForOutput("ready");
    const completed = nextEvent(queue, "completed", (done) => done.id === job.id);
    await body({
      worker,
      started: job,
      finish: async () => {
        assert.deepEqual(printed(worker!, "started"), [], "the worker started the job");
        release.resolve();
        const done = await completed;
        assert.equal(done.attempts, 1);
        assert.equal(done.result, "done");
      },
    });
    assert.deepEqual(printed(worker, "started"), []);
    assert.equal(runs, 1);
    assert.deepEqual(errors.map((error) => error.message), []);
  } finally {
    release.resolve();
    await queue.dispose();
    if (worker !== undefined) await cleanUpFixtures(worker);
  }
}

describe("a live engine in another process", () => {
  test(
    "keeps its running job when the other process's wall clock steps 60 s ahead",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        const options = { claimTimeout: 30_000 };
        await whileAnotherProcessWatches(directory, options, { clockStep: 60_000 }, async (
          { finish },
        ) => {
          // Some 50 polls: a worker that judged the heartbeat by its own wall
          // clock takes the job at its first.
          await delay(1000);
          await finish();
        });
      });
    },
  );

  test(
    "keeps its running job while its disk is full for longer than claimTimeout",
    { timeout: 60_000 },
    async () => {
      await withTempDir(async (directory) => {
        const fs = new FaultyFileSystem();
        // A lease of 2 s, a heartbeat every 667 ms.
        const options = { claimTimeout: 2000, fs };
        await whileAnotherProcessWatches(directory, options, {}, async ({ finish }) => {
          // Writes fail as on a full disk; links (claims) and renames still work.
          const full = fs.fail({ method: "writeTextFile", path: () => true, code: "ENOSPC" });
          const heartbeats = () =>
            fs.callsOf("writeTextFile").filter((call) =>
              call.failedWith === "ENOSPC" && call.path.includes(join(".jobq", "engines"))
            ).length;
          // Eight heartbeats that could not be written: 2.5 leases.
          await withDeadline(
            (async () => {
              while (heartbeats() < 8) await delay(50);
            })(),
            20_000,
            "eight failed heartbeats",
          );
          full.clear();
          await finish();
        });
      });
    },
  );
});

/** An engine id as jobq writes them. */
const OTHER_ENGINE = "0123456789abcdef";

/** A pid no process has: above any pid_max. */
const NO_SUCH_PID = 2 ** 22 + 1;

/**
 * Leaves in `directory` what an engine on another host leaves while it runs
 * a job: the job file as the run found it, its claim, and its engine file
 * with a lease of `claimTimeout`.
 */
async function plantForeignRun(directory: string, claimTimeout: number): Promise<Job> {
  const job = await writeCutShortJob(directory);
  await writeFile(
    join(directory, ".jobq", "claims", `${job.key}.json`),
    JSON.stringify({ engineId: OTHER_ENGINE }),
  );
  await writeEngineFile(directory, {
    engineId: OTHER_ENGINE,
    pid: NO_SUCH_PID,
    hostId: "another-host.invalid",
    claimTimeout,
  });
  return job;
}

/** Runs `body` with `performance.now` moved on by what `offset()` says, restored afterwards. */
async function withMonotonicOffset<T>(offset: () => number, body: () => Promise<T>): Promise<T> {
  // An own property in Node, inherited elsewhere.
  const own = Object.getOwnPropertyDescriptor(performance, "now");
  const real = performance.now.bind(performance);
  Object.defineProperty(performance, "now", {
    configurable: true,
    writable: true,
    value: () => real() + offset(),
  });
  try {
    return await body();
  } finally {
    if (own === undefined) delete (performance as { now?: unknown }).now;
    else Object.defineProperty(performance, "now", own);
  }
}

describe("liveness", () => {
  test(
    "an engine held up with the whole machine is not taken for dead when both run again",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        // A lease of 3 s: this queue's first polls take far less.
        const job = await plantForeignRun(directory, 3000);
        const fs = new WatchedFileSystem();
        let suspended = 0;
        await withMonotonicOffset(() => suspended, async () => {
          const real = Date.now;
          await withWallClock(() => real() + suspended, async () => {
            const queue = new JobQueue({ directory, fsync: false, pollInterval: 20, fs });
            const started: Job[] = [];
            queue.on("started", (job) => started.push(job));
            queue.registerJobHandler("work", () => {});
            try {
              await queue.start();
              await polls(fs, 3);
              // The machine sleeps for 60 s, and both processes with it.
              suspended = 60_000;
              // This queue runs again first, and looks before the other
              // engine has had the time to beat.
              await polls(fs, 1);
              await writeEngineFile(directory, {
                engineId: OTHER_ENGINE,
                pid: NO_SUCH_PID,
                hostId: "another-host.invalid",
                claimTimeout: 3000,
              });
              await polls(fs, 5);
              assert.deepEqual(started, []);
              assert.equal((await readJobFile(directory, job)).state, JobState.IN_PROGRESS);
            } finally {
              await queue.dispose();
            }
          });
        });
      });
    },
  );

  test(
    "an engine on this host whose pid lives is not taken for dead, however long its heartbeat is silent",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        const fs = new WatchedFileSystem();
        const hostId = fs.hostId();
        assert.ok(hostId !== undefined, "this test needs a host id");
        const job = await writeCutShortJob(directory);
        await writeFile(
          join(directory, ".jobq", "claims", `${job.key}.json`),
          JSON.stringify({ engineId: OTHER_ENGINE }),
        );
        // Its process lives (the one that started the tests) but does not
        // beat: its event loop is blocked.
        await writeEngineFile(
          directory,
          { engineId: OTHER_ENGINE, pid: process.ppid, hostId, claimTimeout: 100 },
          Date.now() - 60_000,
        );
        const queue = new JobQueue({ directory, fsync: false, pollInterval: 20, fs });
        const started: Job[] = [];
        queue.on("started", (job) => started.push(job));
        queue.registerJobHandler("work", () => {});
        try {
          await queue.start();
          const since = performance.now();
          while (performance.now() - since < 1000) await polls(fs, 1); // ten leases
          assert.deepEqual(started, []);
          assert.equal((await readJobFile(directory, job)).state, JobState.IN_PROGRESS);
        } finally {
          await queue.dispose();
        }
      });
    },
  );

  test(
    "a job whose runs were taken over from engines that lived still runs, and is not failed for deaths",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        const queue = new JobQueue({ directory, fsync: false, pollInterval: 20 });
        const firstRun = deferred<void>();
        const runs: number[] = [];
        queue.registerJobHandler("work", async () => {
          runs.push(jobContext().attempt);
          if (runs.length === 1) await firstRun.promise;
          return "done";
        });
        const errors = recordEvents(queue, "error");
        const failed = recordEvents(queue, "failed");
        try {
          const started = nextEvent(queue, "started");
          const job = await queue.scheduleJob({ methodName: "work" });
          await queue.start();
          await started;
          // This queue's event loop is blocked past its lease: an engine on
          // another host takes it for dead, recovers its claim (counting the
          // run and an interruption, as jobq does) and runs the job itself.
          const stolen = Job.fromJSON({ ...job.toJSON(), attempts: 1, interruptions: 1 });
          await writeFile(join(directory, `${job.key}.json.partial`), JSON.stringify(stolen));
          await rename(
            join(directory, `${job.key}.json.partial`),
            join(directory, `${job.key}.json`),
          );
          await plantClaim(directory, job);
          // 300 ms later that engine's event loop blocks too, for good.
          await writeEngineFile(directory, {
            engineId: OTHER_ENGINE,
            pid: NO_SUCH_PID,
            hostId: "another-host.invalid",
            claimTimeout: 300,
          });
          const outcome = outcomeOf(queue, job.id, 10_000);
          firstRun.resolve(); // this queue's handler ends: its outcome is not recorded
          const done = await outcome;
          assert.equal(done.error?.message, undefined);
          assert.equal(done.state, JobState.COMPLETED);
          assert.equal(done.result, "done");
          assert.equal(done.interruptions, 1);
          assert.deepEqual(runs, [1, 3]);
          assert.deepEqual(failed, []);
          assert.equal(errors.length, 1);
          assert.match(errors[0]!.message, /taken over by another engine/);
        } finally {
          firstRun.resolve();
          await queue.dispose();
        }
      });
    },
  );
});

/** Puts the claim of {@linkcode OTHER_ENGINE} on `job` in place, whoever held it. */
async function plantClaim(directory: string, job: Job): Promise<void> {
  const claim = join(directory, ".jobq", "claims", `${job.key}.json`);
  await writeFile(`${claim}.partial`, JSON.stringify({ engineId: OTHER_ENGINE }));
  await rename(`${claim}.partial`, claim);
}

describe("unique keys", () => {
  test(
    "a key taken by a batch that takes longer than claimTimeout to prepare stays its job's",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        const fs = new FaultyFileSystem();
        const slowWrite = deferred<void>();
        // The second job of the batch is written slowly: five leases.
        fs.disturb((call) => {
          if (call.method !== "writeTextFile" || !call.path.includes("slow__")) return undefined;
          slowWrite.resolve();
          return { kind: "slow", delay: 1000 };
        });
        const batcher = new JobQueue({ directory, fsync: false, claimTimeout: 200, fs });
        const other = new JobQueue({ directory, fsync: false });
        try {
          const batch = batcher.scheduleJobs([
            { methodName: "keyed", uniqueKey: "the key" },
            { methodName: "slow" },
          ]);
          await slowWrite.promise;
          const unique = join(directory, ".jobq", "unique");
          await withDeadline(
            (async () => {
              while ((await readdir(unique)).length === 0) await delay(10);
            })(),
            5_000,
            "the batch's taking of its key",
          );
          const second = await other.scheduleJob({ methodName: "keyed", uniqueKey: "the key" });
          const [first] = await batch;
          assert.equal(second.id, first!.id);
          const keyed = (await readdir(directory)).filter((name) => name.startsWith("keyed__"));
          assert.deepEqual(keyed, [`${first!.key}.json`]);
        } finally {
          await Promise.all([batcher.dispose(), other.dispose()]);
        }
      });
    },
  );
});

describe("containers sharing a host name", () => {
  test("DenoFileSystem gives no host id where the pid namespace or pids cannot be checked", () => {
    const hostId = (grants: FakeDeno) => withFakeDeno(grants, () => new DenoFileSystem().hostId());
    assert.equal(
      hostId({ namespaceReadable: true, run: true }),
      `${SHARED_HOST} pid:[4026532999]`,
    );
    assert.equal(hostId({ namespaceReadable: true, run: false }), undefined);
    // Elsewhere there are no pid namespaces: the host name tells.
    const expected = process.platform === "linux" ? undefined : SHARED_HOST;
    assert.equal(hostId({ namespaceReadable: false, run: true }), expected);
  });

  test(
    "a queue that cannot read its pid namespace leaves alone the live claim of a pid it does not have",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        // The engine of another container with the same host name, that
        // could not read its namespace either: its pid means nothing here.
        const job = await writeCutShortJob(directory);
        const engineId = "0123456789abcdef";
        await writeFile(
          join(directory, ".jobq", "claims", `${job.key}.json`),
          JSON.stringify({ engineId }),
        );
        await writeEngineFile(directory, {
          engineId,
          pid: NO_SUCH_PID,
          hostId: SHARED_HOST,
          claimTimeout: 60_000,
        });
        /** Reads the pid namespace as DenoFileSystem does under narrow permissions. */
        class NarrowPermissions extends WatchedFileSystem {
          override hostId(): string | undefined {
            return withFakeDeno(
              { namespaceReadable: false, run: true },
              () => new DenoFileSystem().hostId(),
            );
          }
        }
        const fs = new NarrowPermissions();
        const queue = new JobQueue({ directory, fsync: false, pollInterval: 20, fs });
        const started: Job[] = [];
        queue.on("started", (job) => started.push(job));
        queue.registerJobHandler("work", () => {});
        try {
          await queue.start();
          await polls(fs, 10);
          assert.deepEqual(started, []);
          assert.equal((await readJobFile(directory, job)).state, JobState.IN_PROGRESS);
        } finally {
          await queue.dispose();
        }
      });
    },
  );
});

/**
 * A `NodeFileSystem` that tells when its queue has been through a cycle of
 * polling: a recovery of claims (which reads the engines), then a listing of
 * the job directory and of the claims.
 */
class WatchedFileSystem extends NodeFileSystem {
  readonly #waiters = new Set<() => void>();
  #listedJobs = false;

  override async readDir(path: string): Promise<string[]> {
    const names = await super.readDir(path);
    if (!path.includes(".jobq")) this.#listedJobs = true;
    else if (this.#listedJobs && path.endsWith(join(".jobq", "claims"))) {
      this.#listedJobs = false;
      // Once the cycle's own continuations have run.
      setTimeout(() => {
        for (const waiter of this.#waiters) waiter();
      }, 0);
    }
    return names;
  }

  /** Resolves once `count` more cycles have ended. */
  cycles(count: number): Promise<void> {
    let left = count;
    return new Promise((resolve) => {
      const waiter = () => {
        if (--left > 0) return;
        this.#waiters.delete(waiter);
        resolve();
      };
      this.#waiters.add(waiter);
    });
  }
}

/** Resolves once the queue on `fs` has been through `count` more cycles of polling. */
function polls(fs: WatchedFileSystem, count: number): Promise<void> {
  return withDeadline(fs.cycles(count), 10_000, `${count} polls`);
}

/** An engine file as jobq writes them, written atomically. */
async function writeEngineFile(
  directory: string,
  record: { engineId: string; pid: number; hostId?: string; claimTimeout: number },
  heartbeatAt = Date.now(),
): Promise<void> {
  const engines = join(directory, ".jobq", "engines");
  await mkdir(engines, { recursive: true });
  const path = join(engines, `${record.engineId}.json`);
  await writeFile(`${path}.partial`, JSON.stringify({ ...record, startedAt: 0, heartbeatAt }));
  await rename(`${path}.partial`, path);
}
