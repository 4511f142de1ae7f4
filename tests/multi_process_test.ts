import assert from "node:assert/strict";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { Job, jobContext, JobQueue, JobState, NodeFileSystem } from "../mod.ts";
import { deferred, nextEvent, spawnFixture, withTempDir } from "./_helpers.ts";
import {
  assertNoOverlap,
  cleanUpFixtures,
  delay,
  internalFiles,
  killFixture,
  printed,
  readJobFile,
  readRuns,
  scheduleWork,
  stopWorker,
  untilPrinted,
  withDeadline,
  writeCutShortJob,
} from "./_process_helpers.ts";

/** A lease far longer than these tests: recoveries that happen are not lease expiries. */
const CLAIM_TIMEOUT = 60_000;

describe("several engines on one directory", () => {
  test(
    "two engines in one process run each of 200 jobs exactly once",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        const queues = [0, 1].map(() =>
          new JobQueue({ directory, fsync: false, pollInterval: 20, maxConcurrency: 2 })
        );
        const runs = new Map<string, number>();
        const running = new Set<string>();
        const overlaps: string[] = [];
        const completed = queues.map(() => new Set<string>());
        const errors: unknown[] = [];
        const allCompleted = new Promise<void>((resolve) => {
          queues.forEach((queue, i) => {
            queue.registerJobHandler("work", async () => {
              const { id } = jobContext().job;
              if (running.has(id)) overlaps.push(id);
              running.add(id);
              runs.set(id, (runs.get(id) ?? 0) + 1);
              await delay(Math.random() * 3);
              running.delete(id);
            });
            queue.on("error", (error) => errors.push(error));
            queue.on("completed", (job) => {
              completed[i]!.add(job.id);
              if (completed[0]!.size + completed[1]!.size >= 200) resolve();
            });
          });
        });
        try {
          await Promise.all(queues.map((queue) => queue.start()));
          const ids: string[] = [];
          for (let n = 0; n < 200; n++) {
            const job = await queues[n % 2]!.scheduleJob({ methodName: "work", params: { n } });
            ids.push(job.id);
          }
          await withDeadline(allCompleted, 25_000, "200 completions");
          await Promise.all(queues.map((queue) => queue.dispose()));

          assert.deepEqual(errors, []);
          assert.deepEqual(overlaps, []);
          assert.deepEqual([...runs.values()].filter((count) => count !== 1), []);
          assert.deepEqual(new Set([...completed[0]!, ...completed[1]!]), new Set(ids));
          assert.equal(completed[0]!.size + completed[1]!.size, 200);
        } finally {
          await Promise.all(queues.map((queue) => queue.dispose()));
        }
      });
    },
  );

  test(
    "two processes run each of 300 jobs exactly once, never twice at once",
    { timeout: 60_000 },
    async () => {
      await withTempDir(async (root) => {
        const directory = join(root, "jobs");
        const log = join(root, "runs.log");
        // Completed files are kept to prove below that every job ran, once.
        const options = JSON.stringify({
          maxConcurrency: 4,
          pollInterval: 20,
          keepCompleted: true,
          log,
        });
        const workers = [0, 1].map(() => spawnFixture("worker", [directory, options]));
        let jobs: Job[] = [];
        const completedIds = () =>
          new Set(
            workers.flatMap((worker) => printed(worker, "completed").map((words) => words[1])),
          );
        try {
          await Promise.all(workers.map((worker) => worker.waitForOutput("ready")));
          // Written while both already poll, so that both find jobs as they come.
          jobs = await scheduleWork(directory, 300);
          await untilPrinted(workers, () => completedIds().size === 300, "300 completions", 45_000);
          await Promise.all(workers.map((worker) => stopWorker(worker)));
        } finally {
          await cleanUpFixtures(...workers);
        }

        for (const worker of workers) assert.deepEqual(printed(worker, "error"), []);
        for (const job of jobs) {
          const now = await readJobFile(directory, job);
          assert.equal(now.state, JobState.COMPLETED, `job ${job.id} is ${now.state}`);
          assert.equal(now.attempts, 1);
        }
        const runs = await readRuns(log);
        assert.deepEqual([...runs.keys()].sort(), jobs.map((job) => job.id).sort());
        for (const [id, jobRuns] of runs) {
          assert.equal(jobRuns.length, 1, `job ${id} ran ${jobRuns.length} times`);
          assert.notEqual(jobRuns[0]!.end, undefined, `job ${id} never ended`);
        }
        assertNoOverlap(runs);
        // 300 jobs of up to 10 ms each take both processes' slots: each finds
        // work while the jobs are being written.
        const pids = new Set([...runs.values()].map((jobRuns) => jobRuns[0]!.pid));
        assert.deepEqual(pids, new Set(workers.map((worker) => worker.child.pid)));
        assert.deepEqual(await internalFiles(directory, "claims"), []);
      });
    },
  );

  test(
    "a live engine in another process takes over the claim of a SIGKILLed one without a restart",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        const queue = new JobQueue({
          directory,
          fsync: false,
          pollInterval: 20,
          claimTimeout: CLAIM_TIMEOUT,
        });
        const attempts: number[] = [];
        queue.registerJobHandler("work", () => {
          attempts.push(jobContext().attempt);
        });
        const worker = spawnFixture("worker", [directory, JSON.stringify({ handler: "hang" })]);
        try {
          await worker.waitForOutput("ready");
          // Scheduled before this queue starts: the worker claims it first.
          const job = await queue.scheduleJob({ methodName: "work" });
          await worker.waitForOutput(`started ${job.id} 1`);
          const completed = nextEvent(queue, "completed", (done) => done.id === job.id, 20_000);
          await queue.start();
          // Some 25 polls: the claim of a live process holds all along.
          await delay(500);
          assert.deepEqual(attempts, []);

          await killFixture(worker);
          // Far below CLAIM_TIMEOUT: the dead pid on this host gives the claim back.
          const done = await completed;
          assert.equal(done.attempts, 2);
          assert.deepEqual(attempts, [2]);
        } finally {
          await queue.dispose();
          await cleanUpFixtures(worker);
        }
        assert.deepEqual(await internalFiles(directory, "claims"), []);
        assert.deepEqual(await internalFiles(directory, "engines"), []);
      });
    },
  );
});

