/**
 * Retries: how many times a job runs, how long it waits between attempts,
 * what its file records about them, and how failed jobs are run again.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  Job,
  type JobContext,
  jobContext,
  type JobHandlerOptions,
  JobQueue,
  JobQueueError,
  type JobSpec,
  JobState,
} from "../mod.ts";
import { deferred, outcomeOf, recordEvents, runToEnd, withQueue } from "./_helpers.ts";
import { delay, withDeadline } from "./_process_helpers.ts";
import { readStoredJob, storedIds, storeOptions, withPlace } from "./_store.ts";

/** One call of a {@linkcode failingFirst} handler. */
interface Call {
  /** `jobContext().attempt`. */
  readonly attempt: number;
  /** `jobContext().job.startedAt`. */
  readonly startedAt: number;
  /** When the handler threw, if it did. */
  readonly failedAt?: number;
}

/**
 * A handler that throws `Error("attempt N failed")` on its first `failures`
 * calls and resolves afterwards, recording each call and each error.
 */
function failingFirst(failures: number): {
  handler: () => void;
  calls: Call[];
  errors: Error[];
} {
  const calls: Call[] = [];
  const errors: Error[] = [];
  const handler = () => {
    const { attempt, job } = jobContext();
    const startedAt = job.startedAt!;
    if (calls.length >= failures) {
      calls.push({ attempt, startedAt });
      return;
    }
    const error = new Error(`attempt ${calls.length + 1} failed`);
    errors.push(error);
    calls.push({ attempt, startedAt, failedAt: Date.now() });
    throw error;
  };
  return { handler, calls, errors };
}

/**
 * Asserts that each attempt after a failure started at least `waits[i]` ms
 * after the handler threw: lower bounds only, as a busy machine may be late.
 */
function assertWaited(calls: Call[], waits: number[]): void {
  assert.equal(calls.length, waits.length + 1);
  waits.forEach((wait, i) => {
    const gap = calls[i + 1]!.startedAt - calls[i]!.failedAt!;
    assert.ok(gap >= wait, `attempt ${i + 2} started ${gap} ms after the failure, not ${wait}`);
  });
}

/** Specs and handler options that must be refused, and with which error. */
const INVALID_OPTIONS: [string, Record<string, unknown>, typeof RangeError | typeof TypeError][] = [
  ["maxAttempts 0", { maxAttempts: 0 }, RangeError],
  ["maxAttempts 1.5", { maxAttempts: 1.5 }, RangeError],
  ['maxAttempts "3"', { maxAttempts: "3" }, TypeError],
  ["timeout 0", { timeout: 0 }, RangeError],
  // Beyond setTimeout's limit a timer fires at once: such a timeout is refused.
  ["timeout 2^31 ms", { timeout: 2 ** 31 }, RangeError],
  ['backoff { type: "linear" }', { backoff: { type: "linear", delay: 10 } }, TypeError],
  // Beyond a year a wait is a mistake, and beyond 2^53 ms no date can hold it.
  ["a fixed backoff of 1e17 ms", { backoff: { type: "fixed", delay: 1e17 } }, RangeError],
  ["a fixed backoff of one year and 1 ms", {
    backoff: { type: "fixed", delay: 365 * 24 * 3_600_000 + 1 },
  }, RangeError],
  ["an exponential backoff of Infinity", {
    backoff: { type: "exponential", delay: Infinity },
  }, RangeError],
  ["a maxDelay of 1e17 ms", {
    backoff: { type: "exponential", delay: 10, maxDelay: 1e17 },
  }, RangeError],
  ["a negative backoff", { backoff: { type: "fixed", delay: -1 } }, RangeError],
  ['a backoff delay of "10"', { backoff: { type: "fixed", delay: "10" } }, TypeError],
];

