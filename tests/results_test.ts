/**
 * Results and progress: what a handler returns becomes the job's `result`,
 * and what it reports with `jobContext().progress()` its `progress`, in
 * events and in the job's file.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Job, jobContext, type JobQueueError, JobState } from "../mod.ts";
import { nextEvent, recordEvents, runToEnd, withQueue } from "./_helpers.ts";
import { type Place, readStoredJob, storedIds } from "./_store.ts";

/** The record of a job as it is stored now on `place`: only the fields it has. */
async function readRecord(place: Place, job: Job): Promise<Record<string, unknown>> {
  return { ...(await readStoredJob(place, job)).toJSON() };
}

describe("results", () => {
  test("a handler's return value is the job's result, in the event and in the kept file", async () => {
    await withQueue({ keepCompleted: true }, async (queue, place) => {
      queue.registerJobHandler("add", (a: number, b: number) => ({ sum: a + b, terms: [a, b] }));
      const completed = await runToEnd(queue, { methodName: "add", params: [2, 3] });
      assert.equal(completed.state, JobState.COMPLETED);
      assert.deepEqual(completed.result, { sum: 5, terms: [2, 3] });
      const record = await readRecord(place, completed);
      assert.equal(record.state, JobState.COMPLETED);
      assert.deepEqual(record.result, { sum: 5, terms: [2, 3] });
      const [stored] = await queue.getAllJobs();
      assert.deepEqual(stored?.result, { sum: 5, terms: [2, 3] });
    });
  });

  test("an async handler's resolved value is the result", async () => {
    await withQueue({ keepCompleted: true }, async (queue, place) => {
      queue.registerJobHandler("fetch", async () => {
        await Promise.resolve();
        return "payload";
      });
      const completed = await runToEnd(queue, { methodName: "fetch" });
      assert.equal(completed.result, "payload");
      assert.equal((await readRecord(place, completed)).result, "payload");
    });
  });

  test("without keepCompleted the file is removed, and the event still carries the result", async () => {
    await withQueue({}, async (queue, place) => {
      queue.registerJobHandler("answer", () => [42, "x", null, true]);
      const completed = await runToEnd(queue, { methodName: "answer" });
      assert.deepEqual(completed.result, [42, "x", null, true]);
      assert.deepEqual(await storedIds(place), []);
    });
  });

  test("a handler that returns nothing completes without a result and without an error", async () => {
    await withQueue({ keepCompleted: true }, async (queue, place) => {
      const errors = recordEvents(queue, "error");
      queue.registerJobHandler("quiet", () => {});
      const completed = await runToEnd(queue, { methodName: "quiet" });
      assert.equal(completed.result, undefined);
      assert.equal("result" in await readRecord(place, completed), false);
      assert.deepEqual(errors, []);
    });
  });

  const cyclic: Record<string, unknown> = { name: "loop" };
  cyclic.self = cyclic;
  const UNSTORABLE: [string, unknown][] = [
    ["a BigInt", 10n],
    ["a function", () => "not data"],
    ["an object with a cycle", cyclic],
    ["a Date", new Date(0)],
    ["an object holding NaN", { ratio: NaN }],
  ];
  for (const [what, value] of UNSTORABLE) {
    test(`a result that is ${what} completes the job without a result, and an error says it is not stored`, async () => {
      await withQueue({ keepCompleted: true }, async (queue, place) => {
        const errors: JobQueueError[] = recordEvents(queue, "error");
        queue.registerJobHandler("odd", () => value);
        const completed = await runToEnd(queue, { methodName: "odd" });
        assert.equal(completed.state, JobState.COMPLETED);
        assert.equal(completed.result, undefined);
        const record = await readRecord(place, completed);
        assert.equal(record.state, JobState.COMPLETED);
        assert.equal("result" in record, false);
        assert.equal(errors.length, 1, errors.map((error) => error.message).join("\n"));
        assert.match(errors[0]!.message, /result .* is not stored/);
        assert.match(errors[0]!.message, new RegExp(completed.id));
        assert.equal(errors[0]!.info.job?.id, completed.id);
      });
    });
  }

  test("the stored result is a copy: later changes to the returned object do not reach it", async () => {
    await withQueue({ keepCompleted: true }, async (queue, place) => {
      const returned = { count: 1 };
      queue.registerJobHandler("count", () => returned);
      const completed = nextEvent(queue, "completed");
      await queue.scheduleJob({ methodName: "count" });
      await queue.start();
      const job = await completed;
      returned.count = 2;
      assert.deepEqual(job.result, { count: 1 });
      assert.deepEqual((await readRecord(place, job)).result, { count: 1 });
    });
  });
});

