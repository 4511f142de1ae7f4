import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Job, jobContext, JobQueue, JobState } from "../mod.ts";
import { collectEvents, nextEvent, spawnFixture, withTempDir } from "./_helpers.ts";
import {
  cleanUpFixtures,
  delay,
  internalFiles,
  killFixture,
  printed,
  readJobFile,
  readRuns,
  scheduleWork,
  stopWorker,
  withDeadline,
  writeCutShortJob,
} from "./_process_helpers.ts";

/**
 * Far longer than any test here may take: a job that runs again within a
 * test was recovered because its dead engine was recognised, not because its
 * lease ran out.
 */
const CLAIM_TIMEOUT = 60_000;

describe("a process killed with SIGKILL", () => {
  test(
    "leaves its running job to run again at the next start, at once, and loses no job",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (root) => {
        const directory = join(root, "jobs");
        const log = join(root, "runs.log");
        const [cut, ...waiting] = await scheduleWork(directory, 3);
        // Completed files are kept to prove below that every job ran, and how often.
        const options = { claimTimeout: CLAIM_TIMEOUT, keepCompleted: true, log };
        const first = spawnFixture("worker", [
          directory,
          JSON.stringify({ ...options, handler: "hang" }),
        ]);
        let second = first;
        try {
          await first.waitForOutput(`started ${cut!.id} 1`);
          await killFixture(first);

          // What the crash left: the job's file as it was before the run,
          // under a claim nobody will settle, the others untouched.
          assert.equal((await readJobFile(directory, cut!)).state, JobState.NOT_STARTED);
          assert.deepEqual(await internalFiles(directory, "claims"), [`${cut!.key}.json`]);
          for (const job of waiting) {
            assert.equal((await readJobFile(directory, job)).state, JobState.NOT_STARTED);
          }

          second = spawnFixture("worker", [directory, JSON.stringify(options)]);
          // Well below CLAIM_TIMEOUT: the dead pid on this host is proof enough.
          for (const job of [cut!, ...waiting]) {
            await second.waitForOutput(`completed ${job.id} `, 20_000);
          }
          await stopWorker(second);
        } finally {
          await cleanUpFixtures(first, second);
        }

        assert.deepEqual(printed(second, "error"), []);
        const cutNow = await readJobFile(directory, cut!);
        assert.equal(cutNow.state, JobState.COMPLETED);
        assert.equal(cutNow.attempts, 2);
        assert.equal(cutNow.interruptions, 1, "the crash is counted");
        assert.deepEqual(cutNow.params, cut!.params);
        for (const job of waiting) {
          const now = await readJobFile(directory, job);
          assert.equal(now.state, JobState.COMPLETED);
          assert.equal(now.attempts, 1);
        }
        assert.deepEqual(await internalFiles(directory, "claims"), []);
        // The dead engine's file went with its claim, the live one's with dispose().
        assert.deepEqual(await internalFiles(directory, "engines"), []);

        const runs = await readRuns(log);
        assert.deepEqual(runs.get(cut!.id)?.map((run) => [run.pid, run.end !== undefined]), [
          [first.child.pid, false],
          [second.child.pid, true],
        ]);
        for (const job of waiting) {
          assert.deepEqual(runs.get(job.id)?.map((run) => run.pid), [second.child.pid]);
        }
      });
    },
  );

  test(
    "while writing job files leaves only whole jobs, and its temporary files are removed on load",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        // Writers in turn, each killed while it keeps writing: three at a
        // random point of their write loop after a few jobs (some kills land
        // inside a write), the last one surely inside a write, its disk
        // stalled halfway through a job file.
        const scheduledIds: string[] = [];
        for (const stall of [false, false, false, true]) {
          const writer = spawnFixture(
            "schedule_big_jobs",
            stall ? [directory, "stall"] : [directory],
          );
          try {
            if (stall) {
              await writer.waitForOutput("half-written ");
            } else {
              await writer.waitForOutput("scheduled 3 ");
              await delay(Math.random() * 8);
            }
            await killFixture(writer);
          } finally {
            await cleanUpFixtures(writer);
          }
          assert.doesNotMatch(writer.stdout(), /^done$/m);
          scheduledIds.push(...printed(writer, "scheduled").map((words) => words[2]!));
          if (stall) {
            // The half-written file is a temporary one: not a job, nor valid JSON.
            const [[, halfWritten]] = printed(writer, "half-written") as [[string, string]];
            assert.match(halfWritten, /^\.big__.*\.json\..*\.tmp$/);
            const text = await readFile(join(directory, halfWritten), "utf8");
            assert.throws(() => JSON.parse(text), SyntaxError);
          }
        }
        assert.ok(scheduledIds.length >= 16);

        const names = await readdir(directory);
        const jobFiles = names.filter((name) => name.endsWith(".json") && !name.startsWith("."));
        for (const name of jobFiles) {
          const job = Job.fromJSON(JSON.parse(await readFile(join(directory, name), "utf8")));
          assert.equal(`${job.key}.json`, name);
          assert.equal((job.params as { payload: string }).payload.length, 1_000_000);
        }
        for (const id of scheduledIds) {
          assert.ok(jobFiles.includes(`big__${id}.json`), `scheduled job ${id} is missing`);
        }

        const queue = new JobQueue({ directory, fsync: false });
        const errors: unknown[] = [];
        queue.on("error", (error) => errors.push(error));
        try {
          await queue.engine.load();
          const jobs = await queue.getAllJobs();
          assert.deepEqual(errors, []);
          assert.deepEqual(jobs.map((job) => `${job.key}.json`), jobFiles.sort());
          for (const folder of ["", ".jobq/claims", ".jobq/engines"]) {
            const left = (await readdir(join(directory, folder))).filter((name) =>
              name.endsWith(".tmp")
            );
            assert.deepEqual(left, [], `temporary files left in ${folder || "the directory"}`);
          }
          assert.deepEqual(await internalFiles(directory, "corrupt"), []);
        } finally {
          await queue.dispose();
        }
      });
    },
  );
  test(
    "an unreadable claim (a damaged file) is recovered after claimTimeout",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        const job = await writeCutShortJob(directory);
        await writeFile(join(directory, ".jobq", "claims", `${job.key}.json`), "");
        // An empty claim names no engine to check: only its age can free it.
        const claimTimeout = 300;
        const queue = new JobQueue({ directory, fsync: false, pollInterval: 20, claimTimeout });
        queue.registerJobHandler("work", () => {});
        try {
          const completed = nextEvent(queue, "completed", (done) => done.id === job.id);
          const startedAt = Date.now();
          await queue.start();
          assert.equal((await completed).attempts, 2);
          assert.ok(Date.now() - startedAt >= claimTimeout, "recovered before claimTimeout");
        } finally {
          await queue.dispose();
        }
        assert.deepEqual(await internalFiles(directory, "claims"), []);
      });
    },
  );
});

