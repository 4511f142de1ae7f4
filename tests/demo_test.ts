/**
 * The demo (`scripts/demo.ts`), run the way a user runs it: a child process of
 * the test's runtime, in a fresh working directory, twice.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Fixture, scriptExtension, spawnScript, withTempDir } from "./_helpers.ts";

const demoPath = fileURLToPath(new URL(`../scripts/demo${scriptExtension}`, import.meta.url));

/** Each run takes about 4 s (the last password reset is due after 3 s); leave room for a busy machine. */
const RUN_TIMEOUT = 60_000;
const TEST_OPTIONS = { timeout: 3 * RUN_TIMEOUT };

/** Starts the demo with `cwd` as its working directory, so that it uses `./.jobs/demo`. */
function startDemo(cwd: string): Fixture {
  return spawnScript(demoPath, [], { cwd });
}

/**
 * Waits for a demo run to end, checks that it ended by itself, cleanly, and
 * returns what it printed. A run that hangs is killed after RUN_TIMEOUT.
 */
async function finish(demo: Fixture): Promise<string> {
  const timer = setTimeout(() => demo.child.kill("SIGKILL"), RUN_TIMEOUT);
  const { code } = await demo.exited;
  clearTimeout(timer);
  assert.equal(demo.stderr(), "", `the demo wrote to stderr:\n${demo.stderr()}`);
  assert.equal(code, 0, `the demo exited with ${code}:\n${demo.stdout()}`);
  return demo.stdout();
}

/** Runs the demo to its end. */
function runDemo(cwd: string): Promise<string> {
  return finish(startDemo(cwd));
}

/** The counts per state printed by the demo's summary. */
function summaryCounts(stdout: string): Record<string, number> {
  const summary = stdout.slice(stdout.lastIndexOf("Summary of"));
  const counts: Record<string, number> = {};
  for (const [, state, count] of summary.matchAll(/^ {2}([A-Z_]+) +(\d+)$/gm)) {
    counts[state!] = Number(count);
  }
  return counts;
}

const users = ["ada", "grace", "alan", "edsger", "barbara", "donald"];

test(
  "the demo sends its emails, fails the bad one, and a second run picks up the follow-up the first left",
  TEST_OPTIONS,
  async () => {
    await withTempDir(async (cwd) => {
      const first = await runDemo(cwd);
      assert.match(first, /Found no jobs from earlier runs/);
      for (const user of users) {
        assert.match(first, new RegExp(`completed +sendWelcomeEmail +${user}@example\\.com`));
      }
      for (const user of ["grace", "alan", "barbara"]) {
        assert.match(first, new RegExp(`completed +sendPasswordReset +${user}@example\\.com`));
      }
      assert.match(
        first,
        /failed +sendWelcomeEmail +nobody@invalid\.example .*550 no such mailbox/,
      );
      assert.deepEqual(summaryCounts(first), {
        NOT_STARTED: 1,
        IN_PROGRESS: 0,
        COMPLETED: 9,
        FAILED: 1,
      });
      assert.match(first, /Not run yet:\n +sendFollowUp +ada@example\.com +due in \d+ min/);
      const outbox = await readFile(join(cwd, ".jobs", "demo-outbox.log"), "utf8");
      assert.equal(outbox.trim().split("\n").length, 9, `the outbox holds:\n${outbox}`);

      const second = await runDemo(cwd);
      assert.match(
        second,
        /Found 11 jobs from earlier runs in the directory, 10 finished and 1 not run yet:\n +sendFollowUp +ada@example\.com +due in \d+ min/,
      );
      assert.deepEqual(summaryCounts(second), {
        NOT_STARTED: 2,
        IN_PROGRESS: 0,
        COMPLETED: 18,
        FAILED: 2,
      });
    });
  },
);

test(
  "the demo stops on Ctrl-C, and the next run finishes the jobs it left",
  TEST_OPTIONS,
  async () => {
    await withTempDir(async (cwd) => {
      const interrupted = startDemo(cwd);
      // The password resets are due 1-3 s after the first job starts, so at
      // least the last of them is still waiting when the signal arrives.
      await interrupted.waitForOutput("started");
      // process.kill() rather than child.kill(): Deno reports a child sent a
      // signal through child.kill() as killed by it, whatever its real exit.
      process.kill(interrupted.child.pid!, "SIGINT");
      const stdout = await finish(interrupted);
      assert.match(stdout, /interrupted: letting running jobs finish/);
      const left = summaryCounts(stdout).NOT_STARTED!;
      assert.ok(left >= 2, `the interrupted run left ${left} jobs:\n${stdout}`);
      assert.equal(summaryCounts(stdout).IN_PROGRESS, 0, stdout);

      const next = await runDemo(cwd);
      assert.match(next, new RegExp(`Found 11 jobs .* and ${left} not run yet:`));
      // Everything due has run by the end: only the two follow-ups wait.
      assert.deepEqual(summaryCounts(next), {
        NOT_STARTED: 2,
        IN_PROGRESS: 0,
        COMPLETED: 18,
        FAILED: 2,
      });
    });
  },
);
