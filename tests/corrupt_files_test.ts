import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { describe, test } from "node:test";
import { Job, jobContext, JobQueue, type JobQueueError } from "../mod.ts";
import { collectEvents, nextEvent, withTempDir } from "./_helpers.ts";
import { internalFiles, scheduleWork } from "./_process_helpers.ts";

/** A job file name that looks right, for a job that was never scheduled. */
function jobFileName(): string {
  return `${Job.fromSpec({ methodName: "work" }).key}.json`;
}

/** What {@linkcode plantFiles} put in a directory, by file name. */
interface Planted {
  /** Job files that cannot be read as the job their name promises. */
  corrupt: Map<string, string>;
  /** Files a queue must not look at. */
  ignored: Map<string, string>;
}

/** Writes corrupt job files and files that are not job files beside the jobs of `directory`. */
async function plantFiles(directory: string): Promise<Planted> {
  const stranger = Job.fromSpec({ methodName: "work", params: { n: -1 } });
  const corrupt = new Map([
    [jobFileName(), '{"id": "2024-01-01T'],
    [jobFileName(), JSON.stringify({ hello: "world" })],
    [jobFileName(), JSON.stringify(stranger)],
    [jobFileName(), ""],
  ]);
  const ignored = new Map([
    ["notes.txt", "not a job"],
    ["work.json.bak", "{"],
    [".hidden.json", "{"],
    // A valid job behind a leading dot is a temporary file: it must never run.
    [`.${stranger.key}.json`, JSON.stringify(stranger)],
  ]);
  for (const [name, content] of [...corrupt, ...ignored]) {
    await writeFile(join(directory, name), content);
  }
  return { corrupt, ignored };
}

/**
 * Checks that each corrupt file was reported once, by an error naming the
 * file it was moved to in `.jobq/corrupt/`, with its content unchanged.
 */
async function assertSetAside(
  directory: string,
  corrupt: Map<string, string>,
  errors: JobQueueError[],
): Promise<void> {
  assert.equal(errors.length, corrupt.size);
  const names = await readdir(directory);
  const corruptFolder = join(directory, ".jobq", "corrupt");
  for (const [name, content] of corrupt) {
    assert.ok(!names.includes(name), `${name} is still among the jobs`);
    const reports = errors.filter((error) => error.message.includes(name));
    assert.equal(reports.length, 1, `${name} was reported ${reports.length} times`);
    const file = reports[0]!.info.file;
    assert.ok(file !== undefined, `the error about ${name} names no file`);
    assert.equal(dirname(file), corruptFolder);
    assert.ok(basename(file).startsWith(`${name}.`), `${file} does not name ${name}`);
    assert.equal(await readFile(file, "utf8"), content);
  }
  assert.equal((await internalFiles(directory, "corrupt")).length, corrupt.size);
}

/** Checks that the files a queue must ignore are where they were, unchanged. */
async function assertUntouched(directory: string, ignored: Map<string, string>): Promise<void> {
  for (const [name, content] of ignored) {
    assert.equal(await readFile(join(directory, name), "utf8"), content);
  }
}

describe("corrupt job files", () => {
  test(
    "start() sets each one aside in .jobq/corrupt/, reports it by name, and runs the good jobs",
    { timeout: 20_000 },
    async () => {
      await withTempDir(async (directory) => {
        const good = await scheduleWork(directory, 2);
        const { corrupt, ignored } = await plantFiles(directory);
        const queue = new JobQueue({ directory, fsync: false, pollInterval: 20 });
        const errors: JobQueueError[] = [];
        queue.on("error", (error) => errors.push(error));
        const ran: string[] = [];
        queue.registerJobHandler("work", () => {
          ran.push(jobContext().job.id);
        });
        try {
          const completed = collectEvents(queue, "completed", good.length);
          await queue.start();
          await assertSetAside(directory, corrupt, errors);
          const done = await completed;
          assert.deepEqual(done.map((job) => job.id).sort(), good.map((job) => job.id).sort());
        } finally {
          await queue.dispose();
        }
        // Only the good jobs ran: not the stranger in a corrupt file, nor the one behind a dot.
        assert.deepEqual(ran.sort(), good.map((job) => job.id).sort());
        assert.equal(errors.length, corrupt.size);
        await assertUntouched(directory, ignored);
      });
    },
  );

  test(
    "getAllJobs() returns only the good jobs and sets the corrupt ones aside",
    { timeout: 20_000 },
    async () => {
      await withTempDir(async (directory) => {
        const good = await scheduleWork(directory, 2);
        const { corrupt, ignored } = await plantFiles(directory);
        const queue = new JobQueue({ directory, fsync: false });
        const errors: JobQueueError[] = [];
        queue.on("error", (error) => errors.push(error));
        try {
          const jobs = await queue.getAllJobs();
          assert.deepEqual(jobs.map((job) => job.id), good.map((job) => job.id));
          await assertSetAside(directory, corrupt, errors);
          // Set aside once: a second look finds nothing more to report.
          assert.deepEqual(
            (await queue.getAllJobs()).map((job) => job.id),
            jobs.map((job) => job.id),
          );
          assert.equal(errors.length, corrupt.size);
        } finally {
          await queue.dispose();
        }
        await assertUntouched(directory, ignored);
      });
    },
  );

  test(
    "a corrupt file written while the queue runs is set aside at the next poll",
    { timeout: 20_000 },
    async () => {
      await withTempDir(async (directory) => {
        const queue = new JobQueue({ directory, fsync: false, pollInterval: 20 });
        try {
          await queue.start();
          const name = jobFileName();
          const reported = nextEvent(queue, "error");
          await writeFile(join(directory, name), "[1, 2");
          await assertSetAside(directory, new Map([[name, "[1, 2"]]), [await reported]);
        } finally {
          await queue.dispose();
        }
      });
    },
  );

  test(
    "a folder named like a job file stops neither start() nor getAllJobs(), is reported once, and stays",
    { timeout: 20_000 },
    async () => {
      await withTempDir(async (directory) => {
        const good = await scheduleWork(directory, 1);
        const folder = join(directory, "archive.json");
        await mkdir(folder);
        await writeFile(join(folder, "kept.txt"), "kept");
        // The good job's file is kept so that getAllJobs() has it to list
        // whether or not the job has completed by then.
        const queue = new JobQueue({ directory, fsync: false, keepCompleted: true });
        const reported: (string | undefined)[] = [];
        queue.on("error", (error) => reported.push(error.info.file));
        let ran = (_id: string) => {};
        const run = new Promise<string>((resolve) => ran = resolve);
        queue.registerJobHandler("work", () => ran(jobContext().job.id));
        try {
          await queue.start();
          assert.equal(await run, good[0]!.id);
          assert.deepEqual((await queue.getAllJobs()).map((job) => job.id), [good[0]!.id]);
          // Read by load() and again by getAllJobs(), but reported only once.
          assert.deepEqual(reported, [folder]);
        } finally {
          await queue.dispose();
        }
        assert.equal(await readFile(join(folder, "kept.txt"), "utf8"), "kept");
      });
    },
  );
});
