/**
 * What a write promises: with fsync, data then directory entry are flushed
 * before scheduleJob resolves; a failed write rejects and leaves nothing.
 */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { type FileSystemAdapter, JobQueue, JobQueueError, NodeFileSystem } from "../mod.ts";
import { withTempDir } from "./_helpers.ts";

/** An adapter that records its calls and fails the ones `fault` picks. */
class RecordingFileSystem extends NodeFileSystem implements FileSystemAdapter {
  readonly calls: string[] = [];
  fault: ((call: string) => boolean) | undefined;

  #record(call: string): void {
    this.calls.push(call);
    if (this.fault?.(call)) {
      throw Object.assign(new Error(`injected failure of ${call}`), { code: "ENOSPC" });
    }
  }

  override async writeTextFile(
    path: string,
    data: string,
    options: { sync?: boolean } = {},
  ): Promise<void> {
    this.#record(`write${options.sync ? "+sync" : ""} ${path}`);
    await super.writeTextFile(path, data, options);
  }

  override async rename(from: string, to: string): Promise<void> {
    this.#record(`rename ${from} -> ${to}`);
    await super.rename(from, to);
  }

  override async syncDir(path: string): Promise<void> {
    this.#record(`syncDir ${path}`);
    await super.syncDir(path);
  }
}

/** The calls made while scheduling one job, from its temp write on. */
async function callsOfOneSchedule(directory: string, fsync: boolean): Promise<string[]> {
  const fs = new RecordingFileSystem();
  const queue = new JobQueue({ directory, fs, fsync });
  try {
    await queue.getAllJobs(); // opens the directory first
    fs.calls.length = 0;
    const job = await queue.scheduleJob({ methodName: "durable" });
    const jobPath = join(directory, `${job.key}.json`);
    return fs.calls.map((call) =>
      call.replace(/\/\.[^/]+\.tmp/, "/<temp>").replace(jobPath, "<job>")
    );
  } finally {
    await queue.dispose();
  }
}

describe("durability", () => {
  test("with fsync, scheduleJob flushes the job's data, renames it into place, then flushes the directory", async () => {
    await withTempDir(async (directory) => {
      assert.deepEqual(await callsOfOneSchedule(directory, true), [
        `write+sync ${directory}/<temp>`,
        `rename ${directory}/<temp> -> <job>`,
        `syncDir ${directory}`,
      ]);
    });
  });

  test("without fsync, scheduleJob still writes atomically but flushes nothing", async () => {
    await withTempDir(async (directory) => {
      assert.deepEqual(await callsOfOneSchedule(directory, false), [
        `write ${directory}/<temp>`,
        `rename ${directory}/<temp> -> <job>`,
      ]);
    });
  });

  test("with fsync, opening a new job directory flushes its parent's entry", async () => {
    await withTempDir(async (parent) => {
      const directory = join(parent, "jobs");
      const fs = new RecordingFileSystem();
      const queue = new JobQueue({ directory, fs });
      try {
        await queue.getAllJobs();
        assert.ok(fs.calls.includes(`syncDir ${dirname(directory)}`), fs.calls.join("\n"));
      } finally {
        await queue.dispose();
      }
    });
  });

  for (const step of ["write", "rename"]) {
    test(`a failing ${step} rejects scheduleJob and leaves neither a job file nor a temporary file`, async () => {
      await withTempDir(async (directory) => {
        const fs = new RecordingFileSystem();
        const queue = new JobQueue({ directory, fs, fsync: false });
        try {
          await queue.getAllJobs();
          fs.fault = (call) => call.startsWith(step) && call.includes(".tmp");
          const error = await queue.scheduleJob({ methodName: "doomed" }).then(
            () => assert.fail("scheduleJob resolved although its write failed"),
            (error: unknown) => error,
          );
          assert.ok(error instanceof JobQueueError);
          assert.equal((error.cause as { code?: string }).code, "ENOSPC");
          assert.match(error.message, /Cannot schedule the job/);
          assert.deepEqual((await readdir(directory)).filter((name) => name !== ".jobq"), []);
          fs.fault = undefined;
          const job = await queue.scheduleJob({ methodName: "doomed" });
          assert.deepEqual((await queue.getAllJobs()).map(({ id }) => id), [job.id]);
        } finally {
          await queue.dispose();
        }
      });
    });
  }
});
