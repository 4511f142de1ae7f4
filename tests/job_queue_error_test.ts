import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Job, JobQueue, JobQueueError, JobState } from "../mod.ts";
import { nextEvent, withTempDir } from "./_helpers.ts";

describe("JobQueueError", () => {
  test("a JobQueueError is an Error named 'JobQueueError' with its cause and info", () => {
    const cause = new Error("disk full");
    const job = Job.fromSpec({ methodName: "work" });
    const error = new JobQueueError("Cannot write the job: free some space", {
      cause,
      info: { job, file: "/jobs/work.json" },
    });
    assert.ok(error instanceof Error);
    assert.ok(error instanceof JobQueueError);
    assert.equal(error.name, "JobQueueError");
    assert.equal(error.message, "Cannot write the job: free some space");
    assert.equal(error.cause, cause);
    assert.equal(error.info.job, job);
    assert.equal(error.info.file, "/jobs/work.json");
    assert.match(String(error), /^JobQueueError: Cannot write the job/);
    assert.equal(typeof error.stack, "string");
  });

  test("a JobQueueError without options has empty info and no cause", () => {
    const error = new JobQueueError("something happened");
    assert.deepEqual(error.info, {});
    assert.equal(Object.hasOwn(error, "cause"), false);
  });

  test("a failed job emits an error event with the job in info and the handler's error as cause", async () => {
    await withTempDir(async (directory) => {
      const queue = new JobQueue({ directory, fsync: false });
      try {
        const thrown = new Error("SMTP down");
        queue.registerJobHandler("sendEmail", () => {
          throw thrown;
        });
        const errorEvent = nextEvent(queue, "error");
        const job = await queue.scheduleJob({ methodName: "sendEmail", params: { to: "a@b.c" } });
        await queue.start();
        const error = await errorEvent;
        assert.ok(error instanceof JobQueueError);
        assert.equal(error.cause, thrown);
        assert.equal(error.info.job?.id, job.id);
        assert.equal(error.info.job?.state, JobState.FAILED);
        assert.match(error.message, /sendEmail/);
        assert.match(error.message, /SMTP down/);
      } finally {
        await queue.dispose();
      }
    });
  });
});
