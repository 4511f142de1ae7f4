/**
 * The `jobq` command: in-process through `main()` for what it prints and
 * does, and as a real process of the test's runtime (under Node, the npm
 * build's `cli.js` and its `jobq` command) for how it starts, exits and
 * colours.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type Job, type JobRecord, JobState } from "../mod.ts";
import { main } from "../src/cli/cli.ts";
import {
  deferred,
  nextEvent,
  outcomeOf,
  runtime,
  runToEnd,
  spawnScript,
  withQueue,
  withQueueOn,
  withTempDir,
} from "./_helpers.ts";

/** The CLI module and the npm package's `jobq` command, as this runtime runs them. */
const cliPath = fileURLToPath(
  runtime === "node"
    ? import.meta.resolve("@x/jobq/cli")
    : new URL("../src/cli/cli.ts", import.meta.url).href,
);
const binPath = fileURLToPath(
  new URL(runtime === "node" ? "./_cli_bin.js" : "./_cli_bin.ts", pathToFileURL(cliPath)),
);

/** What one run of the command printed, and its exit status. */
interface Outcome {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs the command in this process. */
async function jobq(args: string[], options: { color?: boolean } = {}): Promise<Outcome> {
  let stdout = "";
  let stderr = "";
  const status = await main(args, {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    color: options.color ?? false,
  });
  return { status, stdout, stderr };
}

/** Runs the command and checks that it succeeded silently on stderr; returns its stdout. */
async function ok(args: string[], options: { color?: boolean } = {}): Promise<string> {
  const { status, stdout, stderr } = await jobq(args, options);
  assert.equal(stderr, "", `jobq ${args.join(" ")} wrote to stderr`);
  assert.equal(status, 0, `jobq ${args.join(" ")} exited with ${status}`);
  return stdout;
}

/** Runs `script` (the CLI or the `jobq` command) as a process of this runtime to its end. */
async function runScript(script: string, args: string[]): Promise<Outcome> {
  const child = spawnScript(script, args);
  const { code } = await child.exited;
  return { status: code ?? -1, stdout: child.stdout(), stderr: child.stderr() };
}

/** The records of the job files in `directory`, in id order. */
async function jobFiles(directory: string): Promise<JobRecord[]> {
  const names = (await readdir(directory)).filter((name) =>
    name.endsWith(".json") && !name.startsWith(".")
  );
  const records = await Promise.all(
    names.map(async (name) => JSON.parse(await readFile(join(directory, name), "utf8"))),
  );
  return (records as JobRecord[]).sort((a, b) => a.id < b.id ? -1 : 1);
}

async function recordOf(directory: string, id: string): Promise<JobRecord | undefined> {
  return (await jobFiles(directory)).find((record) => record.id === id);
}

/** An error message of two lines, longer than the list shows. */
const LONG_ERROR = `550 no such mailbox: nobody@invalid.example\n${
  "the server said more. ".repeat(5)
}`;

/** The jobs {@linkcode populate} leaves in a directory. */
interface Jobs {
  /** sendEmail, due in an hour, scheduled first. */
  waiting: Job;
  /** resize, completed (kept). */
  completed: Job;
  /** sendEmail, failed with LONG_ERROR. */
  failed: Job;
  /** charge, failed with a TypeError. */
  failedCharge: Job;
  /** report, due in 1970, never run: no queue was started after it. */
  overdue: Job;
}

/** Fills `directory` with one job in each situation the commands tell apart. */
async function populate(directory: string): Promise<Jobs> {
  const jobs: Partial<Jobs> = {};
  await withQueueOn(directory, { keepCompleted: true }, async (queue) => {
    queue.registerJobHandler("resize", () => {});
    queue.registerJobHandler("sendEmail", () => {
      throw new Error(LONG_ERROR);
    });
    queue.registerJobHandler("charge", () => {
      throw new TypeError("card declined");
    });
    jobs.waiting = await queue.scheduleJob({
      methodName: "sendEmail",
      params: { to: "later@example.com" },
      waitTime: 3_600_000,
    });
    jobs.completed = await runToEnd(queue, { methodName: "resize", params: [640, 480] });
    jobs.failed = await runToEnd(queue, {
      methodName: "sendEmail",
      params: { to: "nobody@invalid.example" },
      maxAttempts: 1,
    });
    jobs.failedCharge = await runToEnd(queue, { methodName: "charge", maxAttempts: 1 });
  });
  await withQueueOn(directory, {}, async (queue) => {
    jobs.overdue = await queue.scheduleJob({ methodName: "report", executionDate: 1000 });
  });
  assert.equal(jobs.failed!.state, JobState.FAILED);
  return jobs as Jobs;
}

/** Runs `body` with a populated job directory. */
function withJobs(body: (directory: string, jobs: Jobs) => Promise<void>): Promise<void> {
  return withTempDir(async (directory) => await body(directory, await populate(directory)));
}

/**
 * The rows of a table, split where the header's columns start; checks that
 * each cell stays in its column, two spaces clear of the next.
 */
function tableRows(text: string): Record<string, string>[] {
  const [header, ...lines] = text.trimEnd().split("\n");
  const names = [...header!.matchAll(/\S+/g)];
  return lines.map((line) =>
    Object.fromEntries(names.map((name, index) => {
      const start = name.index;
      if (index > 0 && line.length > start) assert.equal(line.slice(start - 2, start), "  ", line);
      return [name[0], line.slice(start, names[index + 1]?.index ?? line.length).trim()];
    }))
  );
}

describe("list", () => {
  test("list prints the jobs as a table aligned under its headers, with the error shortened to one line", async () => {
    await withJobs(async (directory, jobs) => {
      const text = await ok([directory, "list"]);
      assert.match(text.split("\n")[0]!, /^ID +METHOD +STATE +DUE +ATTEMPTS +ERROR$/);
      const rows = tableRows(text);
      const ids = [jobs.overdue, jobs.waiting, jobs.completed, jobs.failed, jobs.failedCharge]
        .map((job) => job.id).sort();
      assert.deepEqual(rows.map((row) => row.ID), ids);
      const failed = rows.find((row) => row.ID === jobs.failed.id)!;
      assert.equal(failed.METHOD, "sendEmail");
      assert.equal(failed.STATE, "FAILED");
      assert.equal(failed.DUE, new Date(jobs.failed.executionDate).toISOString());
      assert.equal(failed.ATTEMPTS, "1");
      assert.ok(failed.ERROR!.startsWith("550 no such mailbox: nobody@invalid.example the server"));
      assert.ok(failed.ERROR!.endsWith("…") && [...failed.ERROR!].length <= 60, failed.ERROR);
      const overdue = rows.find((row) => row.ID === jobs.overdue.id)!;
      assert.deepEqual(overdue, {
        ID: jobs.overdue.id,
        METHOD: "report",
        STATE: "NOT_STARTED",
        DUE: "1970-01-01T00:00:01.000Z",
        ATTEMPTS: "0",
        ERROR: "",
      });
    });
  });

  test("list --json prints the job records exactly as the files hold them", async () => {
    await withJobs(async (directory) => {
      const records = JSON.parse(await ok([directory, "list", "--json"]));
      assert.deepEqual(records, await jobFiles(directory));
      assert.equal(records.length, 5);
    });
  });

  test("list --state and --method keep only the jobs that match both", async () => {
    await withJobs(async (directory, jobs) => {
      const ids = async (...args: string[]) =>
        (JSON.parse(await ok([directory, "list", "--json", ...args])) as JobRecord[])
          .map((record) => record.id);
      assert.deepEqual(await ids("--state", "failed"), [jobs.failed.id, jobs.failedCharge.id]);
      assert.deepEqual(await ids("--state=FAILED", "--method", "charge"), [jobs.failedCharge.id]);
      assert.deepEqual(await ids("--method", "sendEmail", "--state", "NOT_STARTED"), [
        jobs.waiting.id,
      ]);
      assert.equal(
        await ok([directory, "list", "--method", "nothing"]),
        `No jobs in ${directory} match.\n`,
      );
    });
  });

  test("list says so when the directory has no jobs", async () => {
    await withTempDir(async (directory) => {
      await withQueueOn(directory, {}, (queue) => queue.getAllJobs().then(() => {}));
      assert.equal(await ok([directory, "list"]), `No jobs in ${directory}.\n`);
      assert.equal(await ok([directory, "list", "--json"]), "[]\n");
    });
  });
});

describe("show", () => {
  test("show prints a job's fields, its params and its whole error", async () => {
    await withJobs(async (directory, jobs) => {
      const text = await ok([directory, "show", jobs.failed.id]);
      const field = (label: string) => text.match(new RegExp(`^${label} +(.*)$`, "m"))?.[1];
      assert.equal(field("id"), jobs.failed.id);
      assert.equal(field("method"), "sendEmail");
      assert.equal(field("state"), "FAILED");
      assert.equal(field("file"), join(directory, `${jobs.failed.key}.json`));
      assert.equal(field("due"), new Date(jobs.failed.executionDate).toISOString());
      assert.equal(field("attempts"), "1 of 1");
      assert.match(text, /^params +\{\n +"to": "nobody@invalid\.example"\n +\}$/m);
      // The whole message, its line break made a space, then the stack's frames.
      assert.ok(field("error")!.startsWith("Error: 550 no such mailbox:"));
      assert.ok(field("error")!.endsWith("the server said more."), field("error"));
      assert.match(text, /^error .*\n {10,}at /m);
    });
  });

  test("show --json prints the record as its file holds it, found by id or by file name", async () => {
    await withJobs(async (directory, jobs) => {
      const expected = await recordOf(directory, jobs.completed.id);
      for (const reference of [jobs.completed.id, `${jobs.completed.key}.json`]) {
        const record = JSON.parse(await ok([directory, "show", reference, "--json"]));
        assert.deepEqual(record, expected);
      }
    });
  });

  test("show exits with 1 and says how to list the ids when there is no such job", async () => {
    await withJobs(async (directory) => {
      const { status, stdout, stderr } = await jobq([directory, "show", "no-such-job"]);
      assert.equal(status, 1);
      assert.equal(stdout, "");
      assert.equal(
        stderr,
        `jobq: No job no-such-job in ${directory}: 'jobq ${directory} list' shows the jobs\n`,
      );
    });
  });
});

describe("stats", () => {
  test("stats --json counts the jobs per state and per method, and gives the oldest waiting job and the next one due", async () => {
    await withJobs(async (directory, jobs) => {
      const stats = JSON.parse(await ok([directory, "stats", "--json"]));
      const records = await jobFiles(directory);
      const record = (job: Job) => records.find((record) => record.id === job.id);
      assert.deepEqual(stats, {
        directory,
        total: 5,
        byState: { NOT_STARTED: 2, IN_PROGRESS: 0, COMPLETED: 1, FAILED: 2 },
        byMethod: {
          charge: { NOT_STARTED: 0, IN_PROGRESS: 0, COMPLETED: 0, FAILED: 1, total: 1 },
          report: { NOT_STARTED: 1, IN_PROGRESS: 0, COMPLETED: 0, FAILED: 0, total: 1 },
          resize: { NOT_STARTED: 0, IN_PROGRESS: 0, COMPLETED: 1, FAILED: 0, total: 1 },
          sendEmail: { NOT_STARTED: 1, IN_PROGRESS: 0, COMPLETED: 0, FAILED: 1, total: 2 },
        },
        oldestWaiting: record(jobs.waiting),
        nextDue: record(jobs.overdue),
      });
    });
  });

  test("stats prints the counts as tables, then the oldest waiting job and the next one due", async () => {
    await withJobs(async (directory, jobs) => {
      const text = await ok([directory, "stats"]);
      const [title, states, methods, summary] = text.split("\n\n");
      assert.equal(title, `5 jobs in ${directory}`);
      assert.deepEqual(tableRows(states!), [
        { STATE: "NOT_STARTED", JOBS: "2" },
        { STATE: "IN_PROGRESS", JOBS: "0" },
        { STATE: "COMPLETED", JOBS: "1" },
        { STATE: "FAILED", JOBS: "2" },
      ]);
      assert.deepEqual(tableRows(methods!).map((row) => [row.METHOD, row.FAILED, row.TOTAL]), [
        ["charge", "1", "1"],
        ["report", "0", "1"],
        ["resize", "0", "1"],
        ["sendEmail", "1", "2"],
      ]);
      assert.match(summary!, new RegExp(`^Oldest waiting: +sendEmail ${jobs.waiting.id}, `, "m"));
      assert.match(
        summary!,
        new RegExp(
          `^Next due: +1970-01-01T00:00:01\\.000Z \\(overdue\\): report ${jobs.overdue.id}$`,
          "m",
        ),
      );
    });
  });
});

describe("retry", () => {
  test("retry <id> turns a failed job into one waiting to run, with a new set of attempts", async () => {
    await withJobs(async (directory, jobs) => {
      const revived = JSON.parse(await ok([directory, "retry", jobs.failed.id, "--json"]));
      assert.equal(revived.state, JobState.NOT_STARTED);
      assert.equal(revived.attempts, 0);
      assert.equal(revived.methodName, "sendEmail");
      assert.deepEqual(revived.params, { to: "nobody@invalid.example" });
      assert.deepEqual(await recordOf(directory, revived.id), revived);
      const failed = (await jobFiles(directory)).filter((job) => job.state === JobState.FAILED);
      assert.deepEqual(failed.map((job) => job.id), [jobs.failedCharge.id]);
    });
  });

  test("retry --failed <method> retries that method's failed jobs only", async () => {
    await withJobs(async (directory, jobs) => {
      assert.equal(
        await ok([directory, "retry", "--failed", "sendEmail"]),
        `Retrying 1 failed job of sendEmail: it runs as soon as a queue on ${directory} sees it.\n`,
      );
      const states = (await jobFiles(directory)).map((job) => [job.methodName, job.state]);
      assert.deepEqual(states.filter(([, state]) => state === JobState.FAILED), [
        ["charge", JobState.FAILED],
      ]);
      assert.deepEqual(JSON.parse(await ok([directory, "retry", "--failed", "--json"])), {
        retried: 1,
      });
      assert.equal(await recordOf(directory, jobs.failedCharge.id), undefined);
      assert.equal(await ok([directory, "retry", "--failed"]), "No failed jobs to retry.\n");
    });
  });

  test("retry refuses a job that has not failed, and one that does not exist, with exit status 1", async () => {
    await withJobs(async (directory, jobs) => {
      const notFailed = await jobq([directory, "retry", jobs.waiting.id]);
      assert.equal(notFailed.status, 1);
      assert.equal(
        notFailed.stderr,
        `jobq: Cannot retry job ${jobs.waiting.id}: it is NOT_STARTED, and only failed jobs can be retried\n`,
      );
      const missing = await jobq([directory, "retry", "no-such-job"]);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /^jobq: No job no-such-job in .*\n$/);
      assert.deepEqual(
        (await jobFiles(directory)).map((job) => job.state).sort(),
        ["COMPLETED", "FAILED", "FAILED", "NOT_STARTED", "NOT_STARTED"],
      );
    });
  });
});