describe("an engine whose claim was taken over while it ran", () => {
  test("records no outcome, leaves the new claim alone, and reports it", async () => {
    await withTempDir(async (directory) => {
      const queue = new JobQueue({ directory, fsync: false });
      let finish = () => {};
      const started = new Promise<Job>((resolve) => {
        queue.registerJobHandler("slow", () => {
          resolve(jobContext().job);
          return new Promise<void>((settle) => finish = settle);
        });
      });
      const reported = nextEvent(queue, "error");
      try {
        await queue.scheduleJob({ methodName: "slow" });
        await queue.start();
        const job = await started;
        // What another engine leaves after recovering the claim of an engine it
        // took for dead and starting the job itself.
        const claim = join(directory, ".jobq", "claims", `${job.key}.json`);
        const takeover = JSON.stringify({ engineId: "0123456789abcdef" });
        await writeFile(claim, takeover);
        finish();
        const error = await reported;
        assert.match(error.message, /taken over by another engine/);
        assert.equal(error.info.job?.id, job.id);
        assert.equal(await readFile(claim, "utf8"), takeover);
        // No outcome written: the file is as it was before the run.
        assert.equal((await readJobFile(directory, job)).state, JobState.NOT_STARTED);
      } finally {
        await queue.dispose();
      }
    });
  });
});

