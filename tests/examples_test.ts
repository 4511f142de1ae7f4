/**
 * The programs in `examples/`, run the way a user runs them: each in a child
 * process of the test's runtime (under Node, the compiled `npm/examples/`),
 * in a fresh working directory, where it keeps its jobs in `./.jobs/<name>`
 * unless given a directory. Each must end by itself, cleanly, having done its
 * work.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { type JobRecord, JobState } from "../mod.ts";
import { scriptExtension, spawnScript, withTempDir } from "./_helpers.ts";

/** Each example runs for a few seconds; leave room for a busy machine. */
const RUN_TIMEOUT = 60_000;
const TEST_OPTIONS = { timeout: 3 * RUN_TIMEOUT };

/**
 * Runs `examples/<name>` in the working directory `cwd` until it exits,
 * checks that it exited by itself with 0 and printed nothing on stderr, and
 * returns what it printed. A run that hangs is killed after RUN_TIMEOUT.
 */
async function runExample(name: string, cwd: string, args: string[] = []): Promise<string> {
  const path = fileURLToPath(new URL(`../examples/${name}${scriptExtension}`, import.meta.url));
  const example = spawnScript(path, args, { cwd });
  const timer = setTimeout(() => example.child.kill("SIGKILL"), RUN_TIMEOUT);
  const { code, signal } = await example.exited;
  clearTimeout(timer);
  assert.equal(example.stderr(), "", `${name} wrote to stderr:\n${example.stderr()}`);
  assert.equal(code, 0, `${name} exited with ${code ?? signal}:\n${example.stdout()}`);
  return example.stdout();
}

/** The lines of a text file the example wrote. */
async function linesOf(path: string): Promise<string[]> {
  return (await readFile(path, "utf8")).trimEnd().split("\n");
}

/** The records of the job files in `directory`, by file name. */
async function jobFiles(directory: string): Promise<Map<string, JobRecord>> {
  const names = (await readdir(directory)).filter((name) =>
    name.endsWith(".json") && !name.startsWith(".")
  );
  const records = new Map<string, JobRecord>();
  for (const name of names.sort()) {
    records.set(name, JSON.parse(await readFile(join(directory, name), "utf8")) as JobRecord);
  }
  return records;
}

test(
  "the email queue example sends the welcome emails and the password reset, and leaves no job",
  TEST_OPTIONS,
  async () => {
    await withTempDir(async (cwd) => {
      const directory = join(cwd, ".jobs", "email_queue");
      const stdout = await runExample("email_queue", cwd);
      const outbox = await linesOf(`${directory}-outbox.log`);
      assert.equal(outbox.length, 3, `the outbox holds:\n${outbox.join("\n")}`);
      const sent = outbox.map((line) => line.replace(/ {2}\S+$/, "")).sort();
      assert.equal(sent[0], `ada@example.com  "Welcome!"`);
      assert.match(
        sent[1]!,
        /^user@example\.com {2}"Reset your password: https:\/\/example\.com\/reset\/[0-9a-f-]{36}"$/,
      );
      assert.equal(sent[2], `user@example.com  "Welcome!"`);
      // Each email carries its job's id, for the email service to drop repeats.
      assert.equal(new Set(outbox.map((line) => line.split("  ").at(-1))).size, 3);
      assert.match(stdout, /users marked as emailed: (?:123, 124|124, 123);/);
      assert.deepEqual([...(await jobFiles(directory)).keys()], []);
    });
  },
);