describe("retries: attempts", () => {
  test("by default a job runs once: a throwing handler fails it after one attempt, without a retrying event", async () => {
    await withQueue({}, async (queue, place) => {
      const { handler, calls } = failingFirst(Infinity);
      queue.registerJobHandler("once", handler);
      const retrying = recordEvents(queue, "retrying");
      const job = await runToEnd(queue, { methodName: "once" });
      assert.equal(job.state, JobState.FAILED);
      assert.equal(job.attempts, 1);
      assert.equal(calls.length, 1);
      assert.deepEqual(retrying, []);
      const stored = await readStoredJob(place, job);
      assert.equal(stored.state, JobState.FAILED);
      assert.equal(stored.attempts, 1);
      assert.equal(stored.error?.message, "attempt 1 failed");
    });
  });

  test("maxAttempts in the handler options retries a failing job until it completes", async () => {
    await withQueue({}, async (queue) => {
      const { handler, calls } = failingFirst(2);
      queue.registerJobHandler("flaky", handler, {
        maxAttempts: 3,
        backoff: { type: "fixed", delay: 20 },
      });
      const retrying = recordEvents(queue, "retrying");
      const scheduled = await queue.scheduleJob({ methodName: "flaky" });
      const outcome = outcomeOf(queue, scheduled.id);
      await queue.start();
      const job = await outcome;
      assert.equal(job.state, JobState.COMPLETED);
      assert.equal(job.attempts, 3);
      assert.deepEqual(calls.map((call) => call.attempt), [1, 2, 3]);
      assert.equal(retrying.length, 2);
      retrying.forEach((waiting, i) => {
        assert.equal(waiting.id, scheduled.id);
        assert.equal(waiting.state, JobState.NOT_STARTED);
        assert.equal(waiting.attempts, i + 1);
        assert.equal(waiting.error?.name, "Error");
        assert.equal(waiting.error?.message, `attempt ${i + 1} failed`);
        assert.ok(waiting.executionDate > scheduled.executionDate);
        assert.ok(waiting.executionDate >= calls[i]!.failedAt! + 20);
      });
    });
  });

  test("a job that keeps failing is FAILED after exactly maxAttempts, with the last error in its file", async () => {
    await withQueue({}, async (queue, place) => {
      const { handler, calls, errors } = failingFirst(Infinity);
      queue.registerJobHandler("doomed", handler, {
        maxAttempts: 3,
        backoff: { type: "fixed", delay: 10 },
      });
      const failures = recordEvents(queue, "error");
      const job = await runToEnd(queue, { methodName: "doomed" });
      assert.equal(job.state, JobState.FAILED);
      assert.equal(job.attempts, 3);
      assert.equal(calls.length, 3);
      const stored = await readStoredJob(place, job);
      assert.equal(stored.state, JobState.FAILED);
      assert.equal(stored.attempts, 3);
      assert.equal(stored.error?.name, "Error");
      assert.equal(stored.error?.message, "attempt 3 failed");
      // Only the last attempt's failure is an error: the others were retried.
      assert.equal(failures.length, 1);
      assert.equal(failures[0]!.cause, errors[2]);
    });
  });

  test("a job's maxAttempts and backoff win over its handler's", async () => {
    await withQueue({}, async (queue) => {
      const { handler, calls } = failingFirst(Infinity);
      const backoffCalls: number[] = [];
      queue.registerJobHandler("spec", handler, {
        maxAttempts: 5,
        backoff: (attempt) => {
          backoffCalls.push(attempt);
          return 0;
        },
      });
      const job = await runToEnd(queue, {
        methodName: "spec",
        maxAttempts: 2,
        backoff: { type: "fixed", delay: 100 },
      });
      assert.equal(job.state, JobState.FAILED);
      assert.equal(job.attempts, 2);
      assert.deepEqual(backoffCalls, []);
      assertWaited(calls, [100]);
    });
  });

  test("a job's maxAttempts may also allow more attempts than its handler's", async () => {
    await withQueue({}, async (queue) => {
      const { handler } = failingFirst(2);
      queue.registerJobHandler("spec", handler, { maxAttempts: 1 });
      const job = await runToEnd(queue, {
        methodName: "spec",
        maxAttempts: 3,
        backoff: { type: "fixed", delay: 10 },
      });
      assert.equal(job.state, JobState.COMPLETED);
      assert.equal(job.attempts, 3);
    });
  });

  test("a job without a handler fails at once, even with maxAttempts 3", async () => {
    await withQueue({}, async (queue) => {
      const retrying = recordEvents(queue, "retrying");
      const job = await runToEnd(queue, {
        methodName: "unregistered",
        maxAttempts: 3,
        backoff: { type: "fixed", delay: 10 },
      });
      assert.equal(job.state, JobState.FAILED);
      assert.equal(job.attempts, 1);
      assert.match(job.error?.message ?? "", /unregistered/);
      assert.deepEqual(retrying, []);
    });
  });

  test("the attempts made and the last error survive a restart during the backoff wait", async () => {
    await withPlace(async (place) => {
      const first = new JobQueue(storeOptions(place));
      let scheduled: Job;
      let firstRuns = 0;
      try {
        first.registerJobHandler("flaky", () => {
          firstRuns++;
          throw new Error("the first attempt failed");
        });
        scheduled = await first.scheduleJob({
          methodName: "flaky",
          maxAttempts: 3,
          backoff: { type: "fixed", delay: 200 },
        });
        // dispose() is called from the listener, before the engine can start
        // the next attempt, so that the restart surely falls in the wait.
        const retrying = new Promise<void>((resolve) =>
          first.on("retrying", () => {
            void first.dispose();
            resolve();
          })
        );
        await first.start();
        await withDeadline(retrying, 10_000, "a retrying event");
      } finally {
        await first.dispose();
      }
      assert.equal(firstRuns, 1);
      const stored = await readStoredJob(place, scheduled);
      assert.equal(stored.state, JobState.NOT_STARTED);
      assert.equal(stored.attempts, 1);
      assert.equal(stored.error?.message, "the first attempt failed");

      const second = new JobQueue(storeOptions(place));
      try {
        const contexts: JobContext[] = [];
        second.registerJobHandler("flaky", () => {
          contexts.push(jobContext());
        });
        const outcome = outcomeOf(second, scheduled.id);
        await second.start();
        const job = await outcome;
        assert.equal(job.state, JobState.COMPLETED);
        assert.equal(job.attempts, 2);
        assert.equal(contexts.length, 1);
        assert.equal(contexts[0]!.attempt, 2);
        assert.equal(contexts[0]!.job.error?.message, "the first attempt failed");
      } finally {
        await second.dispose();
      }
    });
  });
});