describe("a claim of a silent engine on another host", () => {
  test(
    "is recovered once its heartbeat has been seen unchanged for its claimTimeout",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        // However old its date: only this queue's own clock tells silence.
        const job = await plantForeignClaim(directory, Date.now() - 10 * CLAIM_TIMEOUT, 300);
        const queue = new JobQueue({
          directory,
          fsync: false,
          pollInterval: 20,
          claimTimeout: CLAIM_TIMEOUT,
        });
        queue.registerJobHandler("work", () => {});
        try {
          const completed = nextEvent(queue, "completed", (done) => done.id === job.id);
          await queue.start();
          assert.equal((await completed).attempts, 2);
        } finally {
          await queue.dispose();
        }
        assert.deepEqual(await internalFiles(directory, "claims"), []);
      });
    },
  );

  test(
    "is left alone while its heartbeat has not been silent for its claimTimeout, even with a pid that is dead here",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        const job = await plantForeignClaim(directory, Date.now());
        const queue = new JobQueue({
          directory,
          fsync: false,
          pollInterval: 20,
          claimTimeout: CLAIM_TIMEOUT,
        });
        const started: Job[] = [];
        queue.on("started", (job) => started.push(job));
        queue.registerJobHandler("work", () => {});
        try {
          await queue.start();
          // Some 75 polls, far below CLAIM_TIMEOUT: a recovery would have
          // happened by now if a fresh heartbeat did not hold the claim.
          await delay(1500);
          assert.deepEqual(started, []);
          assert.equal((await readJobFile(directory, job)).state, JobState.IN_PROGRESS);

          // The engine beats once more, now with a lease of 300 ms, and falls silent.
          const completed = nextEvent(queue, "completed", (done) => done.id === job.id);
          await writeEngineFile(directory, Date.now(), 300);
          assert.equal((await completed).attempts, 2);
        } finally {
          await queue.dispose();
        }
      });
    },
  );
});

test(
  "a claim made by an engine that registered while another engine was recovering claims is left alone",
  { timeout: 30_000 },
  async () => {
    await withTempDir(async (directory) => {
      const newcomer = "fedcba9876543210";
      const newcomerClaim = JSON.stringify({ engineId: newcomer });
      let claim = "";
      let armed = false;
      let claimsListed = false;
      const raced = deferred<void>();
      /**
       * Once armed, right after the queue lists the engines following a
       * listing of the claims that held the job's: the claim's engine (dead:
       * it has no engine file) has let go of the job, and an engine that
       * registers just then claims it.
       */
      class Race extends NodeFileSystem {
        override async readDir(path: string): Promise<string[]> {
          const names = await super.readDir(path);
          if (basename(path) === "engines" && claimsListed) {
            armed = false;
            await writeEngineFile(directory, Date.now(), CLAIM_TIMEOUT, newcomer);
            await writeFile(`${claim}.partial`, newcomerClaim);
            await rename(`${claim}.partial`, claim);
            raced.resolve();
          }
          // Other listings (the job directory's, by polls running beside
          // recovery) come between these two at any time.
          if (basename(path) === "claims") {
            claimsListed = armed && names.includes(basename(claim));
          }
          return names;
        }
      }
      const queue = new JobQueue({ directory, fsync: false, pollInterval: 20, fs: new Race() });
      const started: Job[] = [];
      queue.on("started", (job) => started.push(job));
      queue.registerJobHandler("work", () => {});
      try {
        await queue.start();
        armed = true;
        // The job's claim first, so that the queue never finds the job unclaimed.
        const job = Job.fromSpec({ methodName: "work" });
        claim = join(directory, ".jobq", "claims", `${job.key}.json`);
        await writeFile(claim, JSON.stringify({ engineId: FOREIGN_ENGINE }));
        await writeFile(join(directory, `${job.key}.json`), JSON.stringify(job));
        await raced.promise;
        await delay(200); // some ten polls
        assert.equal(await readFile(claim, "utf8"), newcomerClaim);
        assert.deepEqual(started, []);
      } finally {
        await queue.dispose();
      }
    });
  },
);

