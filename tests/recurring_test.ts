/**
 * Recurring jobs: `repeat: { cron, timezone }` or `repeat: { every }`. Each
 * occurrence is a job with a unique key naming it, and schedules the next
 * when it starts, so each occurrence runs once across restarts and
 * processes; missed occurrences run once, late.
 */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { describe, test } from "node:test";
import { Job, jobContext, JobQueueError, JobState, NodeFileSystem } from "../mod.ts";
import {
  collectEvents,
  deferred,
  spawnFixture,
  withQueue,
  withQueueOn,
  withTempDir,
} from "./_helpers.ts";
import { FaultyFileSystem } from "./_faulty_fs.ts";
import { delay, readRuns, stopWorker } from "./_process_helpers.ts";
import { fileStoreOnly, storedJobs, withPlace } from "./_store.ts";

describe("recurring jobs: schedules", () => {
  test("a cron job is due at the next occurrence in its time zone, keyed by schedule and date", () => {
    const now = Date.parse("2026-03-28T12:00:00Z");
    const job = Job.fromSpec(
      { methodName: "cleanupOldFiles", repeat: { cron: "0 2 * * *", timezone: "Europe/Berlin" } },
      now,
    );
    // 2 AM in Berlin on the 29th is still winter time (UTC+1): 01:00 UTC.
    assert.equal(job.executionDateString, "2026-03-29T01:00:00.000Z");
    assert.equal(job.uniqueKey, "cleanupOldFiles@2026-03-29T01:00:00.000Z");
    assert.deepEqual(job.repeat, { cron: "0 2 * * *", timezone: "Europe/Berlin" });
    const named = Job.fromSpec(
      { methodName: "report", repeat: { cron: "0 2 * * *" }, uniqueKey: "daily" },
      now,
    );
    assert.match(named.uniqueKey!, /^daily@/);
  });

  test("an interval job is due at the next multiple of its interval, the same in every process", () => {
    const job = Job.fromSpec({ methodName: "tick", repeat: { every: 60_000 } }, 90_000);
    assert.equal(job.executionDate, 120_000);
    assert.equal(
      Job.fromSpec({ methodName: "tick", repeat: { every: 60_000 } }, 119_999)
        .executionDate,
      120_000,
    );
  });

  test("an invalid schedule is refused with an error that says what to pass", () => {
    const invalid: [unknown, ErrorConstructor][] = [
      [{ cron: "not a cron" }, TypeError],
      [{ cron: "0 2 * * *", timezone: "Nowhere/Atlantis" }, TypeError],
      [{ every: 0 }, RangeError],
      [{ every: 1.5 }, RangeError],
      [{ every: "1s" }, TypeError],
      [{ cron: "0 2 * * *", every: 5 }, TypeError],
      [{}, TypeError],
      ["daily", TypeError],
    ];
    for (const [repeat, type] of invalid) {
      assert.throws(
        () => Job.fromSpec({ methodName: "x", repeat: repeat as { every: number } }),
        type,
        JSON.stringify(repeat),
      );
    }
    assert.throws(
      () => Job.fromSpec({ methodName: "x", repeat: { every: 1000 }, waitTime: 5 }),
      /leave them out/,
    );
    // Each occurrence's key adds "@<date>" to the schedule's name: the name
    // must leave room for it within the 512 characters of a unique key.
    assert.throws(
      () => Job.fromSpec({ methodName: "x", repeat: { every: 1000 }, uniqueKey: "k".repeat(488) }),
      /at most 487 characters/,
    );
    assert.equal(
      Job.fromSpec({ methodName: "x", repeat: { every: 1000 }, uniqueKey: "k".repeat(487) })
        .uniqueKey?.length,
      512,
    );
  });
});

