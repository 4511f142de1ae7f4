/**
 * Several worker processes on one directory, killed with SIGKILL while they
 * run jobs: the checks of `_soak.ts` (which `scripts/soak.ts` runs at length)
 * on short runs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { JobQueue } from "../mod.ts";
import { nextEvent, spawnFixture, withTempDir } from "./_helpers.ts";
import { cleanUpFixtures, killFixture } from "./_process_helpers.ts";
import {
  formatFigures,
  runSoak,
  type SoakOptions,
  type SoakResult,
  type SoakWorkerOptions,
} from "./_soak.ts";

/**
 * A lease far longer than the run: jobs of the killed process that run again
 * within it were recovered because its pid is dead, not because its lease
 * ran out.
 */
const LONG_CLAIM_TIMEOUT = 60_000;

/** Runs a soak in a temporary directory and fails on any violation, showing the figures. */
async function soak(options: Omit<SoakOptions, "root">): Promise<SoakResult> {
  return await withTempDir(async (root) => {
    const result = await runSoak({ root, ...options });
    assert.deepEqual(result.violations, [], formatFigures(result.figures));
    return result;
  });
}

describe("worker processes sharing a directory", () => {
  test(
    "4 processes run 2,000 jobs, one SIGKILLed in the middle: every job completes, none runs twice at once, and the dead process's jobs run again long before claimTimeout",
    { timeout: 90_000 },
    async () => {
      const { figures } = await soak({
        jobs: 2000,
        processes: 4,
        // Half way through, the next job to start hangs and its worker is killed.
        killHanging: true,
        kills: 1,
        restart: false,
        maxConcurrency: 4,
        pollInterval: 50,
        claimTimeout: LONG_CLAIM_TIMEOUT,
        maxAttempts: 1,
        backoff: 0,
        failRate: 0,
        timeoutRate: 0,
        workMs: 5,
        // Past this, a job waited for the lease: the pid check did not recover it.
        deadlineSeconds: LONG_CLAIM_TIMEOUT / 2 / 1000,
      });
      const shown = formatFigures(figures);
      assert.equal(figures.kills, 1, shown);
      assert.equal(figures.completed, 2000, shown);
      assert.equal(figures.failures, 0, shown);
      // The job the killed worker hung on ran again elsewhere.
      assert.ok(figures.reruns >= 1, shown);
      assert.ok(figures.maxRecoveryMs < LONG_CLAIM_TIMEOUT / 6, shown);
      // A claim is a link to a token written whole: a kill leaves none empty.
      assert.equal(figures.emptyClaims, 0, shown);
    },
  );

  test(
    "a short soak with random failures, timeouts and kills accounts for every job exactly once",
    { timeout: 90_000 },
    async () => {
      const { figures } = await soak({
        jobs: 1500,
        processes: 3,
        kills: 2,
        restart: true,
        maxConcurrency: 4,
        pollInterval: 50,
        // Short, so that a claim a kill leaves empty holds its job for a few
        // seconds only; long enough that no live worker is taken for dead.
        claimTimeout: 5000,
        maxAttempts: 3,
        backoff: 10,
        timeout: 100,
        failRate: 0.1,
        timeoutRate: 0.03,
        workMs: 2,
        deadlineSeconds: 60,
      });
      const shown = formatFigures(figures);
      assert.equal(figures.kills, 2, shown);
      assert.equal(figures.completed + figures.failures, 1500, shown);
      assert.ok(figures.retries > 0 && figures.timeouts > 0, shown);
    },
  );

  test(
    "a job whose process was killed right after claiming it runs again long before claimTimeout",
    { timeout: 60_000 },
    async () => {
      await withTempDir(async (root) => {
        const directory = join(root, "jobs");
        const queue = new JobQueue({
          directory,
          fsync: false,
          pollInterval: 50,
          claimTimeout: LONG_CLAIM_TIMEOUT,
        });
        queue.registerJobHandler("soak", () => {});
        const options: SoakWorkerOptions = {
          log: join(root, "runs.log"),
          name: "w0",
          maxConcurrency: 1,
          pollInterval: 50,
          claimTimeout: LONG_CLAIM_TIMEOUT,
          maxAttempts: 1,
          backoff: 0,
          failRate: 0,
          timeoutRate: 0,
          workMs: 0,
          stallOnClaim: true,
        };
        const worker = spawnFixture("soak_worker", [directory, JSON.stringify(options)]);
        try {
          const job = await queue.scheduleJob({ methodName: "soak" });
          await worker.waitForOutput("stalled");
          await killFixture(worker);
          // The killed process's pid is dead: its claim, whatever it holds,
          // must not keep the job waiting for the lease.
          const completed = nextEvent(queue, "completed", (done) => done.id === job.id, 10_000);
          await queue.start();
          await completed;
        } finally {
          await queue.dispose();
          await cleanUpFixtures(worker);
        }
      });
    },
  );
});
