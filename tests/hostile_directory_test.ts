/**
 * Whatever is written into a job directory by someone else (forged records,
 * links, FIFOs, huge files), jobq touches nothing outside it, runs nothing
 * that is not a regular job file, and keeps running.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, lstat, mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import {
  Job,
  jobContext,
  JobQueue,
  type JobQueueError,
  NodeFileSystem,
  type WriteTextFileOptions,
} from "../mod.ts";
import { FaultyFileSystem } from "./_faulty_fs.ts";
import { modeOf, unblockFifo, underUsualUmask } from "./_file_helpers.ts";
import { deferred, nextEvent, withTempDir } from "./_helpers.ts";
import { internalFiles, withDeadline } from "./_process_helpers.ts";

/** The size over which a job file is set aside unread (see `FileJobStore`). */
const MAX_JOB_FILE_BYTES = 64 * 1024 * 1024;

underUsualUmask();

/**
 * A queue whose handler records the ids it ran, and a good job scheduled
 * last: once it completed, every job due before it had its chance to run.
 */
async function runUntilGoodJobCompleted(
  directory: string,
  errors: JobQueueError[],
): Promise<string[]> {
  const queue = new JobQueue({ directory, fsync: false, pollInterval: 20 });
  queue.on("error", (error) => errors.push(error));
  const ran: string[] = [];
  queue.registerJobHandler("work", () => {
    ran.push(jobContext().job.id);
  });
  try {
    const good = await queue.scheduleJob({ methodName: "work", params: { good: true } });
    const completed = nextEvent(queue, "completed", (job) => job.id === good.id);
    await withDeadline(queue.start(), 10_000, "start()");
    await completed;
    return ran.filter((id) => id !== good.id);
  } finally {
    await withDeadline(queue.dispose(), 10_000, "dispose()");
  }
}