describe("remove", () => {
  test("remove <id> removes that job only", async () => {
    await withJobs(async (directory, jobs) => {
      assert.equal(
        await ok([directory, "remove", jobs.waiting.id]),
        `Removed job ${jobs.waiting.id} of sendEmail.\n`,
      );
      const ids = (await jobFiles(directory)).map((job) => job.id);
      assert.equal(ids.length, 4);
      assert.ok(!ids.includes(jobs.waiting.id));
      const again = await jobq([directory, "remove", jobs.waiting.id]);
      assert.equal(again.status, 1);
      assert.match(again.stderr, new RegExp(`^jobq: No job ${jobs.waiting.id} in `));
    });
  });

  test("remove <id> refuses a job that a queue is running, with exit status 1, and list shows it IN_PROGRESS", async () => {
    await withQueue({}, async (queue, directory) => {
      const release = deferred<void>();
      queue.registerJobHandler("slow", () => release.promise);
      const started = nextEvent(queue, "started");
      const job = await queue.scheduleJob({ methodName: "slow" });
      const outcome = outcomeOf(queue, job.id);
      await queue.start();
      await started;
      const rows = tableRows(await ok([directory, "list"]));
      assert.deepEqual(rows.map((row) => [row.ID, row.STATE]), [[job.id, "IN_PROGRESS"]]);
      const { status, stderr } = await jobq([directory, "remove", job.id]);
      assert.equal(status, 1);
      assert.equal(
        stderr,
        `jobq: Cannot remove job ${job.id}: it is running (or has just been removed); ` +
          "try again once it has finished\n",
      );
      release.resolve();
      assert.equal((await outcome).state, JobState.COMPLETED);
    });
  });

  test("remove --method removes every job of the method, whatever its state", async () => {
    await withJobs(async (directory) => {
      assert.deepEqual(
        JSON.parse(await ok([directory, "remove", "--method", "sendEmail", "--json"])),
        { removed: 2 },
      );
      const methods = (await jobFiles(directory)).map((job) => job.methodName).sort();
      assert.deepEqual(methods, ["charge", "report", "resize"]);
    });
  });

  test("remove --failed removes the failed jobs: of one method with --method, and only old enough ones with --older-than", async () => {
    await withJobs(async (directory, jobs) => {
      // Both failed moments ago, so nothing has failed more than a day ago.
      assert.equal(
        await ok([directory, "remove", "--failed", "--older-than", "1d"]),
        "Removed 0 failed jobs that failed more than 1d ago.\n",
      );
      assert.equal(
        await ok([directory, "remove", "--failed", "--method", "charge"]),
        "Removed 1 failed job of charge.\n",
      );
      assert.equal(await recordOf(directory, jobs.failedCharge.id), undefined);
      assert.deepEqual(
        JSON.parse(await ok([directory, "remove", "--failed", "--older-than=0", "--json"])),
        { removed: 1 },
      );
      assert.deepEqual(
        (await jobFiles(directory)).map((job) => job.state).sort(),
        ["COMPLETED", "NOT_STARTED", "NOT_STARTED"],
      );
    });
  });
});

