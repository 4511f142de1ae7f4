/**
 * What clock steps, stalls, full disks and containers do to a queue: no job
 * runs twice at once, none is lost, none is failed for a death that did not
 * happen. Clocks are replaced where the test needs them still or stepped
 * (`Date.now` is the wall clock, `performance.now` the monotonic one).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Job, JobQueue, JobState } from "../mod.ts";
import { runToEnd, withTempDir } from "./_helpers.ts";

/** Ids as jobq makes them. */
const ID_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-[0-9a-z]{13}-[0-9a-f]{8}$/;

/** Runs `body` with `Date.now` replaced by `now`, restored afterwards. */
async function withWallClock<T>(now: () => number, body: () => Promise<T> | T): Promise<T> {
  const real = Date.now;
  Date.now = now;
  try {
    return await body();
  } finally {
    Date.now = real;
  }
}

describe("job ids", () => {
  test(
    "a job scheduled after the clock was set back by a day keeps an id in its pattern and runs",
    { timeout: 120_000 },
    async () => {
      const real = Date.now;
      // A job made while the clock was a day ahead: later ids may not sort before it.
      await withWallClock(() => real() + 86_400_000, () => Job.fromSpec({ methodName: "work" }));
      // Corrected, and still: the ids of the next day all share one creation
      // millisecond, more of them than the 4-digit sequence counts.
      const frozen = real();
      await withWallClock(() => frozen, async () => {
        let last = "";
        for (let n = 0; n < 36 ** 4; n++) last = Job.fromSpec({ methodName: "work" }).id;
        assert.match(last, ID_PATTERN);
        await withTempDir(async (directory) => {
          const queue = new JobQueue({ directory, fsync: false, pollInterval: 20 });
          try {
            queue.registerJobHandler("work", () => "done");
            const done = await runToEnd(queue, { methodName: "work" });
            assert.match(done.id, ID_PATTERN);
            assert.equal(done.state, JobState.COMPLETED);
          } finally {
            await queue.dispose();
          }
        });
      });
    },
  );
});
