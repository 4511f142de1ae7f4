/**
 * Loading a directory: jobs not due yet are indexed by their file name alone
 * (a name holds the method and the date the id was made with), and their
 * files are read only when they come due, so that a queue with many future
 * jobs starts at once.
 */
import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Job, JobState, NodeFileSystem } from "../mod.ts";
import { collectEvents, nextEvent, recordEvents, withQueueOn, withTempDir } from "./_helpers.ts";
import { delay, readJobFile } from "./_process_helpers.ts";

describe("large directories: loading jobs not due yet, and polling", () => {
  test("a damaged file of a job not due yet is found and set aside when it comes due", async () => {
    await withTempDir(async (directory) => {
      const job = Job.fromSpec({ methodName: "work", waitTime: 300 });
      await writeFile(join(directory, `${job.key}.json`), "{ damaged");
      await withQueueOn(directory, {}, async (queue) => {
        queue.registerJobHandler("work", () => {});
        const errors = recordEvents(queue, "error");
        await queue.start();
        assert.deepEqual(errors, [], "the file is not read at load");
        const error = await nextEvent(queue, "error");
        assert.match(error.message, /is not a valid job/);
        assert.equal((await readdir(join(directory, ".jobq", "corrupt"))).length, 1);
      });
    });
  });

  test("a job whose file is due later than its name says (a retry waiting) does not run early", async () => {
    await withTempDir(async (directory) => {
      const created = Job.fromSpec({ methodName: "work", waitTime: 50 });
      const retry = Job.fromJSON({
        ...created.toJSON(),
        attempts: 1,
        executionDate: Date.now() + 60_000,
        error: { name: "Error", message: "first attempt failed" },
      });
      await writeFile(join(directory, `${retry.key}.json`), JSON.stringify(retry));
      await withQueueOn(directory, {}, async (queue) => {
        const started = recordEvents(queue, "started");
        queue.registerJobHandler("work", () => {});
        await queue.start();
        await delay(300);
        assert.deepEqual(started, []);
        const onDisk = await readJobFile(directory, retry);
        assert.equal(onDisk.state, JobState.NOT_STARTED);
        assert.equal(onDisk.attempts, 1);
      });
    });
  });

  test("jobs known by name run with the params and priority of their files once due", async () => {
    await withTempDir(async (directory) => {
      await withQueueOn(directory, {}, async (queue) => {
        await queue.scheduleJobs([
          { methodName: "work", params: { name: "low" }, waitTime: 200 },
          { methodName: "work", params: { name: "high" }, waitTime: 200, priority: 5 },
        ]);
      });
      await withQueueOn(directory, { maxConcurrency: 1 }, async (queue) => {
        queue.registerJobHandler("work", () => {});
        const started = collectEvents(queue, "started", 2);
        await queue.start();
        const names = (await started).map((job) => (job.params as { name: string }).name);
        assert.deepEqual(names, ["high", "low"]);
      });
    });
  });

  test("polls of a directory that is slow to list are spaced to take a tenth of the time", async () => {
    await withTempDir(async (directory) => {
      /** Lists the job directory in 40 ms, as a directory of a few 100,000 files does. */
      class SlowListing extends NodeFileSystem {
        listings = 0;
        override async readDir(path: string): Promise<string[]> {
          if (path !== directory) return await super.readDir(path);
          this.listings++;
          await delay(40);
          return await super.readDir(path);
        }
      }
      const fs = new SlowListing();
      await withQueueOn(directory, { fs, pollInterval: 10 }, async (queue) => {
        await queue.start();
        const afterLoad = fs.listings;
        await delay(1000);
        // Every 10 ms + 40 ms, that would be about 20 polls; spaced to at
        // least 9 × 40 ms apart, at most 3.
        const polls = fs.listings - afterLoad;
        assert.ok(polls >= 1 && polls <= 3, `${polls} polls in a second`);
      });
    });
  });
});