describe("retries: backoff", () => {
  test("a fixed backoff waits its delay before each retry", async () => {
    await withQueue({}, async (queue) => {
      const { handler, calls } = failingFirst(Infinity);
      queue.registerJobHandler("fixed", handler, {
        maxAttempts: 3,
        backoff: { type: "fixed", delay: 200 },
      });
      const job = await runToEnd(queue, { methodName: "fixed" });
      assert.equal(job.attempts, 3);
      assertWaited(calls, [200, 200]);
    });
  });

  test("another engine on the directory waits for the backoff too", async () => {
    await withPlace(async (place) => {
      const release = deferred<void>();
      const calls: Call[] = [];
      // Shared by both engines: the first attempt holds its claim until
      // released, so that the other engine finds the job claimed meanwhile.
      const handler = async () => {
        const { attempt, job } = jobContext();
        if (attempt === 1) {
          await release.promise;
          calls.push({ attempt, startedAt: job.startedAt!, failedAt: Date.now() });
          throw new Error("attempt 1 failed");
        }
        calls.push({ attempt, startedAt: job.startedAt! });
      };
      const queues = [1, 2].map(() => new JobQueue({ ...storeOptions(place), pollInterval: 20 }));
      try {
        for (const queue of queues) {
          queue.registerJobHandler("shared", handler, {
            maxAttempts: 2,
            backoff: { type: "fixed", delay: 1000 },
          });
        }
        const scheduled = await queues[0]!.scheduleJob({ methodName: "shared" });
        const outcome = outcomeOf(queues, scheduled.id);
        await Promise.all(queues.map((queue) => queue.start()));
        // Both engines find the job due at once; 300 ms is many polls for
        // the one that lost the claim to see it held.
        await delay(300);
        release.resolve();
        const job = await outcome;
        assert.equal(job.state, JobState.COMPLETED);
        assertWaited(calls, [1000]);
      } finally {
        await Promise.all(queues.map((queue) => queue.dispose()));
      }
    });
  });

  test("an exponential backoff without jitter doubles its wait after each failure", async () => {
    await withQueue({}, async (queue) => {
      const { handler, calls } = failingFirst(Infinity);
      queue.registerJobHandler("exponential", handler, {
        maxAttempts: 3,
        backoff: { type: "exponential", delay: 50, jitter: false },
      });
      const job = await runToEnd(queue, { methodName: "exponential" });
      assert.equal(job.attempts, 3);
      assertWaited(calls, [50, 100]);
    });
  });

  test("a backoff function is called with the attempt and the error, and its result is the wait", async () => {
    await withQueue({}, async (queue) => {
      const { handler, calls, errors } = failingFirst(Infinity);
      const backoffCalls: [number, unknown][] = [];
      queue.registerJobHandler("custom", handler, {
        maxAttempts: 3,
        backoff: (attempt, error) => {
          backoffCalls.push([attempt, error]);
          return 150;
        },
      });
      const job = await runToEnd(queue, { methodName: "custom" });
      assert.equal(job.attempts, 3);
      // Not called after the last attempt: there is no wait after it.
      assert.deepEqual(backoffCalls, [[1, errors[0]], [2, errors[1]]]);
      assertWaited(calls, [150, 150]);
    });
  });

  test("a job spec cannot hold a backoff function: scheduleJob() rejects with a TypeError and writes nothing", async () => {
    await withQueue({}, async (queue, place) => {
      const spec = { methodName: "custom", backoff: () => 10 } as unknown as JobSpec;
      await assert.rejects(queue.scheduleJob(spec), TypeError);
      assert.deepEqual(await storedIds(place), []);
      assert.deepEqual(await queue.getAllJobs(), []);
    });
  });

  for (const result of [NaN, "soon"]) {
    test(`a backoff function that returns ${result} is reported, and the default backoff is used`, async () => {
      await withQueue({}, async (queue) => {
        const { handler } = failingFirst(1);
        queue.registerJobHandler("broken", handler, {
          maxAttempts: 2,
          backoff: () => result as number,
        });
        const errors = recordEvents(queue, "error");
        const job = await runToEnd(queue, { methodName: "broken" });
        assert.equal(job.state, JobState.COMPLETED);
        assert.equal(job.attempts, 2);
        assert.equal(errors.length, 1);
        assert.ok(errors[0] instanceof JobQueueError);
        assert.match(errors[0].message, /backoff/);
        assert.equal(errors[0].info.job?.id, job.id);
      });
    });
  }
});

