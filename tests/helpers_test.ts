import assert from "node:assert/strict";
import { test } from "node:test";
import { spawnFixture } from "./_helpers.ts";

test("spawnFixture() runs a fixture in the test's own runtime", async () => {
  const fixture = spawnFixture("echo", ["a", "b"]);
  await fixture.waitForOutput("args:a,b");
  assert.deepEqual(await fixture.exited, { code: 0, signal: null });
});