describe("output", () => {
  test("state names are coloured when colour is on, and nothing is when it is off", async () => {
    await withJobs(async (directory) => {
      const colored = await ok([directory, "list"], { color: true });
      assert.ok(colored.includes("\x1b[31mFAILED\x1b[39m"), colored);
      assert.ok(colored.includes("\x1b[32mCOMPLETED\x1b[39m"), colored);
      const stats = await ok([directory, "stats"], { color: true });
      assert.ok(stats.includes("\x1b[36mNOT_STARTED\x1b[39m"), stats);
      // Colour codes take no room: the columns after the state stay aligned.
      const plainRows = tableRows(await ok([directory, "list"]));
      // deno-lint-ignore no-control-regex -- ESC starts the colour codes to strip
      assert.deepEqual(tableRows(colored.replace(/\x1b\[\d+m/g, "")), plainRows);
      for (const command of ["list", "stats", "show"]) {
        const args = command === "show" ? ["show", (await jobFiles(directory))[0]!.id] : [command];
        assert.ok(!(await ok([directory, ...args])).includes("\x1b"), command);
      }
    });
  });

  test("escape sequences in an error message reach the terminal as plain text", async () => {
    await withTempDir(async (directory) => {
      await withQueueOn(directory, {}, async (queue) => {
        queue.registerJobHandler("paint", () => {
          throw new Error("red \x1b[31malert\x1b[0m\x07 done");
        });
        await runToEnd(queue, { methodName: "paint", maxAttempts: 1 });
      });
      for (const command of ["list", "show"]) {
        const args = command === "show"
          ? [directory, "show", (await jobFiles(directory))[0]!.id]
          : [directory, "list"];
        const text = await ok(args);
        // deno-lint-ignore no-control-regex -- control characters other than \n must not get through
        assert.doesNotMatch(text, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, command);
        assert.match(text, /red alert +done/, command);
      }
    });
  });

  test("C1 control characters (CSI, OSC) in params, unique keys and results reach the terminal as plain text", async () => {
    await withTempDir(async (directory) => {
      const c1 = "\u009b31mred\u009d0;title\u0007\u0085\u007f";
      let job!: Job;
      await withQueueOn(directory, { keepCompleted: true }, async (queue) => {
        queue.registerJobHandler("echo", () => ({ said: c1 }));
        job = await runToEnd(queue, { methodName: "echo", params: { text: c1 }, uniqueKey: c1 });
      });
      assert.equal(job.state, JobState.COMPLETED);
      const text = await ok([directory, "show", job.id]);
      // deno-lint-ignore no-control-regex -- control characters other than \n must not get through
      assert.doesNotMatch(text, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
      assert.match(text, /^params .*red.*title/ms);
      assert.match(text, /^uniqueKey .*red.*title/m);
      assert.match(text, /^result .*red.*title/ms);
      // --json escapes them, so that the record is the same once parsed.
      for (const args of [["show", job.id, "--json"], ["list", "--json"]]) {
        const json = await ok([directory, ...args]);
        // deno-lint-ignore no-control-regex -- control characters other than \n must not get through
        assert.doesNotMatch(json, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, args[0]);
        const record = [JSON.parse(json)].flat()[0] as JobRecord;
        assert.equal(record.uniqueKey, c1);
        assert.deepEqual(record.params, { text: c1 });
        assert.deepEqual(record.result, { said: c1 });
      }
    });
  });

  test("--help prints the commands and options on stdout, with exit status 0", async () => {
    for (const args of [["--help"], ["-h"], ["./jobs", "list", "--help"]]) {
      const { status, stdout, stderr } = await jobq(args);
      assert.equal(status, 0);
      assert.equal(stderr, "");
      assert.match(stdout, /^Usage: jobq <directory\|postgres-url> /m);
      for (const word of ["list", "show", "stats", "retry", "remove", "--older-than", "--json"]) {
        assert.ok(stdout.includes(word), word);
      }
    }
  });
});

describe("errors", () => {
  test("usage errors exit with 2 and one line on stderr, before the directory is looked at", async () => {
    await withTempDir(async (parent) => {
      const directory = join(parent, "jobs");
      const cases: [string[], string][] = [
        [[], "missing the queue (a directory or a URL) and the command"],
        [[directory], "missing the command"],
        [[directory, "frobnicate"], 'unknown command "frobnicate"'],
        [["list", directory], `the queue comes first, as in jobq ${directory} list`],
        [[directory, "list", "--verbose"], 'unknown option "--verbose"'],
        [[directory, "list", "--state"], "--state needs a value"],
        [[directory, "list", "--state", "DONE"], "--state takes NOT_STARTED, IN_PROGRESS"],
        [[directory, "stats", "--failed"], "stats takes no --failed"],
        [[directory, "stats", "extra"], 'stats takes no operand, got "extra"'],
        [[directory, "show"], "show needs a job id"],
        [[directory, "retry"], "retry needs a job id, or --failed [method]"],
        [[directory, "remove"], "remove needs a job id, --method <name> or --failed"],
        [[directory, "remove", "some-id", "--failed"], "not both"],
        [[directory, "remove", "--older-than", "7d"], "--older-than applies to remove --failed"],
        [[directory, "remove", "--failed", "--older-than", "soon"], "--older-than takes"],
      ];
      for (const [args, message] of cases) {
        const { status, stdout, stderr } = await jobq(args);
        assert.equal(status, 2, `jobq ${args.join(" ")}`);
        assert.equal(stdout, "");
        assert.ok(stderr.startsWith("jobq: ") && stderr.includes(message), stderr);
        assert.match(stderr, /^[^\n]*; run 'jobq --help' for usage\n$/);
      }
      assert.deepEqual(await readdir(parent), []);
    });
  });

  test("a directory that does not exist is refused with exit status 1, and not created", async () => {
    await withTempDir(async (parent) => {
      const directory = join(parent, "jobs");
      const { status, stdout, stderr } = await jobq([directory, "list"]);
      assert.equal(status, 1);
      assert.equal(stdout, "");
      assert.equal(
        stderr,
        `jobq: ${directory} does not exist: pass the directory given to new JobQueue({ directory })\n`,
      );
      assert.deepEqual(await readdir(parent), []);
    });
  });

  test("a directory no queue has used (no .jobq/) is refused with exit status 1, and left as it was", async () => {
    await withTempDir(async (directory) => {
      await writeFile(join(directory, "notes__x.json"), "{}");
      for (const args of [["list"], ["stats"], ["remove", "--failed"], ["retry", "--failed"]]) {
        const { status, stderr } = await jobq([directory, ...args]);
        assert.equal(status, 1);
        assert.equal(
          stderr,
          `jobq: ${directory} is not a jobq directory (no .jobq/): ` +
            "pass the directory given to new JobQueue({ directory })\n",
        );
      }
      assert.deepEqual(await readdir(directory), ["notes__x.json"]);
    });
  });

  test("a file given as the directory is refused with exit status 1", async () => {
    await withTempDir(async (parent) => {
      const file = join(parent, "jobs");
      await writeFile(file, "");
      const { status, stderr } = await jobq([file, "stats"]);
      assert.equal(status, 1);
      assert.match(stderr, /^jobq: .* is not a directory: pass the directory given to /);
    });
  });
});

describe("the directory afterwards", () => {
  test("no command runs a job, and each lets go of the directory: no engine is left registered", async () => {
    await withJobs(async (directory, jobs) => {
      const commands = [
        ["list"],
        ["show", jobs.overdue.id],
        ["stats"],
        ["retry", "--failed", "charge"],
        ["remove", "--method", "resize"],
      ];
      for (const command of commands) {
        await ok([directory, ...command]);
        assert.deepEqual(await readdir(join(directory, ".jobq", "engines")), [], command[0]);
      }
      // The overdue job and the retried one are due, and no handler is
      // registered: had a command started processing, they would have failed.
      const due = (await jobFiles(directory)).filter((job) =>
        job.methodName === "report" || job.methodName === "charge"
      );
      assert.deepEqual(
        due.map((job) => [job.methodName, job.state, job.attempts]),
        [["report", "NOT_STARTED", 0], ["charge", "NOT_STARTED", 0]],
      );
    });
  });
});

describe("as a process", () => {
  test("jobq prints JSON and exits with 0, and colours nothing when stdout is not a terminal, NO_COLOR or not", async () => {
    await withJobs(async (directory) => {
      const noColor = process.env.NO_COLOR;
      delete process.env.NO_COLOR;
      try {
        const json = await runScript(cliPath, [directory, "list", "--json"]);
        assert.equal(json.stderr, "");
        assert.equal(json.status, 0);
        assert.deepEqual(JSON.parse(json.stdout), await jobFiles(directory));
        const table = await runScript(cliPath, [directory, "list"]);
        assert.equal(table.status, 0);
        assert.match(table.stdout, /^ID +METHOD +STATE/);
        assert.match(table.stdout, / FAILED /);
        assert.ok(!table.stdout.includes("\x1b"), table.stdout);
      } finally {
        if (noColor !== undefined) process.env.NO_COLOR = noColor;
      }
    });
  });

  test("jobq exits with 1 for a missing directory and 2 for a usage error, saying why on stderr", async () => {
    await withTempDir(async (parent) => {
      const directory = join(parent, "jobs");
      const missing = await runScript(cliPath, [directory, "stats"]);
      assert.deepEqual(missing, {
        status: 1,
        stdout: "",
        stderr:
          `jobq: ${directory} does not exist: pass the directory given to new JobQueue({ directory })\n`,
      });
      const usage = await runScript(cliPath, [directory, "stats", "--bogus"]);
      assert.equal(usage.status, 2);
      assert.equal(usage.stdout, "");
      assert.match(usage.stderr, /^jobq: unknown option "--bogus"; run 'jobq --help' for usage\n$/);
      assert.deepEqual(await readdir(parent), []);
    });
  });

  test("the package's jobq command runs the CLI and changes the directory", async () => {
    await withJobs(async (directory, jobs) => {
      const help = await runScript(binPath, ["--help"]);
      assert.equal(help.status, 0);
      assert.match(help.stdout, /^Usage: jobq /m);
      const removed = await runScript(binPath, [directory, "remove", jobs.overdue.id, "--json"]);
      assert.equal(removed.stderr, "");
      assert.deepEqual(JSON.parse(removed.stdout), { removed: 1 });
      assert.equal(await recordOf(directory, jobs.overdue.id), undefined);
    });
  });

  // The npm package's command is a Node program: `npx jobq` runs it through
  // node_modules/.bin/jobq, a symbolic link, by its #! line.
  if (runtime === "node") {
    test("under Node, package.json's bin is executable and runs through a symbolic link", async () => {
      const packageDir = fileURLToPath(new URL("../", import.meta.url));
      const manifest = JSON.parse(await readFile(join(packageDir, "package.json"), "utf8"));
      assert.equal(join(packageDir, manifest.bin.jobq), binPath);
      await withJobs((directory) =>
        withTempDir(async (bin) => {
          await symlink(binPath, join(bin, "jobq"));
          const stdout = await new Promise<string>((resolve, reject) =>
            execFile(
              join(bin, "jobq"),
              [directory, "stats", "--json"],
              (error, stdout) => error ? reject(error) : resolve(stdout),
            )
          );
          assert.equal(JSON.parse(stdout).total, 5);
        })
      );
    });
  }
});