/** One year in ms: the longest wait between attempts. */
const MAX_BACKOFF_DELAY = 365 * 24 * 3_600_000;

/**
 * Runs a job of a handler that always throws `thrown`, with `options`, until
 * its outcome (or the first `retrying` event with `untilRetrying`), and
 * reads its file then; fails
 * the test within 5 s rather than wait for a handler rerun without end.
 */
async function runThrowing(
  thrown: () => unknown,
  options: JobHandlerOptions,
  untilRetrying = false,
): Promise<{ job: Job; runs: number; errors: JobQueueError[]; stored: Job }> {
  let result!: { job: Job; runs: number; errors: JobQueueError[]; stored: Job };
  await withQueue({}, async (queue, place) => {
    let runs = 0;
    queue.registerJobHandler("odd", () => {
      runs++;
      throw thrown();
    }, options);
    const errors = recordEvents(queue, "error");
    const scheduled = await queue.scheduleJob({ methodName: "odd" });
    const outcome = untilRetrying
      ? withDeadline(nextRetry(queue), 5000, "a retrying event")
      : outcomeOf(queue, scheduled.id, 5000);
    await queue.start();
    const job = await outcome;
    result = { job, runs, errors, stored: await readStoredJob(place, job) };
  });
  return result;
}

function nextRetry(queue: JobQueue): Promise<Job> {
  return new Promise((resolve) => queue.on("retrying", resolve));
}

