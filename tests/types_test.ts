/**
 * The typing of the queue's events, checked by `deno check` (part of the
 * test command): typed listeners compile, wrong ones do not. One runtime
 * test makes this file a real test under every runtime.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Job, JobEvent, JobQueue, type JobQueueError, type JobSpecOf } from "../mod.ts";
import { storeOptions, withPlace } from "./_store.ts";

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

/** The methods of a typed queue: what the checks below schedule and handle. */
interface Jobs {
  sendEmail: { to: string; subject: string };
  resizeImages: string[];
  add: [number, number];
  cleanUp: undefined;
  note: { text: string } | undefined;
}

/**
 * Compiles, and is never called: a queue typed by {@linkcode Jobs} checks
 * method names and params when scheduling and types handlers' params; the
 * `@ts-expect-error` lines must not compile.
 */
export async function typedQueueChecks(queue: JobQueue<Jobs>): Promise<void> {
  queue.registerJobHandler("sendEmail", ({ to, subject }) => to + subject);
  queue.registerJobHandler("sendEmail", (params) => {
    // @ts-expect-error -- params are { to, subject }: there is no 'body'
    return params.body;
  });
  queue.registerJobHandler("resizeImages", (...paths) => paths.map((path) => path.toUpperCase()));
  queue.registerJobHandler("add", (a, b) => a + b);
  queue.registerJobHandler("cleanUp", () => {});
  // @ts-expect-error -- 'add' receives two numbers, not strings
  queue.registerJobHandler("add", (a: string, b: string) => a + b);
  // @ts-expect-error -- no such method
  queue.registerJobHandler("sendMail", () => {});

  await queue.scheduleJob({ methodName: "sendEmail", params: { to: "a@b.c", subject: "Hi" } });
  await queue.scheduleJob({ methodName: "resizeImages", params: ["a.png"], priority: 2 });
  await queue.scheduleJob({ methodName: "cleanUp", repeat: { cron: "0 2 * * *" } });
  await queue.scheduleJob({ methodName: "note" });
  // @ts-expect-error -- a misspelt method name does not compile
  await queue.scheduleJob({ methodName: "sendEmial", params: { to: "a@b.c", subject: "Hi" } });
  // @ts-expect-error -- params of the wrong shape do not compile
  await queue.scheduleJob({ methodName: "sendEmail", params: { to: "a@b.c" } });
  // @ts-expect-error -- params that the method needs cannot be left out
  await queue.scheduleJob({ methodName: "add" });
  // @ts-expect-error -- params of another method do not fit this one
  await queue.scheduleJob({ methodName: "add", params: ["a.png"] });
  const specs: JobSpecOf<Jobs>[] = [{ methodName: "add", params: [1, 2] }];
  await queue.scheduleJobs(specs);
  // @ts-expect-error -- each spec of a batch is checked
  await queue.scheduleJobs([{ methodName: "add", params: [1, "2"] }]);
  queue.pause("sendEmail");
  // @ts-expect-error -- only the queue's methods can be paused
  queue.pause("sendMail");
}

/** Compiles, and is never called: an untyped queue takes any method and any params, as the seed shows. */
export async function untypedQueueChecks(queue: JobQueue): Promise<void> {
  queue.registerJobHandler("anything", (params) => params.whatever);
  queue.registerJobHandler("spread", (...items: string[]) => items.length);
  await queue.scheduleJob({ methodName: "anything", params: { any: "thing" } });
  await queue.scheduleJob({ methodName: "spread", params: ["a", "b"] });
  // @ts-expect-error -- the spec's option names are still checked
  await queue.scheduleJob({ methodName: "anything", priorty: 1 });
}

test("a typed queue runs its typed handlers with the params they were scheduled with", async () => {
  await withPlace(async (place) => {
    const queue = new JobQueue<Jobs>(storeOptions(place));
    try {
      queue.registerJobHandler("add", (a, b) => a + b);
      queue.registerJobHandler("sendEmail", ({ to }) => to);
      const [sum, email] = await queue.scheduleJobs([
        { methodName: "add", params: [2, 3] },
        { methodName: "sendEmail", params: { to: "a@b.c", subject: "Hi" } },
      ]);
      // Waited for before they run: a completed job is removed, and
      // settled() called after that resolves with undefined.
      const settled = Promise.all([queue.settled(sum!.id), queue.settled(email!.id)]);
      await queue.start();
      const [summed, sent] = await settled;
      assert.equal(summed?.result, 5);
      assert.equal(sent?.result, "a@b.c");
    } finally {
      await queue.dispose();
    }
  });
});

test("a typed addEventListener listener receives the JobEvent, and removeEventListener removes it", async () => {
  await withPlace(async (place) => {
    const queue = new JobQueue(storeOptions(place));
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
