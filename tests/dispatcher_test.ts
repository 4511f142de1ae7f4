/**
 * Dispatching: the timer for the next due job, and stores that answer
 * unlike a quick local one: a database judges due dates by its own clock,
 * which may be a little behind, and its answers take a while.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type ClaimRequest, type DueJobs, JobQueue } from "../mod.ts";
import { FileJobStore } from "../src/store/mod.ts";
import { deferred, nextEvent, withTempDir } from "./_helpers.ts";

/** `store`, with `claimDue` answered by `claimDue` (which may ask the store). */
function withClaimDue(
  store: FileJobStore,
  claimDue: (request: ClaimRequest) => Promise<DueJobs>,
): FileJobStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === "claimDue") return claimDue;
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

test("a job due by the engine's clock but not yet by the store's starts soon, not at the next poll", async () => {
  await withTempDir(async (directory) => {
    const store = new FileJobStore({ directory, fsync: false });
    let lied = false;
    // The first time a job is due, the store says it is not yet: its clock
    // is behind the engine's.
    const behind = withClaimDue(store, async (request) => {
      const due = await store.claimDue(request);
      if (lied || request.limit === 0 || due.jobs.length === 0) return due;
      lied = true;
      for (const job of due.jobs) await store.release(job);
      return { jobs: [], nextDueAt: Date.now() - 1 };
    });
    // A poll a minute away: only the dispatcher's own look can start the job in time.
    const queue = new JobQueue({ store: behind, pollInterval: 60_000 });
    try {
      queue.registerJobHandler("work", () => {});
      await queue.start();
      const completed = nextEvent(queue, "completed", () => true, 5_000);
      await queue.scheduleJob({ methodName: "work" });
      await completed;
      assert.equal(lied, true);
    } finally {
      await queue.dispose();
    }
  });
});

test("a slot freed while a look at the store is under way is filled without waiting for that look", async () => {
  await withTempDir(async (directory) => {
    const store = new FileJobStore({ directory, fsync: false });
    let holdNextLook = false;
    let heldLooks = 0;
    const { promise: released, resolve: release } = deferred<void>();
    // One look is held before it reaches the store, as on a slow database.
    const slow = withClaimDue(store, async (request) => {
      if (holdNextLook && request.limit > 0) {
        holdNextLook = false;
        heldLooks++;
        await released;
      }
      return await store.claimDue(request);
    });
    const queue = new JobQueue({ store: slow, maxConcurrency: 2, pollInterval: 60_000 });
    const gates = new Map<string, () => void>();
    try {
      queue.registerJobHandler(
        "work",
        (params) =>
          new Promise<void>((resolve) => gates.set((params as { name: string }).name, resolve)),
      );
      await queue.start();
      const bothStarted = Promise.all(
        ["a", "b"].map((name) =>
          nextEvent(queue, "started", (job) => (job.params as { name: string }).name === name)
        ),
      );
      await queue.scheduleJobs([
        { methodName: "work", params: { name: "a" } },
        { methodName: "work", params: { name: "b" } },
      ]);
      await bothStarted;
      // A ends: the look for its slot is held.
      holdNextLook = true;
      gates.get("a")!();
      await nextEvent(queue, "completed", (job) => (job.params as { name: string }).name === "a");
      await queue.scheduleJob({ methodName: "work", params: { name: "c" } });
      // B ends: its slot gets a look of its own, which starts C.
      const cStarted = nextEvent(
        queue,
        "started",
        (job) => (job.params as { name: string }).name === "c",
        5_000,
      );
      gates.get("b")!();
      await cStarted;
      assert.equal(heldLooks, 1);
      release();
      gates.get("c")!();
      await queue.onIdle();
      assert.deepEqual(await queue.getAllJobs(), []);
    } finally {
      release();
      for (const open of gates.values()) open();
      await queue.dispose();
    }
  });
});

test("a job due a few ms sooner than the one the timer waits for gets a timer of its own", async () => {
  await withTempDir(async (directory) => {
    const realSetTimeout = globalThis.setTimeout;
    /** When each timer set from now on fires. */
    const firings: number[] = [];
    globalThis.setTimeout =
      ((handler: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
        firings.push(Date.now() + (ms ?? 0));
        return realSetTimeout(() => handler(...args), ms);
      }) as typeof setTimeout;
    const queue = new JobQueue({ directory, fsync: false, pollInterval: 60_000 });
    try {
      queue.registerJobHandler("work", () => {});
      await queue.start();
      const later = await queue.scheduleJob({ methodName: "work", waitTime: 5_000 });
      // Kept for this one, the timer would start it 8 ms late.
      const sooner = await queue.scheduleJob({
        methodName: "work",
        executionDate: later.executionDate - 8,
      });
      const timed = () =>
        firings.some((at) => at >= sooner.executionDate && at <= sooner.executionDate + 5);
      for (let waited = 0; waited < 2_000 && !timed(); waited += 10) {
        await new Promise((resolve) => realSetTimeout(resolve, 10));
      }
      assert.ok(timed(), `no timer fires at ${sooner.executionDate}: ${firings.join(", ")}`);
    } finally {
      globalThis.setTimeout = realSetTimeout;
      await queue.dispose();
    }
  });
});

test("onIdle() waits for the look that follows one that could not see a job stored meanwhile", async () => {
  await withTempDir(async (directory) => {
    const store = new FileJobStore({ directory, fsync: false });
    let holdNextLook = false;
    const { promise: answered, resolve: answer } = deferred<void>();
    const { promise: released, resolve: release } = deferred<void>();
    // One look answers as the store was before the job below was stored, as
    // a database statement under way does.
    const slow = withClaimDue(store, async (request) => {
      if (!holdNextLook) return await store.claimDue(request);
      holdNextLook = false;
      const due = await store.claimDue(request);
      answer();
      await released;
      return due;
    });
    const queue = new JobQueue({ store: slow, pollInterval: 60_000 });
    try {
      const ran: unknown[] = [];
      queue.registerJobHandler("work", (params) => void ran.push(params));
      await queue.start();
      await queue.onIdle();
      holdNextLook = true;
      await queue.scheduleJob({ methodName: "work", params: "later", waitTime: 60_000 });
      await answered;
      await queue.scheduleJob({ methodName: "work", params: "now" });
      const idle = queue.onIdle();
      release();
      await idle;
      assert.deepEqual(ran, ["now"]);
    } finally {
      release();
      await queue.dispose();
    }
  });
});