/** Values a handler may throw that resist being turned into an error record. */
const ODD_THROWN_VALUES: [string, () => unknown][] = [
  ["Object.create(null)", () => Object.create(null)],
  ["an object whose toString throws", () => ({
    toString() {
      throw new Error("no text for you");
    },
  })],
  ["an Error whose stack is null", () => Object.assign(new Error("stackless"), { stack: null })],
  ["a proxy that throws on every trap", () =>
    new Proxy({}, {
      get() {
        throw new Error("trap");
      },
      getPrototypeOf() {
        throw new Error("trap");
      },
      has() {
        throw new Error("trap");
      },
    })],
];

describe("retries: odd thrown values and backoffs", () => {
  for (const [name, thrown] of ODD_THROWN_VALUES) {
    test(`a handler that throws ${name} runs exactly maxAttempts times, and its job is FAILED with a readable error`, async () => {
      const { job, runs, stored } = await runThrowing(thrown, {
        maxAttempts: 2,
        backoff: { type: "fixed", delay: 0 },
      });
      assert.equal(runs, 2);
      assert.equal(job.state, JobState.FAILED);
      assert.equal(job.attempts, 2);
      assert.equal(typeof job.error?.name, "string");
      assert.ok(job.error!.message.length > 0, "the error says something");
      assert.equal(job.error!.stack === undefined || typeof job.error!.stack === "string", true);
      assert.equal(stored.state, JobState.FAILED);
      assert.deepEqual(stored.error, job.error);
    });
  }

  test("an Error whose stack is null keeps its name and message", async () => {
    const { job } = await runThrowing(
      () => Object.assign(new RangeError("stackless"), { stack: null }),
      {},
    );
    assert.deepEqual(job.error, { name: "RangeError", message: "stackless" });
  });

  for (const result of [1e16, Infinity]) {
    test(`a backoff function that returns ${result} is reported and clamped to one year, and the job waits for its retry`, async () => {
      const before = Date.now();
      const { job, runs, errors } = await runThrowing(
        () => new Error("down"),
        { maxAttempts: 2, backoff: () => result },
        true,
      );
      assert.equal(runs, 1);
      assert.equal(job.state, JobState.NOT_STARTED);
      assert.equal(job.attempts, 1);
      assert.equal(job.error?.message, "down");
      assert.ok(job.executionDate >= before + MAX_BACKOFF_DELAY, String(job.executionDate));
      assert.ok(job.executionDate <= Date.now() + MAX_BACKOFF_DELAY, String(job.executionDate));
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.message, /backoff/);
      assert.equal(errors[0]!.info.job?.id, job.id);
    });
  }

  test("a backoff function that returns -1 is reported and clamped to 0: the job runs exactly maxAttempts times", async () => {
    const { job, runs, errors } = await runThrowing(() => new Error("down"), {
      maxAttempts: 3,
      backoff: () => -1,
    });
    assert.equal(runs, 3);
    assert.equal(job.state, JobState.FAILED);
    const reports = errors.filter((error) => /backoff/.test(error.message));
    assert.equal(reports.length, 2);
    for (const report of reports) assert.match(report.message, /returned -1 ms.*waits 0 ms/);
  });
});