describe("recurring jobs: running", () => {
  test("each occurrence runs once and schedules the next, so one occurrence always waits", async () => {
    await withQueue({}, async (queue, place) => {
      queue.registerJobHandler("tick", () => {});
      const started = collectEvents(queue, "started", 3);
      await queue.scheduleJob({ methodName: "tick", repeat: { every: 100 } });
      await queue.start();
      const occurrences = await started;
      const dates = occurrences.map((job) => job.executionDate);
      assert.deepEqual(dates, [dates[0], dates[0]! + 100, dates[0]! + 200]);
      assert.equal(new Set(occurrences.map((job) => job.uniqueKey)).size, 3);
      await queue.dispose();
      const waiting = (await storedJobs(place)).filter((job) => job.state === JobState.NOT_STARTED);
      assert.equal(waiting.length, 1, "the next occurrence waits on disk");
      assert.ok(waiting[0]!.executionDate > dates[2]!);
      assert.equal((await storedJobs(place)).length, 1, "completed occurrences are removed");
    });
  });

  test("scheduling the same recurring job again, as a program does at each start, keeps one", async () => {
    await withQueue({}, async (queue) => {
      const spec = { methodName: "report", repeat: { cron: "0 2 * * *" } };
      const first = await queue.scheduleJob(spec);
      const second = await queue.scheduleJob(spec);
      assert.equal(second.id, first.id);
      assert.equal((await queue.getAllJobs()).length, 1);
    });
  });

  test("occurrences missed while no queue ran run once, late, then the schedule goes on from now", async () => {
    await withPlace(async (place) => {
      const spec = { methodName: "tick", repeat: { every: 100 } };
      await withQueueOn(place, {}, async (queue) => {
        await queue.scheduleJob(spec);
      });
      // Several occurrences pass with no queue running.
      await delay(350);
      const restart = Date.now();
      await withQueueOn(place, {}, async (queue) => {
        queue.registerJobHandler("tick", () => {});
        const started = collectEvents(queue, "started", 2);
        await queue.scheduleJob(spec);
        await queue.start();
        const [late, next] = await started;
        assert.ok(late!.executionDate < restart - 200, "the missed occurrence runs, late");
        assert.ok(next!.executionDate > restart, "the next occurrence is after the restart");
      });
    });
  });

  test(
    "an occurrence that comes while a queue schedules it may have run elsewhere: the next one is stored instead",
    fileStoreOnly,
    async () => {
      const every = 300;
      const spec = { methodName: "tick", repeat: { every } };
      const keyTaken = deferred<void>();
      const letKeysThrough = deferred<void>();
      /** Holds this queue's unique-key links back until the test lets them through. */
      class SlowKeys extends NodeFileSystem {
        override async link(existing: string, newPath: string): Promise<void> {
          if (basename(dirname(newPath)) === "unique") {
            keyTaken.resolve();
            await letKeysThrough.promise;
          }
          await super.link(existing, newPath);
        }
      }
      await withTempDir(async (directory) => {
        await withQueueOn(directory, { pollInterval: 20 }, async (runner) => {
          const runs: string[] = [];
          runner.registerJobHandler("tick", () => void runs.push(jobContext().job.uniqueKey!));
          await withQueueOn(directory, { fs: new SlowKeys() }, async (slow) => {
            // Just after an occurrence, so that both queues compute the next one.
            await delay(every - (Date.now() % every) + 5);
            const first = await runner.scheduleJob(spec);
            const scheduling = slow.scheduleJob(spec);
            await keyTaken.promise;
            assert.ok(
              Date.now() < first.executionDate,
              "the slow queue computed the same occurrence",
            );
            await runner.start();
            // The occurrence runs, schedules the next, completes and lets go of its key.
            await runner.settled(first.id);
            letKeysThrough.resolve();
            const stored = await scheduling;
            assert.equal(stored.executionDate, first.executionDate + every);
            const next = (await runner.getAllJobs()).filter((job) =>
              job.uniqueKey === stored.uniqueKey
            );
            assert.deepEqual(
              next.map((job) => job.id),
              [stored.id],
              "one job of the next occurrence",
            );
            await delay(100); // polls of the runner would find a second copy of the first occurrence
            assert.deepEqual(runs.filter((key) => key === first.uniqueKey), [first.uniqueKey]);
          });
        });
      });
    },
  );

  test(
    "a schedule whose occurrences come faster than they can be stored is refused, and nothing is stored",
    fileStoreOnly,
    async () => {
      const fs = new FaultyFileSystem();
      // Every key takes longer to take than the interval: each occurrence comes first.
      fs.disturb((call) =>
        call.method === "link" && basename(dirname(call.to!)) === "unique"
          ? { kind: "slow", delay: 30 }
          : undefined
      );
      await withQueue({ fs }, async (queue, directory) => {
        await assert.rejects(
          queue.scheduleJob({ methodName: "tick", repeat: { every: 10 } }),
          (error: unknown) =>
            error instanceof JobQueueError && /give it a longer interval/.test(error.message),
        );
        assert.deepEqual(await queue.getAllJobs(), []);
        assert.deepEqual(await readdir(join(directory, ".jobq", "unique")), []);
        assert.deepEqual((await readdir(directory)).filter((name) => name !== ".jobq"), []);
      });
    },
  );

  test("two processes running one recurring job run each occurrence once", async () => {
    await withPlace((place) =>
      withTempDir(async (logs) => {
        const log = join(logs, "runs.log");
        const options = JSON.stringify({ repeatEvery: 100, pollInterval: 20, log });
        const workers = [spawnFixture("worker", [place, options])];
        try {
          await workers[0]!.waitForOutput("ready");
          workers.push(spawnFixture("worker", [place, options]));
          await workers[1]!.waitForOutput("ready");
          await delay(1200);
        } finally {
          for (const worker of workers) await stopWorker(worker);
        }
        const runs = await readRuns(log);
        assert.ok(runs.size >= 5, `only ${runs.size} occurrences ran`);
        for (const [occurrence, occurrenceRuns] of runs) {
          assert.equal(
            occurrenceRuns.length,
            1,
            `${occurrence} ran ${occurrenceRuns.length} times`,
          );
        }
      })
    );
  });

  test("a recurring job keeps its params, priority and retry settings from one occurrence to the next", async () => {
    await withQueue({}, async (queue) => {
      queue.registerJobHandler("report", () => {});
      const started = collectEvents(queue, "started", 2);
      await queue.scheduleJob({
        methodName: "report",
        params: { kind: "daily" },
        repeat: { every: 40 },
        priority: 5,
        maxAttempts: 3,
        timeout: 1000,
      });
      await queue.start();
      const [, second] = await started;
      assert.deepEqual(second!.params, { kind: "daily" });
      assert.equal(second!.priority, 5);
      assert.equal(second!.maxAttempts, 3);
      assert.equal(second!.timeout, 1000);
    });
  });
});