describe("a hostile job directory", () => {
  test("recovery never removes files outside the directory named by a forged engine file", async () => {
    await withTempDir(async (base) => {
      const directory = join(base, "jobs");
      await mkdir(join(directory, ".jobq", "engines"), { recursive: true });
      await writeFile(
        join(directory, ".jobq", "engines", "evil.json"),
        JSON.stringify({
          engineId: "../../../victim1",
          pid: 999_999,
          claimTimeout: 1,
          startedAt: 0,
          heartbeatAt: 0,
        }),
      );
      await writeFile(join(base, "victim1.json"), "victim");
      await writeFile(join(base, "victim1.claim"), "victim");
      const queue = new JobQueue({ directory, fsync: false });
      try {
        await queue.start();
      } finally {
        await queue.dispose();
      }
      assert.equal(await readFile(join(base, "victim1.json"), "utf8"), "victim");
      assert.equal(await readFile(join(base, "victim1.claim"), "utf8"), "victim");
    });
  });

  test("scheduleJob() neither moves nor quotes a file outside the directory named by a forged unique key", async () => {
    await withTempDir(async (base) => {
      const directory = join(base, "jobs");
      const uniqueKey = "report-42";
      const hash = createHash("sha256").update(uniqueKey).digest("hex");
      await mkdir(join(directory, ".jobq", "unique"), { recursive: true });
      await writeFile(
        join(directory, ".jobq", "unique", `${hash}.json`),
        JSON.stringify({
          uniqueKey,
          jobId: "x",
          methodName: "../victim2",
          engineId: "0123456789abcdef",
          createdAt: 0,
        }),
      );
      const victim = join(base, "victim2__x.json");
      await writeFile(victim, "secret: hunter2");
      const queue = new JobQueue({ directory, fsync: false });
      const errors: JobQueueError[] = [];
      queue.on("error", (error) => errors.push(error));
      try {
        const job = await queue.scheduleJob({ methodName: "report", uniqueKey, waitTime: 60_000 });
        assert.equal(job.uniqueKey, uniqueKey);
        assert.equal(
          JSON.parse(await readFile(join(directory, `${job.key}.json`), "utf8")).id,
          job.id,
        );
      } finally {
        await queue.dispose();
      }
      assert.equal(await readFile(victim, "utf8"), "secret: hunter2");
      for (const error of errors) assert.doesNotMatch(error.message, /hunter2/);
    });
  });

  test("temporary files are created anew: a link planted at a temporary name is not written through", async () => {
    await withTempDir(async (base) => {
      const directory = join(base, "jobs");
      const victim = join(base, "victim3");
      await writeFile(victim, "victim");
      /** Plants a link to the victim at every temporary name just before it is written. */
      class PlantingLinks extends NodeFileSystem {
        override async writeTextFile(
          path: string,
          data: string,
          options?: WriteTextFileOptions,
        ): Promise<void> {
          if (path.endsWith(".tmp")) await symlink(victim, path);
          return await super.writeTextFile(path, data, options);
        }
      }
      const queue = new JobQueue({ directory, fsync: false, fs: new PlantingLinks() });
      queue.on("error", () => {});
      try {
        await assert.rejects(queue.scheduleJob({ methodName: "work" }));
      } finally {
        await queue.dispose().catch(() => {});
      }
      assert.equal(await readFile(victim, "utf8"), "victim");
    });
  });

  test("files are created 0600 and folders 0700 under umask 022", async () => {
    await withTempDir(async (base) => {
      const directory = join(base, "jobs");
      const queue = new JobQueue({ directory, fsync: false });
      try {
        const job = await queue.scheduleJob({ methodName: "work", waitTime: 60_000 });
        assert.equal(await modeOf(join(directory, `${job.key}.json`)), 0o600);
        const [engine] = (await internalFiles(directory, "engines")).filter((name) =>
          name.endsWith(".json")
        );
        assert.equal(await modeOf(join(directory, ".jobq", "engines", engine!)), 0o600);
        for (const folder of ["", ".jobq", ".jobq/claims", ".jobq/engines", ".jobq/corrupt"]) {
          assert.equal(await modeOf(join(directory, folder)), 0o700, `${folder} is not 0700`);
        }
      } finally {
        await queue.dispose();
      }
    });
  });

  test("the fileMode option widens files and folders alike", async () => {
    await withTempDir(async (base) => {
      const directory = join(base, "jobs");
      const queue = new JobQueue({ directory, fsync: false, fileMode: 0o640 });
      try {
        const job = await queue.scheduleJob({ methodName: "work", waitTime: 60_000 });
        assert.equal(await modeOf(join(directory, `${job.key}.json`)), 0o640);
        assert.equal(await modeOf(directory), 0o750);
        assert.equal(await modeOf(join(directory, ".jobq", "claims")), 0o750);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("the fileMode option rejects modes that would lock jobq out of its own files", () => {
    for (const fileMode of [0o400, 0o1600, -1, 1.5]) {
      assert.throws(() => new JobQueue({ directory: "jobs", fileMode }), RangeError);
    }
  });

  test("a job file keeps the mode its user gave it when jobq rewrites it", async () => {
    await withTempDir(async (directory) => {
      const queue = new JobQueue({ directory, fsync: false, keepCompleted: true });
      queue.registerJobHandler("work", () => "done");
      try {
        const job = await queue.scheduleJob({ methodName: "work" });
        const path = join(directory, `${job.key}.json`);
        await chmod(path, 0o640);
        const completed = nextEvent(queue, "completed", (done) => done.id === job.id);
        await queue.start();
        await completed;
        assert.equal(JSON.parse(await readFile(path, "utf8")).state, "COMPLETED");
        assert.equal(await modeOf(path), 0o640);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("a link named like a job file is not followed: it is set aside and its job never runs", async () => {
    await withTempDir(async (base) => {
      const directory = join(base, "jobs");
      await mkdir(directory);
      const outside = Job.fromSpec({ methodName: "work", params: { outside: true } });
      const target = join(base, "outside.json");
      await writeFile(target, JSON.stringify(outside));
      const link = join(directory, `${outside.key}.json`);
      await symlink(target, link);
      const errors: JobQueueError[] = [];
      assert.deepEqual(await runUntilGoodJobCompleted(directory, errors), []);
      assert.equal(errors.length, 1, errors.join("\n"));
      assert.match(errors[0]!.message, /symbolic link/);
      const file = errors[0]!.info.file!;
      assert.equal(dirname(file), join(directory, ".jobq", "corrupt"));
      assert.ok((await lstat(file)).isSymbolicLink());
      assert.equal(await readFile(target, "utf8"), JSON.stringify(outside));
    });
  });

  test("a FIFO named like a job file stops neither start() nor dispose(), and is set aside", async () => {
    await withTempDir(async (directory) => {
      const fifo = join(directory, "x.json");
      execFileSync("mkfifo", [fifo]);
      const errors: JobQueueError[] = [];
      try {
        assert.deepEqual(await runUntilGoodJobCompleted(directory, errors), []);
      } finally {
        unblockFifo(fifo);
      }
      assert.equal(errors.length, 1, errors.join("\n"));
      assert.match(errors[0]!.message, /not a regular file/);
      assert.ok((await lstat(errors[0]!.info.file!)).isFIFO());
    });
  });

  test("a FIFO that appears while the queue runs does not stop its polls", async () => {
    await withTempDir(async (directory) => {
      const queue = new JobQueue({ directory, fsync: false, pollInterval: 20 });
      const fifo = join(directory, "x.json");
      try {
        await queue.start();
        const reported = nextEvent(queue, "error");
        execFileSync("mkfifo", [fifo]);
        assert.match((await reported).message, /not a regular file/);
        // A job written by another process is still found by a later poll.
        const ran = deferred<string>();
        queue.registerJobHandler("work", () => ran.resolve(jobContext().job.id));
        const other = new JobQueue({ directory, fsync: false });
        const job = await other.scheduleJob({ methodName: "work" });
        await other.dispose();
        assert.equal(await withDeadline(ran.promise, 10_000, "the new job's run"), job.id);
      } finally {
        unblockFifo(fifo);
        await withDeadline(queue.dispose(), 10_000, "dispose()");
      }
    });
  });

  test("a FIFO among the claims stops neither start() nor the polls", async () => {
    await withTempDir(async (directory) => {
      await mkdir(join(directory, ".jobq", "claims"), { recursive: true });
      const fifo = join(directory, ".jobq", "claims", "x.json");
      execFileSync("mkfifo", [fifo]);
      const errors: JobQueueError[] = [];
      try {
        assert.deepEqual(await runUntilGoodJobCompleted(directory, errors), []);
      } finally {
        unblockFifo(fifo);
      }
      assert.deepEqual(errors, []);
    });
  });

  test("a link to /dev/zero named like a job file is set aside without being read", async () => {
    await withTempDir(async (directory) => {
      await symlink("/dev/zero", join(directory, "zero.json"));
      const errors: JobQueueError[] = [];
      assert.deepEqual(await runUntilGoodJobCompleted(directory, errors), []);
      assert.equal(errors.length, 1, errors.join("\n"));
      assert.equal((await internalFiles(directory, "corrupt")).length, 1);
    });
  });

  test("a job file over the size limit is set aside unread, and reported once", async () => {
    await withTempDir(async (directory) => {
      // A valid job, padded with spaces past the limit: read whole, it would run.
      const big = Job.fromSpec({ methodName: "work", params: { big: true } });
      const path = join(directory, `${big.key}.json`);
      await writeFile(path, JSON.stringify(big).padEnd(MAX_JOB_FILE_BYTES + 1));
      const errors: JobQueueError[] = [];
      assert.deepEqual(await runUntilGoodJobCompleted(directory, errors), []);
      assert.equal(errors.length, 1, errors.join("\n"));
      assert.match(errors[0]!.message, /over the limit/);
      assert.equal((await stat(errors[0]!.info.file!)).size, MAX_JOB_FILE_BYTES + 1);
    });
  });

  test("scheduleJob() rejects a job too large for its file, and writes nothing", async () => {
    await withTempDir(async (directory) => {
      const queue = new JobQueue({ directory, fsync: false });
      try {
        await assert.rejects(
          queue.scheduleJob({ methodName: "work", params: "x".repeat(MAX_JOB_FILE_BYTES) }),
          RangeError,
        );
        assert.deepEqual((await readdir(directory)).filter((name) => name.endsWith(".json")), []);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("a corrupt file whose name is too long to set aside as it is, is set aside under a shorter one", async () => {
    await withTempDir(async (directory) => {
      const name = `${"a".repeat(250)}.json`;
      await writeFile(join(directory, name), "{");
      const errors: JobQueueError[] = [];
      assert.deepEqual(await runUntilGoodJobCompleted(directory, errors), []);
      assert.equal(errors.length, 1, errors.join("\n"));
      const [aside] = await internalFiles(directory, "corrupt");
      assert.ok(aside!.startsWith("a".repeat(200)), aside);
      assert.equal(await readFile(join(directory, ".jobq", "corrupt", aside!), "utf8"), "{");
    });
  });

  test("a corrupt file that cannot be set aside is reported once and not read again by later polls", async () => {
    await withTempDir(async (directory) => {
      const name = "stuck.json";
      const path = join(directory, name);
      await writeFile(path, "{");
      const fs = new FaultyFileSystem();
      fs.fail({ method: "rename", path: (to) => to.includes(".jobq/corrupt/"), code: "EACCES" });
      const queue = new JobQueue({ directory, fsync: false, pollInterval: 20, fs });
      const errors: JobQueueError[] = [];
      queue.on("error", (error) => errors.push(error));
      try {
        await queue.start();
        // Polls list the directory: wait for a few more after the first.
        let polls = 0;
        const polled = deferred<void>();
        fs.disturb((call) => {
          if (call.method === "readDir" && call.path === directory && ++polls === 5) {
            polled.resolve();
          }
          return undefined;
        });
        await withDeadline(polled.promise, 10_000, "five polls");
      } finally {
        await queue.dispose();
      }
      assert.equal(errors.length, 1, errors.join("\n"));
      assert.match(errors[0]!.message, /stuck\.json/);
      assert.equal(fs.callsOf("readTextFile").filter((call) => call.path === path).length, 1);
      assert.equal(await readFile(path, "utf8"), "{");
    });
  });
});