describe("progress", () => {
  test("progress() writes the value into the running job's file and emits a 'progress' event", async () => {
    await withQueue({}, async (queue, place) => {
      const events = recordEvents(queue, "progress");
      const seen: Record<string, unknown>[] = [];
      queue.registerJobHandler("steps", async () => {
        const { job, progress } = jobContext();
        await progress({ done: 1, of: 2 });
        seen.push(await readRecord(place, job));
        await progress(100);
        seen.push(await readRecord(place, job));
      });
      const completed = await runToEnd(queue, { methodName: "steps" });
      assert.deepEqual(seen.map((record) => record.progress), [{ done: 1, of: 2 }, 100]);
      assert.deepEqual(
        events.map((job) => [job.id, job.state, job.progress]),
        [
          [completed.id, JobState.IN_PROGRESS, { done: 1, of: 2 }],
          [completed.id, JobState.IN_PROGRESS, 100],
        ],
      );
    });
  });

  test("a 'progress' event arrives while the handler still runs", async () => {
    await withQueue({}, async (queue) => {
      let finished = false;
      const progressed = nextEvent(queue, "progress");
      queue.registerJobHandler("slow", async () => {
        await jobContext().progress("halfway");
        await progressed;
        finished = true;
      });
      const done = runToEnd(queue, { methodName: "slow" });
      const job = await progressed;
      assert.equal(finished, false);
      assert.equal(job.progress, "halfway");
      await done;
    });
  });

  const UNSTORABLE: [string, unknown][] = [
    ["a BigInt", 1n],
    ["a function", () => 1],
    ["NaN", NaN],
    ["undefined", undefined],
  ];
  for (const [what, value] of UNSTORABLE) {
    test(`progress() rejects ${what} with a TypeError and leaves the file as it was`, async () => {
      await withQueue({ keepCompleted: true }, async (queue, place) => {
        const events = recordEvents(queue, "progress");
        let rejection: unknown;
        let fileAfter: Record<string, unknown> | undefined;
        queue.registerJobHandler("bad", async () => {
          const { job, progress } = jobContext();
          await progress(10);
          rejection = await progress(value).then(() => undefined, (error) => error);
          fileAfter = await readRecord(place, job);
        });
        const completed = await runToEnd(queue, { methodName: "bad" });
        assert.ok(rejection instanceof TypeError, `rejected with ${String(rejection)}`);
        assert.match(rejection.message, /progress/);
        assert.equal(fileAfter?.progress, 10);
        assert.equal(events.length, 1);
        assert.equal(completed.state, JobState.COMPLETED);
        assert.equal(completed.progress, 10);
      });
    });
  }

  test("progress() rejects an object with a cycle with a TypeError", async () => {
    await withQueue({}, async (queue) => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      let rejection: unknown;
      queue.registerJobHandler("bad", async () => {
        rejection = await jobContext().progress(cyclic).then(() => undefined, (error) => error);
      });
      await runToEnd(queue, { methodName: "bad" });
      assert.ok(rejection instanceof TypeError, `rejected with ${String(rejection)}`);
    });
  });

  test("the completed job keeps the last progress, in the event and in the kept file", async () => {
    await withQueue({ keepCompleted: true }, async (queue, place) => {
      queue.registerJobHandler("count", async () => {
        for (const step of [1, 2, 3]) await jobContext().progress({ step });
        return "counted";
      });
      const completed = await runToEnd(queue, { methodName: "count" });
      assert.deepEqual(completed.progress, { step: 3 });
      assert.equal(completed.result, "counted");
      const record = await readRecord(place, completed);
      assert.deepEqual(record.progress, { step: 3 });
      assert.equal(record.result, "counted");
    });
  });

  test("the failed job keeps the last progress", async () => {
    await withQueue({}, async (queue, place) => {
      queue.on("error", () => {});
      queue.registerJobHandler("partial", async () => {
        await jobContext().progress(40);
        throw new Error("stopped at 40");
      });
      const failed = await runToEnd(queue, { methodName: "partial" });
      assert.equal(failed.state, JobState.FAILED);
      assert.equal(failed.progress, 40);
      assert.equal((await readRecord(place, failed)).progress, 40);
    });
  });
});