test(
  "a claim that changed hands after recovery read it is not taken, nor put back once its owner dropped it",
  { timeout: 30_000 },
  async () => {
    await withTempDir(async (directory) => {
      const other = "fedcba9876543210";
      let claim = "";
      let armed = false;
      let claimsListed = false;
      const raced = deferred<void>();
      let dropped = false;
      /** The other engine drops its claim, once: it finds nothing if the claim was moved away. */
      const dropOthersClaim = async () => {
        if (dropped) return;
        dropped = true;
        await rm(claim, { force: true });
      };
      /**
       * Once armed, right after the queue lists the engines following a
       * listing of the claims that held the job's: the queue's own old
       * claim has gone, and another, live engine has claimed the job. If the
       * queue moves that claim away, the other engine drops it just then.
       */
      class Race extends NodeFileSystem {
        override async readDir(path: string): Promise<string[]> {
          const names = await super.readDir(path);
          if (basename(path) === "engines" && claimsListed) {
            armed = false;
            await writeEngineFile(directory, Date.now(), CLAIM_TIMEOUT, other);
            await writeFile(`${claim}.partial`, JSON.stringify({ engineId: other }));
            await rename(`${claim}.partial`, claim);
            raced.resolve();
          }
          claimsListed = armed && basename(path) === "claims" &&
            names.includes(basename(claim));
          return names;
        }

        override async rename(from: string, to: string): Promise<void> {
          await super.rename(from, to);
          if (from === claim) await dropOthersClaim();
        }
      }
      const queue = new JobQueue({ directory, fsync: false, pollInterval: 20, fs: new Race() });
      try {
        await queue.start();
        const ownEngine = (await internalFiles(directory, "engines"))
          .find((name) => name.endsWith(".json"))!.slice(0, -".json".length);
        const job = Job.fromSpec({ methodName: "work", waitTime: 60_000 });
        claim = join(directory, ".jobq", "claims", `${job.key}.json`);
        // A claim of the queue's own on a job it does not hold: stale.
        await writeFile(claim, JSON.stringify({ engineId: ownEngine }));
        armed = true;
        await raced.promise;
        await delay(100); // some polls
        await dropOthersClaim();
        await delay(100);
        assert.deepEqual(await internalFiles(directory, "claims"), []);
      } finally {
        await queue.dispose();
      }
    });
  },
);

test(
  "a claim is judged by its own engine's claimTimeout, not by the reader's",
  { timeout: 30_000 },
  async () => {
    await withTempDir(async (directory) => {
      // Two seconds of silence: past the reader's lease, well within the owner's.
      const silentSince = Date.now() - 2000;
      const job = await plantForeignClaim(directory, silentSince, CLAIM_TIMEOUT);
      const queue = new JobQueue({ directory, fsync: false, pollInterval: 20, claimTimeout: 500 });
      const started: Job[] = [];
      queue.on("started", (job) => started.push(job));
      queue.registerJobHandler("work", () => {});
      try {
        await queue.start();
        await delay(1000); // some 50 polls
        assert.deepEqual(started, []);
        const completed = nextEvent(queue, "completed", (done) => done.id === job.id);
        await writeEngineFile(directory, silentSince, 1000); // the owner's own lease has run out
        assert.equal((await completed).attempts, 2);
      } finally {
        await queue.dispose();
      }
    });
  },
);

/** The id of the engine that {@linkcode plantForeignClaim} makes up. */
const FOREIGN_ENGINE = "0123456789abcdef";

/**
 * Leaves in `directory` what an engine on another host leaves while it runs
 * a job: the job file IN_PROGRESS, its claim, and the engine's heartbeat file.
 */
async function plantForeignClaim(
  directory: string,
  heartbeatAt: number,
  claimTimeout = CLAIM_TIMEOUT,
): Promise<Job> {
  const job = await writeCutShortJob(directory);
  await writeFile(
    join(directory, ".jobq", "claims", `${job.key}.json`),
    JSON.stringify({ engineId: FOREIGN_ENGINE, claimedAt: Date.now() }),
  );
  await writeEngineFile(directory, heartbeatAt, claimTimeout);
  return job;
}

/**
 * Writes the heartbeat file of the foreign engine, atomically so that a
 * poll never reads half of it. Its pid is dead on this host, which must not
 * matter: pids of other hosts say nothing here.
 */
async function writeEngineFile(
  directory: string,
  heartbeatAt: number,
  claimTimeout = CLAIM_TIMEOUT,
  engineId = FOREIGN_ENGINE,
): Promise<void> {
  const engines = join(directory, ".jobq", "engines");
  await mkdir(engines, { recursive: true });
  const record = {
    engineId,
    pid: deadPid(),
    hostId: "another-host.invalid",
    claimTimeout,
    startedAt: heartbeatAt,
    heartbeatAt,
  };
  const path = join(engines, `${engineId}.json`);
  await writeFile(`${path}.partial`, JSON.stringify(record));
  await rename(`${path}.partial`, path);
}

/** A pid that no process on this host has. */
function deadPid(): number {
  for (let pid = 2 ** 22 - 1; pid > 1; pid--) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as { code?: unknown }).code === "ESRCH") return pid;
    }
  }
  throw new Error("No free pid found");
}
