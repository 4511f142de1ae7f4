/**
 * Every code example of the seed document, in TypeScript, kept in its shape
 * and with its API calls, and checked to do what the seed says. The services
 * the examples call (emailService, fileProcessor, …) are stand-ins that record
 * their calls; a temporary directory replaces '/path/to/jobs'.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  Job,
  JobQueue,
  JobQueueEngine,
  JobQueueError,
  type JobRecord,
  JobState,
  LockingQueue,
} from "../mod.ts";
import { deferred, nextEvent, withTempDir } from "./_helpers.ts";

/** A stand-in for a service function: records each call's arguments. */
interface Stub<R> {
  (...args: unknown[]): Promise<R>;
  readonly calls: unknown[][];
  /** Resolves once the stub has been called `count` times in all; rejects after 10 s. */
  calledTimes(count: number): Promise<void>;
}

function stub<R = void>(implementation?: (...args: unknown[]) => R): Stub<R> {
  const calls: unknown[][] = [];
  const waiters = new Set<() => void>();
  const fn = (...args: unknown[]): Promise<R> => {
    calls.push(args);
    for (const waiter of waiters) waiter();
    // Like an async service: an implementation that throws rejects.
    return new Promise((resolve) => resolve(implementation?.(...args) as R));
  };
  const calledTimes = (count: number) =>
    within(
      new Promise<void>((resolve) => {
        const check = () => {
          if (calls.length < count) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      }),
      `${count} call(s) of a stub`,
    );
  return Object.assign(fn, { calls, calledTimes });
}

/** A stand-in for `console`, so that what an example logs is checked, not printed. */
function recordingConsole() {
  const entries: { level: "log" | "error"; args: unknown[] }[] = [];
  return {
    entries,
    log: (...args: unknown[]) => entries.push({ level: "log", args }),
    error: (...args: unknown[]) => entries.push({ level: "error", args }),
  };
}

/** Rejects if `promise` has not settled within `ms`, so that a broken example fails instead of hanging. */
function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`No ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readRecord(directory: string, job: Job): Promise<JobRecord> {
  return JSON.parse(await readFile(join(directory, `${job.key}.json`), "utf8"));
}

/**
 * Schedules `count` "hold" jobs whose handlers each wait until `count` of
 * them run at once: it resolves only if the queue really runs that many
 * together (a lower limit leaves them waiting, and the call times out).
 */
async function runAtOnce(queue: JobQueue, count: number): Promise<void> {
  let running = 0;
  const allRunning = deferred<void>();
  queue.registerJobHandler("hold", async () => {
    if (++running === count) allRunning.resolve();
    await allRunning.promise;
  });
  const completed = Promise.all(
    Array.from({ length: count }, () => nextEvent(queue, "completed")),
  );
  for (let i = 0; i < count; i++) await queue.scheduleJob({ methodName: "hold" });
  await within(allRunning.promise, `${count} handlers running at once`);
  await completed;
}

describe("the seed's JobQueue usage", () => {
  // The example waits 5 s, which is longer than some runners' default test timeout.
  test("sends the email 5 seconds after it was scheduled, once the queue is started", {
    timeout: 20_000,
  }, async () => {
    await withTempDir(async (directory) => {
      const console = recordingConsole();
      const sendEmail = stub();

      const queue = new JobQueue({
        directory,
        maxConcurrency: 2,
        fsync: false,
      });

      // Register job handlers
      queue.registerJobHandler("sendEmail", async (params) => {
        // Email sending logic
        await sendEmail(params.to, params.subject, params.body);
      });

      // Schedule jobs
      const job = await queue.scheduleJob({
        methodName: "sendEmail",
        params: { to: "user@example.com", subject: "Hello", body: "Welcome!" },
        waitTime: 5000, // Run in 5 seconds
      });

      // Start processing
      const started = nextEvent(queue, "started", undefined, 15_000);
      queue.start();

      // Listen for events
      queue.on("error", (error) => console.error("Job error:", error));

      try {
        assert.equal(job.executionDate - job.createdAt, 5000);
        const startedJob = await started;
        assert.ok(startedJob.startedAt! >= job.executionDate, "started before its wait time");
        await sendEmail.calledTimes(1);
        assert.deepEqual(sendEmail.calls, [["user@example.com", "Hello", "Welcome!"]]);
      } finally {
        await queue.dispose();
      }
      // By default a completed job's file is removed once its outcome is in.
      await assert.rejects(readRecord(directory, job), { code: "ENOENT" });
      assert.deepEqual(console.entries, []);
    });
  });
});

describe("the seed's JobQueueEngine usage", () => {
  test("loads the jobs already in the directory and processes them", async () => {
    await withTempDir(async (directory) => {
      const console = recordingConsole();
      const processData = stub();
      // Jobs stored earlier, by a queue that has since gone away.
      const earlier = new JobQueue({ directory, fsync: false });
      await earlier.scheduleJob({ methodName: "processData", params: { batch: 1 } });
      await earlier.scheduleJob({ methodName: "processData", params: { batch: 2 } });
      await earlier.dispose();

      const engine = new JobQueueEngine({
        directory,
        maxConcurrency: 3,
        fsync: false,
        eventListener: (eventName, event) => {
          console.log(`${eventName}:`, event);
        },
      });

      // Register handlers
      engine.registerJobHandler("processData", async (params) => {
        // Data processing logic
        await processData(params);
      });

      // Load existing jobs and start processing
      await engine.load();
      await engine.startNextJob();

      try {
        await processData.calledTimes(2);
        assert.deepEqual(
          processData.calls.map(([params]) => params).sort((a, b) =>
            (a as { batch: number }).batch - (b as { batch: number }).batch
          ),
          [{ batch: 1 }, { batch: 2 }],
        );
      } finally {
        await engine.dispose();
      }
      const debugMessages = console.entries
        .filter(({ args }) => args[0] === "debug:")
        .map(({ args }) => (args[1] as { message: string }).message);
      assert.ok(debugMessages.includes("loaded jobs"), `debug messages: ${debugMessages}`);
      assert.ok(debugMessages.includes("starting job"));
      assert.equal(debugMessages.filter((message) => message === "completed job").length, 2);
      // By default completed jobs' files are removed: none is left to list.
      const reader = new JobQueueEngine({ directory, fsync: false });
      try {
        assert.deepEqual(await reader.getAllJobs(), []);
      } finally {
        await reader.dispose();
      }
    });
  });
});

describe("the seed's Job usage", () => {
  test("a job created from a spec is deferred by its waitTime and keyed by method and id", () => {
    // Create job from specification
    const job = Job.fromSpec({
      methodName: "processOrder",
      params: { orderId: "12345", userId: "user123" },
      waitTime: 10000, // Run in 10 seconds
    });

    // Check job state
    assert.equal(job.state, "NOT_STARTED");
    assert.equal(job.isReady(), false); // false (due to waitTime)
    assert.equal(job.isReady(job.executionDate), true);

    // Get job information
    assert.match(job.id, /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-[0-9a-z-]+$/);
    assert.equal(job.executionDateString, new Date(job.executionDate).toISOString());
    assert.equal(job.executionDate - job.createdAt, 10000);
    assert.equal(job.key, `processOrder__${job.id}`);
    assert.notEqual(Job.fromSpec({ methodName: "processOrder" }).id, job.id);
  });

  test("jobs have the four states of the seed", () => {
    assert.deepEqual(Object.values(JobState), [
      "NOT_STARTED",
      "IN_PROGRESS",
      "COMPLETED",
      "FAILED",
    ]);
  });
});

describe("the seed's scheduling examples", () => {
  test("an immediate job runs as soon as the queue runs", async () => {
    await withTempDir(async (directory) => {
      const notify = stub();
      const queue = new JobQueue({ directory, fsync: false });
      queue.registerJobHandler("sendNotification", notify);
      try {
        await queue.start();

        await queue.scheduleJob({
          methodName: "sendNotification",
          params: { userId: "123", message: "Hello!" },
        });

        await notify.calledTimes(1);
        assert.deepEqual(notify.calls, [[{ userId: "123", message: "Hello!" }]]);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("a job with waitTime waits; a job whose executionDate has passed runs at once", async () => {
    await withTempDir(async (directory) => {
      const sendReminder = stub();
      const sendReport = stub();
      const queue = new JobQueue({ directory, fsync: false });
      queue.registerJobHandler("sendReminder", sendReminder);
      queue.registerJobHandler("sendReport", sendReport);
      try {
        // Using waitTime (milliseconds)
        const reminder = await queue.scheduleJob({
          methodName: "sendReminder",
          params: { userId: "123" },
          waitTime: 24 * 60 * 60 * 1000, // 24 hours
        });

        // Using executionDate
        const report = await queue.scheduleJob({
          methodName: "sendReport",
          params: { reportType: "monthly" },
          executionDate: new Date("2024-02-01T09:00:00Z").getTime(),
        });

        assert.equal(reminder.executionDate - reminder.createdAt, 24 * 60 * 60 * 1000);
        assert.equal(report.executionDateString, "2024-02-01T09:00:00.000Z");
        await queue.start();
        await sendReport.calledTimes(1);
        assert.deepEqual(sendReport.calls, [[{ reportType: "monthly" }]]);
        // The reminder is a day away: give a queue that ignored its date
        // ample time (the report ran long ago) to start it by mistake.
        await delay(300);
        assert.equal(sendReminder.calls.length, 0);
        assert.equal((await readRecord(directory, reminder)).state, JobState.NOT_STARTED);
      } finally {
        await queue.dispose();
      }
    });
  });
});

describe("the seed's handler examples", () => {
  test("a simple handler receives the params object", async () => {
    await withTempDir(async (directory) => {
      const emailService = { send: stub() };
      const queue = new JobQueue({ directory, fsync: false });

      queue.registerJobHandler("sendEmail", async (params) => {
        const { to, subject, body } = params;
        await emailService.send(to, subject, body);
      });

      try {
        await queue.scheduleJob({
          methodName: "sendEmail",
          params: { to: "ann@example.com", subject: "Hi", body: "Hello Ann" },
        });
        await queue.start();
        await emailService.send.calledTimes(1);
        assert.deepEqual(emailService.send.calls, [["ann@example.com", "Hi", "Hello Ann"]]);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("a handler with array parameters receives them spread, in order", async () => {
    await withTempDir(async (directory) => {
      const processItem = stub();
      const queue = new JobQueue({ directory, fsync: false });

      queue.registerJobHandler("processBatch", async (...items) => {
        for (const item of items) {
          await processItem(item);
        }
      });

      // Schedule with array parameters
      await queue.scheduleJob({
        methodName: "processBatch",
        params: ["item1", "item2", "item3"],
      });

      try {
        await queue.start();
        await processItem.calledTimes(3);
        assert.deepEqual(processItem.calls, [["item1"], ["item2"], ["item3"]]);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("a handler that re-throws marks its job as failed", async () => {
    await withTempDir(async (directory) => {
      const console = recordingConsole();
      const failure = new Error("the risky operation failed");
      const performRiskyOperation = stub(() => {
        throw failure;
      });
      const queue = new JobQueue({ directory, fsync: false });

      queue.registerJobHandler("riskyOperation", async (params) => {
        try {
          await performRiskyOperation(params);
        } catch (error) {
          // Log error but don't re-throw to mark job as failed
          console.error("Operation failed:", error);
          throw error; // Re-throw to mark job as failed
        }
      });

      try {
        const failed = nextEvent(queue, "failed");
        const job = await queue.scheduleJob({ methodName: "riskyOperation", params: { n: 1 } });
        await queue.start();
        assert.equal((await failed).id, job.id);
        assert.deepEqual(performRiskyOperation.calls, [[{ n: 1 }]]);
        assert.deepEqual(console.entries, [{
          level: "error",
          args: ["Operation failed:", failure],
        }]);
        const record = await readRecord(directory, job);
        assert.equal(record.state, JobState.FAILED);
        assert.equal(record.error?.message, "the risky operation failed");
      } finally {
        await queue.dispose();
      }
    });
  });
});

describe("the seed's configuration examples", () => {
  test("a JobQueue runs on a custom engine with the maxConcurrency it is given", async () => {
    await withTempDir(async (directory) => {
      const customEngine = new JobQueueEngine({ directory, fsync: false });

      const queue = new JobQueue({
        directory, // Required: Job storage directory
        maxConcurrency: 5, // Optional: Max concurrent jobs (default: 1)
        engine: customEngine, // Optional: Custom engine instance
      });

      try {
        assert.equal(queue.engine, customEngine);
        await queue.start();
        await runAtOnce(queue, 5);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("a JobQueueEngine uses the locking queue and event listener it is given", async () => {
    await withTempDir(async (directory) => {
      let lockedTasks = 0;
      class CountingLockingQueue extends LockingQueue {
        override run<T>(key: string, task: () => Promise<T>): Promise<T> {
          lockedTasks++;
          return super.run(key, task);
        }
      }
      const customLockingQueue = new CountingLockingQueue();
      const heard: string[] = [];

      const engine = new JobQueueEngine({
        directory, // Required: Job storage directory
        maxConcurrency: 3, // Optional: Max concurrent jobs
        lockingQueue: customLockingQueue, // Optional: Custom locking queue
        eventListener: (event, _data) => {
          heard.push(event);
        }, // Optional: Event listener
        fsync: false,
      });

      const done = deferred<void>();
      engine.registerJobHandler("ping", () => done.resolve());
      try {
        await engine.scheduleJob({ methodName: "ping" });
        await engine.startNextJob();
        await within(done.promise, "ping job");
      } finally {
        await engine.dispose();
      }
      assert.ok(lockedTasks > 0, "the custom locking queue was not used");
      assert.ok(heard.includes("debug"), `events heard: ${heard}`);
    });
  });
});

describe("the seed's event examples", () => {
  test("the error listener receives the JobQueueError with its message and cause", async () => {
    await withTempDir(async (directory) => {
      const console = recordingConsole();
      const cause = new Error("SMTP server down");
      const queue = new JobQueue({ directory, fsync: false });
      queue.registerJobHandler("sendEmail", () => {
        throw cause;
      });
      const errorSeen = nextEvent(queue, "error");

      queue.on("error", (error) => {
        console.error("Job queue error:", error.message, error.cause);
      });

      try {
        await queue.scheduleJob({ methodName: "sendEmail" });
        await queue.start();
        const error = await errorSeen;
        assert.ok(error instanceof JobQueueError);
        assert.equal(console.entries.length, 1);
        const [label, message, loggedCause] = console.entries[0]!.args;
        assert.equal(label, "Job queue error:");
        assert.match(message as string, /SMTP server down/);
        assert.equal(loggedCause, cause);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("the debug listener sees 'starting job' and 'completed job' with the job", async () => {
    await withTempDir(async (directory) => {
      const console = recordingConsole();
      const queue = new JobQueue({ directory, fsync: false });
      queue.registerJobHandler("tick", () => {});

      queue.on("debug", (event) => {
        if (event.message === "starting job") {
          console.log("Starting job:", event.info.job);
        } else if (event.message === "completed job") {
          console.log("Completed job:", event.info.job);
        }
      });

      try {
        const completed = nextEvent(queue, "completed");
        const job = await queue.scheduleJob({ methodName: "tick" });
        await queue.start();
        await completed;
        assert.deepEqual(
          console.entries.map(({ args: [label, logged] }) => [
            label,
            (logged as Job).id,
            (logged as Job).state,
          ]),
          [
            ["Starting job:", job.id, JobState.IN_PROGRESS],
            ["Completed job:", job.id, JobState.COMPLETED],
          ],
        );
      } finally {
        await queue.dispose();
      }
    });
  });
});

describe("the seed's file storage", () => {
  test("each job is a <methodName>__<id>.json file in the seed's format", async () => {
    await withTempDir(async (directory) => {
      const queue = new JobQueue({ directory, fsync: false });
      try {
        const jobs = [
          await queue.scheduleJob({
            methodName: "sendEmail",
            params: { to: "user@example.com", subject: "Hello", body: "Welcome!" },
          }),
          await queue.scheduleJob({ methodName: "processOrder", waitTime: 60_000 }),
          await queue.scheduleJob({ methodName: "sendReport", waitTime: 120_000 }),
        ];
        const files = (await readdir(directory)).filter((name) => name.endsWith(".json"));
        assert.deepEqual(
          files.sort(),
          jobs.map((job) => `${job.methodName}__${job.id}.json`).sort(),
        );

        const record = await readRecord(directory, jobs[0]!);
        assert.equal(record.id, jobs[0]!.id);
        assert.equal(record.methodName, "sendEmail");
        assert.equal(record.executionDate, jobs[0]!.executionDate);
        assert.equal(record.state, "NOT_STARTED");
        assert.deepEqual(record.params, {
          to: "user@example.com",
          subject: "Hello",
          body: "Welcome!",
        });
      } finally {
        await queue.dispose();
      }
    });
  });
});

describe("the seed's concurrency control", () => {
  test("hasReachedMaxConcurrency starts false and setMaxConcurrency(5) lets 5 jobs run at once", async () => {
    await withTempDir(async (directory) => {
      // Allow up to 3 jobs to run simultaneously
      const queue = new JobQueue({
        directory,
        maxConcurrency: 3,
        fsync: false,
      });
      const engine = queue.engine;

      try {
        // Check current concurrency
        assert.equal(engine.hasReachedMaxConcurrency, false);

        // Dynamically adjust concurrency
        engine.setMaxConcurrency(5);

        await queue.start();
        await runAtOnce(queue, 5);
      } finally {
        await queue.dispose();
      }
    });
  });
});

describe("the seed's job management", () => {
  test("removeJobsByMethodName removes the jobs of that method only", async () => {
    await withTempDir(async (directory) => {
      const queue = new JobQueue({ directory, fsync: false });
      try {
        await queue.scheduleJob({ methodName: "sendEmail", waitTime: 60_000 });
        await queue.scheduleJob({ methodName: "sendEmail", waitTime: 60_000 });
        const kept = await queue.scheduleJob({ methodName: "sendReport", waitTime: 60_000 });

        // Remove all jobs of a specific type
        const removed = await queue.removeJobsByMethodName("sendEmail");

        assert.equal(removed, 2);
        assert.deepEqual((await queue.getAllJobs()).map((job) => job.id), [kept.id]);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("getAllJobs lists every job, which can be filtered by state", async () => {
    await withTempDir(async (directory) => {
      const console = recordingConsole();
      const queue = new JobQueue({ directory, fsync: false });
      const engine = queue.engine;
      queue.registerJobHandler("fails", () => {
        throw new Error("no luck");
      });
      try {
        const failed = nextEvent(queue, "failed");
        const failing = await queue.scheduleJob({ methodName: "fails" });
        const pending = await queue.scheduleJob({ methodName: "later", waitTime: 60_000 });
        await queue.start();
        await failed;

        const allJobs = await engine.getAllJobs();
        console.log(`Total jobs: ${allJobs.length}`);

        // Filter by state
        const pendingJobs = allJobs.filter((job) => job.state === "NOT_STARTED");
        const failedJobs = allJobs.filter((job) => job.state === "FAILED");

        assert.deepEqual(console.entries, [{ level: "log", args: ["Total jobs: 2"] }]);
        assert.deepEqual(pendingJobs.map((job) => job.id), [pending.id]);
        assert.deepEqual(failedJobs.map((job) => job.id), [failing.id]);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("dispose() stops processing at once and cleans up", async () => {
    await withTempDir(async (directory) => {
      const queue = new JobQueue({ directory, fsync: false });
      await queue.start();

      // Dispose queue (stops processing and cleans up resources)
      const disposed = queue.dispose();

      await assert.rejects(queue.scheduleJob({ methodName: "tooLate" }), JobQueueError);
      await disposed;
      assert.deepEqual(await readdir(join(directory, ".jobq", "engines")), []);
    });
  });
});

describe("the seed's real-world examples", () => {
  test("the email queue sends the welcome email and marks it sent", async () => {
    await withTempDir(async (root) => {
      const emailService = { sendWelcomeEmail: stub(), sendPasswordReset: stub() };
      const userService = { markEmailSent: stub() };

      const emailQueue = new JobQueue({
        directory: join(root, "email-jobs"),
        maxConcurrency: 2,
        fsync: false,
      });

      emailQueue.registerJobHandler("sendWelcomeEmail", async (params) => {
        const { userId, email } = params;
        await emailService.sendWelcomeEmail(email);
        await userService.markEmailSent(userId);
      });

      emailQueue.registerJobHandler("sendPasswordReset", async (params) => {
        const { email, resetToken } = params;
        await emailService.sendPasswordReset(email, resetToken);
      });

      // Schedule welcome email
      await emailQueue.scheduleJob({
        methodName: "sendWelcomeEmail",
        params: { userId: "123", email: "user@example.com" },
      });

      const completed = nextEvent(emailQueue, "completed");
      emailQueue.start();

      try {
        await completed;
        assert.deepEqual(emailService.sendWelcomeEmail.calls, [["user@example.com"]]);
        assert.deepEqual(userService.markEmailSent.calls, [["123"]]);
        assert.deepEqual(emailService.sendPasswordReset.calls, []);
      } finally {
        await emailQueue.dispose();
      }
    });
  });

  test("the processing pipeline processes an upload, then notifies about it a second later", async () => {
    await withTempDir(async (root) => {
      const fileProcessor = { process: stub((fileId) => ({ fileId, pages: 3 })) };
      const notificationService = { notify: stub() };

      const processingQueue = new JobQueue({
        directory: join(root, "processing-jobs"),
        maxConcurrency: 3,
        fsync: false,
      });

      processingQueue.registerJobHandler("processUpload", async (params) => {
        const { fileId, userId } = params;

        // Process the uploaded file
        const result = await fileProcessor.process(fileId);

        // Schedule notification job
        await processingQueue.scheduleJob({
          methodName: "notifyCompletion",
          params: { userId, fileId, result },
          waitTime: 1000, // Small delay
        });
      });

      processingQueue.registerJobHandler("notifyCompletion", async (params) => {
        const { userId, fileId, result: _result } = params;
        await notificationService.notify(userId, `File ${fileId} processed successfully`);
      });

      const notification = nextEvent(
        processingQueue,
        "started",
        (job) => job.methodName === "notifyCompletion",
      );
      processingQueue.start();

      try {
        await processingQueue.scheduleJob({
          methodName: "processUpload",
          params: { fileId: "file-42", userId: "user-7" },
        });
        const notifyJob = await notification;
        assert.deepEqual(notifyJob.params, {
          userId: "user-7",
          fileId: "file-42",
          result: { fileId: "file-42", pages: 3 },
        });
        assert.equal(notifyJob.executionDate - notifyJob.createdAt, 1000);
        assert.ok(notifyJob.startedAt! >= notifyJob.executionDate, "notified before the delay");
        await notificationService.notify.calledTimes(1);
        assert.deepEqual(fileProcessor.process.calls, [["file-42"]]);
        assert.deepEqual(notificationService.notify.calls, [
          ["user-7", "File file-42 processed successfully"],
        ]);
      } finally {
        await processingQueue.dispose();
      }
    });
  });

  test("the scheduled maintenance is stored for tomorrow at 2 AM and does not run now", async () => {
    await withTempDir(async (root) => {
      const fileService = { deleteOldFiles: stub() };
      const statsService = { updateDailyStats: stub() };
      const directory = join(root, "maintenance-jobs");

      const maintenanceQueue = new JobQueue({
        directory,
        maxConcurrency: 1,
        fsync: false,
      });

      maintenanceQueue.registerJobHandler("cleanupOldFiles", async () => {
        await fileService.deleteOldFiles();
      });

      maintenanceQueue.registerJobHandler("updateStatistics", async () => {
        await statsService.updateDailyStats();
      });

      // Schedule daily cleanup at 2 AM
      const tomorrow2AM = new Date();
      tomorrow2AM.setDate(tomorrow2AM.getDate() + 1);
      tomorrow2AM.setHours(2, 0, 0, 0);

      const job = await maintenanceQueue.scheduleJob({
        methodName: "cleanupOldFiles",
        executionDate: tomorrow2AM.getTime(),
      });

      maintenanceQueue.start();

      try {
        // The job is hours away; a queue that ignored its date would start it
        // within milliseconds, so 300 ms is ample to catch that.
        await delay(300);
        assert.equal(fileService.deleteOldFiles.calls.length, 0);
        assert.equal(statsService.updateDailyStats.calls.length, 0);
        const record = await readRecord(directory, job);
        assert.equal(record.state, JobState.NOT_STARTED);
        assert.equal(record.executionDate, tomorrow2AM.getTime());
        assert.equal(record.params, undefined);
      } finally {
        await maintenanceQueue.dispose();
      }
    });
  });
});

describe("the seed's error handling", () => {
  test("the error listener gets the failed job and its cause, and can retry the job", async () => {
    await withTempDir(async (directory) => {
      const console = recordingConsole();
      const queue = new JobQueue({ directory, fsync: false });
      const cause = new Error("gateway timeout");
      let calls = 0;
      queue.registerJobHandler("charge", () => {
        if (++calls === 1) throw cause;
      });
      const shouldRetry = (job: Job) => job.attempts < 3;
      const retries: Promise<Job>[] = [];
      const retryJob = (job: Job) => {
        retries.push(queue.scheduleJob({ methodName: job.methodName, params: job.params }));
      };

      queue.on("error", (error) => {
        if (error.info?.job) {
          const job = error.info.job;
          console.error(`Job ${job.id} failed:`, error.cause);

          // Optionally retry failed jobs
          if (job.state === "FAILED" && shouldRetry(job)) {
            retryJob(job);
          }
        }
      });

      try {
        const completed = nextEvent(queue, "completed");
        const job = await queue.scheduleJob({ methodName: "charge", params: { amount: 10 } });
        await queue.start();
        const retried = await completed;
        assert.deepEqual(console.entries, [
          { level: "error", args: [`Job ${job.id} failed:`, cause] },
        ]);
        assert.equal(retries.length, 1);
        assert.equal(retried.id, (await retries[0]!).id);
        assert.deepEqual(retried.params, { amount: 10 });
        assert.equal((await readRecord(directory, job)).state, JobState.FAILED);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("a handler that logs and re-throws fails its job with the original error", async () => {
    await withTempDir(async (directory) => {
      const console = recordingConsole();
      const performCriticalOperation = stub(() => {
        throw new RangeError("balance below zero");
      });
      const queue = new JobQueue({ directory, fsync: false });

      queue.registerJobHandler("criticalOperation", async (params) => {
        try {
          await performCriticalOperation(params);
        } catch (error) {
          // Log detailed error information
          console.error("Critical operation failed:", {
            jobId: params.jobId,
            error: (error as Error).message,
            stack: (error as Error).stack,
          });

          // Re-throw to mark job as failed
          throw error;
        }
      });

      try {
        const errorSeen = nextEvent(queue, "error");
        const job = await queue.scheduleJob({
          methodName: "criticalOperation",
          params: { jobId: "op-1" },
        });
        await queue.start();
        const error = await errorSeen;
        assert.equal(error.info.job?.id, job.id);
        assert.ok(error.cause instanceof RangeError);
        const [label, details] = console.entries[0]!.args as [string, Record<string, unknown>];
        assert.equal(label, "Critical operation failed:");
        assert.equal(details.jobId, "op-1");
        assert.equal(details.error, "balance below zero");
        assert.equal(typeof details.stack, "string");
        const record = await readRecord(directory, job);
        assert.equal(record.state, JobState.FAILED);
        assert.deepEqual(
          { name: record.error?.name, message: record.error?.message },
          { name: "RangeError", message: "balance below zero" },
        );
      } finally {
        await queue.dispose();
      }
    });
  });
});
