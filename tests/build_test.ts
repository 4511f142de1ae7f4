import assert from "node:assert/strict";
import { test } from "node:test";
import { JobQueue, JobQueueError, JobState } from "../mod.ts";
import { runtime, withTempDir } from "./_helpers.ts";

test("the package exports JobQueue as a constructor of disposable EventTargets", async () => {
  await withTempDir(async (directory) => {
    const queue = new JobQueue({ directory, fsync: false });
    try {
      assert.ok(queue instanceof EventTarget);
      assert.equal(typeof queue[Symbol.asyncDispose], "function");
    } finally {
      await queue.dispose();
    }
  });
});

test("the package exports JobState and JobQueueError with their literal values", () => {
  assert.equal(JobState.FAILED, "FAILED");
  const error = new JobQueueError("message");
  assert.ok(error instanceof Error);
  assert.equal(error.name, "JobQueueError");
});

// Only Node runs the suite against the npm build, so only Node registers this.
if (runtime === "node") {
  test("under Node, the tests import the npm build rather than the TypeScript sources", () => {
    assert.match(import.meta.resolve("@x/jobq"), /\/npm\/esm\/mod\.js$/);
  });
}
