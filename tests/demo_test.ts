/**
 * The demo (`scripts/demo.ts`), run the way a user runs it: a child process of
 * the test's runtime, in a fresh working directory, twice.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runtime, withTempDir } from "./_helpers.ts";

const extension = import.meta.url.endsWith(".js") ? ".js" : ".ts";
const demoPath = fileURLToPath(new URL(`../scripts/demo${extension}`, import.meta.url));

/** Each run takes about 4 s (the last password reset is due after 3 s); leave room for a busy machine. */
const RUN_TIMEOUT = 60_000;
const TEST_OPTIONS = { timeout: 3 * RUN_TIMEOUT };

/** A running demo and what it printed so far. */
interface DemoRun {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  /** Resolves once stdout contains `text`. */
  waitForOutput(text: string): Promise<void>;
  /** Resolves once the demo has exited; rejects after RUN_TIMEOUT. */
  readonly finished: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Starts the demo with `cwd` as its working directory, so that it uses `./.jobs/demo`. */
function startDemo(cwd: string): DemoRun {
  const args = runtime === "deno" ? ["run", "-A", demoPath] : [demoPath];
  const child = spawn(process.execPath, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    for (const waiter of waiters) waiter();
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk);
  const finished = new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`The demo did not exit within ${RUN_TIMEOUT} ms; it printed:\n${stdout}`));
      }, RUN_TIMEOUT);
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    },
  );
  return {
    child,
    stdout: () => stdout,
    finished,
    waitForOutput(text) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!stdout.includes(text)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        finished.then(() => {
          waiters.delete(check);
          reject(new Error(`The demo exited without printing '${text}':\n${stdout}`));
        }, reject);
        check();
      });
    },
  };
}

/** Runs the demo to its end and checks that it ended by itself, cleanly. */
async function runDemo(cwd: string): Promise<string> {
  const { code, stdout, stderr } = await startDemo(cwd).finished;
  assert.equal(stderr, "", `the demo wrote to stderr:\n${stderr}`);
  assert.equal(code, 0, `the demo exited with ${code}:\n${stdout}`);
  return stdout;
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

// The npm build compiles the library and the tests, not `scripts/`: under
// Node there is no compiled demo to run, so these tests are registered only
// where the demo exists as a file the runtime can run (always under Deno and
// Bun, which run the TypeScript source).
if (runtime !== "node" || existsSync(demoPath)) {
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
        const { code, stdout } = await interrupted.finished;
        assert.equal(code, 0, stdout);
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
}