describe("a job whose process died during more of its runs than it has attempts", () => {
  test("is failed without running again, with an error that says why", async () => {
    await withTempDir(async (directory) => {
      const created = Job.fromSpec({ methodName: "work", maxAttempts: 2 });
      // What recovery leaves after three runs, each cut short by a crash.
      const crashed = Job.fromJSON({ ...created.toJSON(), attempts: 3, interruptions: 3 });
      await writeFile(join(directory, `${crashed.key}.json`), JSON.stringify(crashed));
      // Kept once completed: the retry may complete before settled() is asked.
      const queue = new JobQueue({ directory, fsync: false, keepCompleted: true });
      let ran = 0;
      queue.registerJobHandler("work", () => {
        ran++;
      });
      try {
        const failed = nextEvent(queue, "failed");
        await queue.start();
        const job = await failed;
        assert.equal(ran, 0);
        assert.equal(job.state, JobState.FAILED);
        assert.match(job.error?.message ?? "", /process died during 3 of its runs/);
        assert.equal((await readJobFile(directory, crashed)).state, JobState.FAILED);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("runs again after retryJob(), with its count of crashed runs reset", async () => {
    await withTempDir(async (directory) => {
      const created = Job.fromSpec({ methodName: "work", maxAttempts: 2 });
      const crashed = Job.fromJSON({ ...created.toJSON(), attempts: 3, interruptions: 3 });
      await writeFile(join(directory, `${crashed.key}.json`), JSON.stringify(crashed));
      // Kept once completed: the retry may complete before settled() is asked.
      const queue = new JobQueue({ directory, fsync: false, keepCompleted: true });
      let ran = 0;
      queue.registerJobHandler("work", () => {
        ran++;
      });
      try {
        const failed = nextEvent(queue, "failed");
        await queue.start();
        await failed;
        const retried = await queue.retryJob(crashed.id);
        assert.equal(retried.interruptions, 0);
        const job = await queue.settled(retried.id);
        assert.equal(ran, 1);
        assert.equal(job?.state, JobState.COMPLETED);
        assert.equal(job.attempts, 1);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("with as many crashes as attempts, still runs", async () => {
    await withTempDir(async (directory) => {
      const created = Job.fromSpec({ methodName: "work" });
      const crashed = Job.fromJSON({ ...created.toJSON(), attempts: 1, interruptions: 1 });
      await writeFile(join(directory, `${crashed.key}.json`), JSON.stringify(crashed));
      const queue = new JobQueue({ directory, fsync: false });
      queue.registerJobHandler("work", () => {});
      try {
        const completed = nextEvent(queue, "completed");
        await queue.start();
        assert.equal((await completed).attempts, 2);
      } finally {
        await queue.dispose();
      }
    });
  });
});

describe("dispose()", () => {
  test(
    "lets a process exit by itself with jobs still deferred far in the future",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        // The completed job's file is kept to prove below that the job ran.
        const child = spawnFixture("dispose_exit", [
          directory,
          JSON.stringify({ keepCompleted: true }),
        ]);
        try {
          await child.waitForOutput("disposed");
          // Exiting takes a runtime milliseconds; the fixture's poll and
          // heartbeat timers run every 60 s and more, and its deferred jobs
          // are due in a day and in 50 days, so a timer left behind would
          // hold the process far past this bound.
          const exit = await withDeadline(child.exited, 10_000, "the process's exit");
          assert.deepEqual(exit, { code: 0, signal: null });
        } finally {
          await cleanUpFixtures(child);
        }
        assert.deepEqual(await internalFiles(directory, "claims"), []);
        assert.deepEqual(await internalFiles(directory, "engines"), []);
        const queue = new JobQueue({ directory, fsync: false });
        try {
          const states = (await queue.getAllJobs()).map((job) => [job.methodName, job.state]);
          assert.deepEqual(states.sort(), [
            ["later", JobState.NOT_STARTED],
            ["later", JobState.NOT_STARTED],
            ["work", JobState.COMPLETED],
          ]);
        } finally {
          await queue.dispose();
        }
      });
    },
  );

  test(
    "leaves no claim of its engine and removes its engine file, whatever its jobs' outcome",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        // Another engine on the directory, to tell this engine's files from others'.
        const other = new JobQueue({ directory, fsync: false });
        // Completed files are kept to check that each outcome was written.
        const queue = new JobQueue({
          directory,
          fsync: false,
          maxConcurrency: 3,
          keepCompleted: true,
        });
        try {
          await other.engine.load();
          // Its engine file (a claim token comes with its first claim).
          const otherEngineFiles = await internalFiles(directory, "engines");
          assert.equal(otherEngineFiles.length, 1);

          let openGate = () => {};
          const gate = new Promise<void>((resolve) => openGate = resolve);
          queue.registerJobHandler("succeed", () => gate);
          queue.registerJobHandler("fail", async () => {
            await gate;
            throw new Error("boom");
          });
          // Ignores everything but its signal, so that dispose() has to abort it.
          queue.registerJobHandler("stall", () =>
            new Promise((_, reject) => {
              const { signal } = jobContext();
              signal.addEventListener("abort", () => reject(signal.reason));
            }));
          const started = collectEvents(queue, "started", 3);
          const jobs = {
            succeed: await queue.scheduleJob({ methodName: "succeed" }),
            fail: await queue.scheduleJob({ methodName: "fail" }),
            stall: await queue.scheduleJob({ methodName: "stall" }),
          };
          await queue.start();
          await started;
          assert.equal((await internalFiles(directory, "claims")).length, 3);
          // The other's engine file; this one's, and its claim token.
          assert.equal((await internalFiles(directory, "engines")).length, 3);

          const completed = nextEvent(queue, "completed");
          const failed = nextEvent(queue, "failed");
          queue.on("error", () => {}); // the failed job's error is expected
          openGate();
          await Promise.all([completed, failed]);
          await queue.dispose({ timeout: 50 });

          assert.deepEqual(await internalFiles(directory, "claims"), []);
          assert.deepEqual(await internalFiles(directory, "engines"), otherEngineFiles);
          assert.equal((await readJobFile(directory, jobs.succeed)).state, JobState.COMPLETED);
          assert.equal((await readJobFile(directory, jobs.fail)).state, JobState.FAILED);
          const stalled = await readJobFile(directory, jobs.stall);
          assert.equal(stalled.state, JobState.NOT_STARTED);
          assert.equal(stalled.attempts, 0);
        } finally {
          await queue.dispose();
          await other.dispose();
        }
        assert.deepEqual(await internalFiles(directory, "engines"), []);
      });
    },
  );
});
