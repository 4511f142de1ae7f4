/**
 * Timeouts: an attempt that runs longer than its `timeout` fails as timed
 * out, its handler's signal is aborted, and a late result does not count.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  jobContext,
  type JobHandlerOptions,
  JobQueueError,
  type JobSpec,
  JobState,
} from "../mod.ts";
import { recordEvents, runToEnd, withQueue } from "./_helpers.ts";
import { delay } from "./_process_helpers.ts";
import { readStoredJob } from "./_store.ts";

/**
 * A handler that stops as a well-behaved one does: it rejects with its
 * signal's reason once the signal aborts. Records each attempt's signal.
 */
function stopsWhenAborted(): { handler: () => Promise<void>; signals: AbortSignal[] } {
  const signals: AbortSignal[] = [];
  const handler = () => {
    const { signal } = jobContext();
    signals.push(signal);
    return new Promise<void>((_, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  };
  return { handler, signals };
}

/**
 * Runs a job whose handler outlives its timeout, set in the handler options
 * or in the spec, and checks how its attempt failed.
 */
async function assertTimesOut(
  handlerOptions: JobHandlerOptions,
  spec: Omit<JobSpec, "methodName">,
): Promise<void> {
  await withQueue({}, async (queue, place) => {
    const { handler, signals } = stopsWhenAborted();
    queue.registerJobHandler("slow", handler, handlerOptions);
    const errors = recordEvents(queue, "error");
    const job = await runToEnd(queue, { methodName: "slow", ...spec });
    assert.equal(job.state, JobState.FAILED);
    assert.equal(job.attempts, 1);

    assert.equal(errors.length, 1);
    const error = errors[0]!;
    assert.ok(error instanceof JobQueueError);
    assert.match(error.message, /timed out after 100 ms/);
    assert.equal(error.info.job?.id, job.id);
    const cause = error.cause as DOMException;
    assert.ok(cause instanceof DOMException, `the cause is ${String(cause)}`);
    assert.equal(cause.name, "TimeoutError");

    assert.equal(signals.length, 1);
    assert.ok(signals[0]!.aborted);
    assert.equal(signals[0]!.reason, cause);

    const stored = await readStoredJob(place, job);
    assert.equal(stored.state, JobState.FAILED);
    assert.equal(stored.error?.name, "JobQueueError");
    assert.match(stored.error?.message ?? "", /timed out after 100 ms/);
  });
}

describe("timeouts", () => {
  test("a handler that outlives the timeout of its handler options fails as timed out, and its signal aborts", async () => {
    await assertTimesOut({ timeout: 100 }, {});
  });

  test("a handler that outlives the timeout of its job's spec fails as timed out, whatever its handler's timeout", async () => {
    await assertTimesOut({ timeout: 60_000 }, { timeout: 100 });
  });

  test("a timed-out attempt counts as an attempt: with maxAttempts 2 the job is retried", async () => {
    await withQueue({}, async (queue) => {
      const { handler: stop, signals } = stopsWhenAborted();
      // The first attempt hangs until it times out; the second finishes.
      queue.registerJobHandler(
        "slowOnce",
        () => signals.length === 0 ? stop() : undefined,
        { maxAttempts: 2, timeout: 100, backoff: { type: "fixed", delay: 10 } },
      );
      const retrying = recordEvents(queue, "retrying");
      const job = await runToEnd(queue, { methodName: "slowOnce" });
      assert.equal(job.state, JobState.COMPLETED);
      assert.equal(job.attempts, 2);
      assert.equal(retrying.length, 1);
      assert.equal(retrying[0]!.attempts, 1);
      assert.equal(retrying[0]!.error?.name, "JobQueueError");
      assert.match(retrying[0]!.error?.message ?? "", /timed out after 100 ms/);
      assert.ok(signals[0]!.aborted);
    });
  });

  test("a handler that settles within its timeout completes, and a job's timeout wins over its handler's", async () => {
    await withQueue({}, async (queue) => {
      const signals: AbortSignal[] = [];
      // 300 ms is past the handler's timeout but well within the job's.
      queue.registerJobHandler("steady", async () => {
        signals.push(jobContext().signal);
        await delay(300);
      }, { timeout: 100 });
      const job = await runToEnd(queue, { methodName: "steady", timeout: 60_000 });
      assert.equal(job.state, JobState.COMPLETED);
      assert.equal(job.attempts, 1);
      assert.equal(signals.length, 1);
      assert.equal(signals[0]!.aborted, false);
    });
  });
});
