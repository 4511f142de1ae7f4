/**
 * The typing of the queue's events, checked by `deno check` (part of the
 * test command): typed listeners compile, wrong ones do not. One runtime
 * test makes this file a real test under every runtime.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Job, JobEvent, JobQueue, type JobQueueError } from "../mod.ts";
import { withTempDir } from "./_helpers.ts";

/**
 * Compiles, and is never called: the `@ts-expect-error` lines would do
 * wrong things at run time, and `deno check` fails if any of them compiles.
 */
export function typeChecks(queue: JobQueue): void {
  queue.addEventListener("completed", (event) => event.job.id);
  queue.addEventListener("completed", (event) => {
    const typed: JobEvent = event;
    // @ts-expect-error -- the event is a JobEvent, not `any`
    const notANumber: number = event;
    return [typed, notANumber];
  });
  const onCompleted = (event: JobEvent): string => event.job.id;
  queue.addEventListener("completed", onCompleted);
  queue.removeEventListener("completed", onCompleted);
  queue.addEventListener("error", (event) => event.error.info);
  queue.addEventListener("error", (event) => {
    const error: JobQueueError = event.error;
    return error.info.job?.id;
  });
  queue.on("failed", (job) => job.error?.message);
  queue.on("failed", (job) => {
    const typed: Job = job;
    // @ts-expect-error -- the payload is a Job, not `any`
    const notANumber: number = job;
    return [typed, notANumber];
  });

  queue.addEventListener("completed", (event) => {
    // @ts-expect-error -- a job event carries a job, not an error
    return event.error;
  });
  // @ts-expect-error -- a "completed" listener receives the Job, not a number
  queue.on("completed", (job: number) => job);
  // @ts-expect-error -- the option is `waitTime`: a misspelt key does not compile
  queue.scheduleJob({ methodName: "x", waittime: 5 });
}

test("a typed addEventListener listener receives the JobEvent, and removeEventListener removes it", async () => {
  await withTempDir(async (directory) => {
    const queue = new JobQueue({ directory, fsync: false });
    try {
      const received: JobEvent[] = [];
      const removed: JobEvent[] = [];
      const onScheduled = (event: JobEvent) => received.push(event);
      const neverCalled = (event: JobEvent) => removed.push(event);
      queue.addEventListener("scheduled", onScheduled);
      queue.addEventListener("scheduled", neverCalled);
      queue.removeEventListener("scheduled", neverCalled);
      const job = await queue.scheduleJob({ methodName: "typed", waitTime: 60_000 });
      assert.equal(received.length, 1);
      assert.ok(received[0] instanceof JobEvent);
      assert.equal(received[0].type, "scheduled");
      assert.equal(received[0].job.id, job.id);
      assert.deepEqual(removed, []);
    } finally {
      await queue.dispose();
    }
  });
});