describe("retries: running failed jobs again", () => {
  test("retryJob() replaces a failed job by a new one, with a new id and a fresh set of attempts", async () => {
    await withQueue({}, async (queue) => {
      // Fails both attempts of the first run and the first of the second.
      const { handler, calls } = failingFirst(3);
      queue.registerJobHandler("flaky", handler, {
        maxAttempts: 2,
        backoff: { type: "fixed", delay: 10 },
      });
      const failed = await runToEnd(queue, { methodName: "flaky" });
      assert.equal(failed.state, JobState.FAILED);
      assert.equal(failed.attempts, 2);

      const revived = await queue.retryJob(failed.id);
      assert.ok(revived.id > failed.id, "the new id sorts by the new execution date");
      assert.equal(revived.methodName, failed.methodName);
      assert.equal(revived.state, JobState.NOT_STARTED);
      assert.equal(revived.attempts, 0);
      assert.equal(revived.finishedAt, undefined, "a job waiting to run has not finished");
      assert.equal(revived.error, undefined);
      const job = await queue.settled(revived.id);
      assert.equal(job?.state, JobState.COMPLETED);
      assert.equal(job.attempts, 2);
      assert.deepEqual(calls.map((call) => call.attempt), [1, 2, 1, 2]);
      assert.deepEqual(await queue.getAllJobs(), [], "the failed file was replaced");
    });
  });

  test("retryJob() rejects with a JobQueueError for an unknown id or a job that has not failed", async () => {
    await withQueue({ keepCompleted: true }, async (queue, place) => {
      queue.registerJobHandler("work", () => {});
      const completed = await runToEnd(queue, { methodName: "work" });
      const waiting = await queue.scheduleJob({ methodName: "work", waitTime: 60_000 });
      const unknown = Job.fromSpec({ methodName: "work" });
      for (const id of [unknown.id, "not-a-job-id", completed.id, waiting.id]) {
        await assert.rejects(queue.retryJob(id), JobQueueError, `retryJob(${id})`);
      }
      assert.equal((await readStoredJob(place, completed)).state, JobState.COMPLETED);
      const stillWaiting = await readStoredJob(place, waiting);
      assert.equal(stillWaiting.state, JobState.NOT_STARTED);
      assert.equal(stillWaiting.executionDate, waiting.executionDate);
    });
  });

  test("retryFailedJobs() counts and runs again only failed jobs, all of them or one method's", async () => {
    await withQueue({ keepCompleted: true }, async (queue, place) => {
      let broken = true;
      const runs = new Map<string, number>();
      const handler = (name: string) => {
        runs.set(name, (runs.get(name) ?? 0) + 1);
        if (broken && name !== "a-ok") throw new Error(`${name} failed`);
      };
      queue.registerJobHandler("a", handler);
      queue.registerJobHandler("b", handler);
      const jobs = new Map<string, Job>();
      for (const [methodName, name] of [["a", "a-ok"], ["a", "a-1"], ["a", "a-2"], ["b", "b-1"]]) {
        jobs.set(name!, await queue.scheduleJob({ methodName: methodName!, params: name }));
      }
      const later = await queue.scheduleJob({ methodName: "a", params: "later", waitTime: 60_000 });
      const outcomes = [...jobs.values()].map((job) => outcomeOf(queue, job.id));
      await queue.start();
      assert.deepEqual((await Promise.all(outcomes)).map((job) => job.state), [
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.FAILED,
        JobState.FAILED,
      ]);

      broken = false;
      const statesByParams = async () =>
        Object.fromEntries((await queue.getAllJobs()).map((job) => [job.params, job.state]));
      assert.equal(await queue.retryFailedJobs("a"), 2);
      await queue.onIdle();
      assert.deepEqual(await statesByParams(), {
        "a-ok": JobState.COMPLETED,
        "a-1": JobState.COMPLETED,
        "a-2": JobState.COMPLETED,
        "b-1": JobState.FAILED,
        later: JobState.NOT_STARTED,
      });

      assert.equal(await queue.retryFailedJobs(), 1);
      await queue.onIdle();
      assert.equal((await statesByParams())["b-1"], JobState.COMPLETED);
      assert.equal(await queue.retryFailedJobs(), 0);

      // The completed job and the waiting one were left alone.
      assert.deepEqual(Object.fromEntries(runs), { "a-ok": 1, "a-1": 2, "a-2": 2, "b-1": 2 });
      const stillWaiting = await readStoredJob(place, later);
      assert.equal(stillWaiting.state, JobState.NOT_STARTED);
      assert.equal(stillWaiting.attempts, 0);
    });
  });
});

describe("retries: invalid options", () => {
  for (const [name, options, error] of INVALID_OPTIONS) {
    test(`registerJobHandler() refuses ${name} with a ${error.name}`, async () => {
      await withQueue({}, (queue) => {
        assert.throws(
          () => queue.registerJobHandler("work", () => {}, options as JobHandlerOptions),
          error,
        );
        return Promise.resolve();
      });
    });

    test(`scheduleJob() refuses ${name} with a ${error.name} and writes nothing`, async () => {
      await withQueue({}, async (queue, place) => {
        const spec = { methodName: "work", ...options } as unknown as JobSpec;
        await assert.rejects(queue.scheduleJob(spec), error);
        assert.deepEqual(await storedIds(place), []);
      });
    });
  }
});