test(
  "the data pipeline example processes every upload, retries the one that times out, and notifies each owner",
  TEST_OPTIONS,
  async () => {
    await withTempDir(async (cwd) => {
      // A job directory of one's own, given as the argument.
      const stdout = await runExample("data_pipeline", cwd, ["processing-jobs"]);
      const directory = join(cwd, "processing-jobs");
      assert.match(stdout, /retrying +report-q3\.csv in \d+ ms: storage timed out/);
      assert.match(stdout, /processing report-q3\.csv \(attempt 2\)/);
      const notifications = (await linesOf(`${directory}-notifications.log`)).sort();
      assert.deepEqual(
        notifications.map((line) => line.replace(/ \(.*\)$/, "")),
        [
          "u1  File invoice-42.pdf processed successfully",
          "u1  File photo-001.jpg processed successfully",
          "u2  File report-q3.csv processed successfully",
          "u3  File backup.tar processed successfully",
        ],
      );
      // The result of processUpload reaches notifyCompletion through its params.
      assert.match(notifications[2]!, /\(1300 rows, 53248 bytes\)$/);
      assert.deepEqual([...(await jobFiles(directory)).keys()], []);
    });
  },
);

/**
 * Whether a 2 AM, local time, falls between `from` and `to` (epoch ms): the
 * nightly cleanup of the maintenance example is then due, and may have run.
 */
function crosses2AM(from: number, to: number): boolean {
  const twoAM = new Date(from);
  twoAM.setHours(2, 0, 0, 0);
  if (twoAM.getTime() < from) twoAM.setDate(twoAM.getDate() + 1);
  return twoAM.getTime() <= to;
}

test(
  "the scheduled maintenance example runs the statistics a few times and leaves both schedules waiting, once each",
  TEST_OPTIONS,
  async () => {
    await withTempDir(async (cwd) => {
      const directory = join(cwd, ".jobs", "scheduled_maintenance");
      const logPath = `${directory}-maintenance.log`;
      const started = Date.now();
      const first = await runExample("scheduled_maintenance", cwd);
      const firstLog = await linesOf(logPath);
      const waiting = await jobFiles(directory);
      // A second run carries on with the schedules it finds instead of adding new ones.
      const second = await runExample("scheduled_maintenance", cwd);
      const secondLog = await linesOf(logPath);
      const left = await jobFiles(directory);
      if (crosses2AM(started, Date.now())) {
        // Rare (seconds a day), and nothing to check: the outcome depends on the clock.
        console.log("2 AM came during the test: the nightly cleanup was due; not checked");
        return;
      }

      assert.match(first, /scheduled +cleanupOldFiles +cron "0 2 \* \* \*"/);
      assert.match(first, /scheduled +updateStatistics +every 1000 ms/);
      const statistics = (log: string[]) =>
        log.filter((line) => line.endsWith("updated daily statistics")).length;
      assert.equal(statistics(firstLog), 3, firstLog.join("\n"));
      const jobs = [...waiting.values()].sort((a, b) => a.methodName.localeCompare(b.methodName));
      assert.deepEqual(
        jobs.map(({ methodName, state, repeat }) => ({ methodName, state, repeat })),
        [
          {
            methodName: "cleanupOldFiles",
            state: JobState.NOT_STARTED,
            repeat: { cron: "0 2 * * *" },
          },
          { methodName: "updateStatistics", state: JobState.NOT_STARTED, repeat: { every: 1000 } },
        ],
      );
      // The cleanup waits for the next 2 AM, local time.
      const cleanup = new Date(jobs[0]!.executionDate);
      assert.ok(cleanup.getTime() > started, cleanup.toISOString());
      assert.ok(cleanup.getTime() <= started + 25 * 3600_000, cleanup.toISOString());
      assert.deepEqual([cleanup.getHours(), cleanup.getMinutes(), cleanup.getSeconds()], [2, 0, 0]);

      assert.match(second, /scheduled +cleanupOldFiles/);
      assert.match(second, /scheduled +updateStatistics/);
      assert.equal(statistics(secondLog), 6, secondLog.join("\n"));
      assert.ok(
        !secondLog.some((line) => line.endsWith("deleted old files")),
        secondLog.join("\n"),
      );
      assert.deepEqual(
        [...left.values()].map((job) => job.methodName).sort(),
        ["cleanupOldFiles", "updateStatistics"],
      );
      // The cleanup is the same file, still waiting.
      const cleanupFile = [...waiting.keys()].find((name) => name.startsWith("cleanupOldFiles"));
      assert.ok(left.has(cleanupFile!), [...left.keys()].join("\n"));
    });
  },
);
