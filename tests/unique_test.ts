/**
 * Unique jobs: scheduling a job whose `uniqueKey` a waiting or running job
 * holds resolves to that job, in one process or several.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { JobQueue, JobState } from "../mod.ts";
import {
  deferred,
  outcomeOf,
  recordEvents,
  spawnFixture,
  withQueue,
  withTempDir,
} from "./_helpers.ts";
import { withDeadline } from "./_process_helpers.ts";
import { fileStoreOnly, storedIds, withPlace } from "./_store.ts";

describe("unique jobs", () => {
  test("scheduling a uniqueKey that a waiting job holds resolves to that job and stores nothing", async () => {
    await withQueue({}, async (queue, place) => {
      const scheduled = recordEvents(queue, "scheduled");
      const first = await queue.scheduleJob({
        methodName: "sync",
        params: { account: 1 },
        uniqueKey: "sync-1",
        waitTime: 60_000,
      });
      const second = await queue.scheduleJob({
        methodName: "sync",
        params: { account: 1, again: true },
        uniqueKey: "sync-1",
      });
      assert.equal(second.id, first.id);
      assert.deepEqual(second.params, { account: 1 });
      assert.equal(first.uniqueKey, "sync-1");
      assert.deepEqual(await storedIds(place), [first.id]);
      assert.deepEqual(scheduled.map((job) => job.id), [first.id]);
      const other = await queue.scheduleJob({ methodName: "sync", uniqueKey: "sync-2" });
      assert.notEqual(other.id, first.id);
    });
  });

  test("a running job holds its key; once it completes, fails or is removed, the key is free", async () => {
    await withQueue({}, async (queue) => {
      const release = deferred<void>();
      let fail = false;
      queue.registerJobHandler("sync", async () => {
        await release.promise;
        if (fail) throw new Error("sync failed");
      });
      const running = await queue.scheduleJob({ methodName: "sync", uniqueKey: "k" });
      const started = outcomeOf(queue, running.id);
      await queue.start();
      assert.equal(
        (await queue.scheduleJob({ methodName: "sync", uniqueKey: "k" })).id,
        running.id,
      );
      release.resolve();
      assert.equal((await started).state, JobState.COMPLETED);

      fail = true;
      const next = await queue.scheduleJob({ methodName: "sync", uniqueKey: "k" });
      assert.notEqual(next.id, running.id);
      assert.equal((await queue.settled(next.id))?.state, JobState.FAILED);

      const afterFailure = await queue.scheduleJob({
        methodName: "sync",
        uniqueKey: "k",
        waitTime: 60_000,
      });
      assert.notEqual(afterFailure.id, next.id);
      assert.equal(await queue.removeJob(afterFailure.id), true);
      const afterRemoval = await queue.scheduleJob({
        methodName: "sync",
        uniqueKey: "k",
        waitTime: 60_000,
      });
      assert.notEqual(afterRemoval.id, afterFailure.id);
    });
  });

  test("retrying a failed job whose key another waiting job holds is refused, and keeps the failed job", async () => {
    await withQueue({}, async (queue) => {
      queue.registerJobHandler("sync", () => {
        throw new Error("sync failed");
      });
      const first = await queue.scheduleJob({ methodName: "sync", uniqueKey: "k" });
      await queue.start();
      assert.equal((await queue.settled(first.id))?.state, JobState.FAILED);
      const waiting = await queue.scheduleJob({
        methodName: "sync",
        uniqueKey: "k",
        waitTime: 60_000,
      });
      await assert.rejects(queue.retryJob(first.id), /holds its unique key 'k'/);
      const states = (await queue.getAllJobs()).map((job) => [job.id, job.state]);
      assert.deepEqual(states, [[first.id, JobState.FAILED], [waiting.id, JobState.NOT_STARTED]]);
    });
  });

  test("several processes scheduling one key at once store exactly one job", async () => {
    await withPlace(async (place) => {
      const fixtures = [1, 2, 3].map(() =>
        spawnFixture("schedule_unique", [place, "nightly-report", "10"])
      );
      const ids = new Set<string>();
      for (const fixture of fixtures) {
        const { code } = await withDeadline(fixture.exited, 30_000, "the scheduler's exit");
        assert.equal(code, 0, fixture.stderr());
        for (const [, id] of fixture.stdout().matchAll(/^scheduled (\S+)$/gm)) ids.add(id!);
      }
      assert.equal(ids.size, 1, `every process got the same job: ${[...ids].join(", ")}`);
      assert.deepEqual(await storedIds(place), [...ids]);
    });
  });

  test(
    "a key left by an engine that died before its job file landed is taken over",
    fileStoreOnly,
    async () => {
      await withTempDir(async (directory) => {
        const unique = join(directory, ".jobq", "unique");
        await mkdir(unique, { recursive: true });
        const name = createHash("sha256").update("orphan").digest("hex");
        await writeFile(
          join(unique, `${name}.json`),
          JSON.stringify({
            uniqueKey: "orphan",
            jobId: "2024-01-01T00-00-00-000Z-000000000000a-00000000",
            methodName: "work",
            engineId: "00000000deadbeef",
            createdAt: Date.now() - 60_000,
          }),
        );
        const queue = new JobQueue({ directory, fsync: false });
        try {
          const job = await queue.scheduleJob({ methodName: "work", uniqueKey: "orphan" });
          assert.deepEqual(await storedIds(directory), [job.id]);
          const again = await queue.scheduleJob({ methodName: "work", uniqueKey: "orphan" });
          assert.equal(again.id, job.id);
        } finally {
          await queue.dispose();
        }
      });
    },
  );

  test("a uniqueKey with a lone surrogate is refused with a TypeError, so that two such keys never map to one job", async () => {
    await withQueue({}, async (queue, place) => {
      // Encoded as UTF-8 both become U+FFFD: hashed alike, the second would
      // silently resolve to the first.
      for (const uniqueKey of ["key-\ud800", "key-\udc00", "\udbff-key"]) {
        await assert.rejects(
          queue.scheduleJob({ methodName: "work", uniqueKey }),
          (error: unknown) =>
            error instanceof TypeError && /well-formed|lone surrogate/.test(error.message),
        );
      }
      assert.deepEqual(await storedIds(place), []);
      // A surrogate pair is a character like any other.
      const job = await queue.scheduleJob({ methodName: "work", uniqueKey: "key-\u{1f600}" });
      assert.equal(job.uniqueKey, "key-\u{1f600}");
    });
  });

  test("params holding lone surrogates reach the handler unchanged", async () => {
    await withQueue({}, async (queue) => {
      const received = deferred<unknown>();
      queue.registerJobHandler("work", (params: unknown) => received.resolve(params));
      await queue.scheduleJob({ methodName: "work", params: { text: "\ud800-\udc00" } });
      await queue.start();
      assert.deepEqual(await received.promise, { text: "\ud800-\udc00" });
    });
  });

  test("an invalid uniqueKey is refused with a TypeError and nothing is written", async () => {
    await withQueue({}, async (queue, place) => {
      for (const uniqueKey of ["", "x".repeat(513), 42]) {
        await assert.rejects(
          queue.scheduleJob({ methodName: "work", uniqueKey: uniqueKey as string }),
          TypeError,
        );
      }
      assert.deepEqual(await storedIds(place), []);
    });
  });
});
