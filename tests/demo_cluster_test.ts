/**
 * The cluster demo (`deno task demo:cluster`), run as a user runs it, on the
 * test server: its summary must show every job completed exactly once, and
 * the killed worker's unfinished jobs run by the others. The demo is a Deno
 * program that starts Deno, Bun and Node itself, so only the Deno run of the
 * suite runs it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runtime, spawnScript } from "./_helpers.ts";
import { withPostgres } from "./_postgres.ts";
import { withDeadline } from "./_process_helpers.ts";

/** About 10 s, plus the npm build (about 20 s) when npm/ is missing; room for a busy machine. */
const RUN_TIMEOUT = 150_000;

const SUMMARY_LINE =
  /^Killed bun while it ran (\d+) jobs: (\d+) completed as it died, (\d+) left unfinished and run after by: (.*) \(started again within [\d.]+ s of the kill/m;

if (runtime !== "deno") {
  const reason = "the cluster demo is a Deno program that starts Deno, Bun and Node itself; " +
    "the Deno run of the suite runs it";
  console.warn(`WARNING: the cluster demo test is skipped under ${runtime}: ${reason}`);
  test.skip(`the cluster demo (skipped under ${runtime}: ${reason})`, () => {});
} else {
  withPostgres("cluster demo", () => {
    test(
      "the cluster demo completes every job exactly once, and the killed worker's jobs move to the others",
      { timeout: RUN_TIMEOUT + 10_000 },
      async () => {
        const demo = spawnScript(
          fileURLToPath(new URL("../scripts/demo_cluster.ts", import.meta.url)),
        );
        const timer = setTimeout(() => demo.child.kill("SIGINT"), RUN_TIMEOUT);
        const { code } = await withDeadline(demo.exited, RUN_TIMEOUT + 5_000, "the demo's end")
          .finally(() => clearTimeout(timer));
        const stdout = demo.stdout();
        assert.equal(demo.stderr(), "", `the demo wrote to stderr:\n${demo.stderr()}\n${stdout}`);
        assert.equal(code, 0, stdout);

        assert.match(stdout, /^Completed: 300 of 300$/m);
        assert.match(stdout, /^Duplicates: 0$/m);
        const perWorker = new Map(
          [...stdout.matchAll(/^ {2}(deno|bun|node) +(Deno|Bun|Node) [\d.]+ +(\d+)/gm)]
            .map(([, name, , jobs]) => [name!, Number(jobs)]),
        );
        assert.deepEqual([...perWorker.keys()], ["deno", "bun", "node"], stdout);
        for (const [name, jobs] of perWorker) assert.ok(jobs > 0, `${name} ran no job:\n${stdout}`);
        assert.equal([...perWorker.values()].reduce((sum, jobs) => sum + jobs), 300, stdout);
        assert.match(stdout, /^ {2}bun .* {2}\(killed\)$/m);

        const [, running, completedAsItDied, left, runBy] = SUMMARY_LINE.exec(stdout) ?? [];
        assert.ok(runBy !== undefined, `no line on the killed worker's jobs:\n${stdout}`);
        assert.equal(Number(completedAsItDied) + Number(left), Number(running), stdout);
        assert.ok(Number(left) > 0, stdout);
        const movedTo = runBy.split(", ").map((part) => part.split(" "));
        for (const [name] of movedTo) assert.ok(name === "deno" || name === "node", stdout);
        assert.equal(movedTo.reduce((sum, [, count]) => sum + Number(count), 0), Number(left));
      },
    );
  });
}
