/**
 * The `jobq` command and the dashboard on a queue in PostgreSQL: the server
 * `JOBQ_TEST_POSTGRES_URL` names, one schema per test, given to the command
 * as `?schema=`. The URL carries a password, which no output may show.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Job, JobQueue, JobState } from "../mod.ts";
import { main } from "../src/cli/cli.ts";
import { serveDashboard } from "../src/dashboard/serve_dashboard.ts";
import { PostgresJobStore } from "../src/store/postgres/mod.ts";
import { runtime, runToEnd, spawnScript } from "./_helpers.ts";
import { adminClient, freshSchema, postgresUrl, withPostgres } from "./_postgres.ts";
import { cleanUpFixtures, withDeadline } from "./_process_helpers.ts";

const cliPath = fileURLToPath(
  runtime === "node"
    ? import.meta.resolve("@x/jobq/cli")
    : new URL("../src/cli/cli.ts", import.meta.url).href,
);

/** A password for URLs that have none: the test server trusts local connections. */
const PASSWORD = "s3cret-Pa55word";

interface Outcome {
  status: number;
  stdout: string;
  stderr: string;
}

async function jobq(args: string[]): Promise<Outcome> {
  let stdout = "";
  let stderr = "";
  const status = await main(args, {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
  });
  return { status, stdout, stderr };
}

/** Runs the command, checks that it succeeded and showed no password; returns its stdout. */
async function ok(args: string[], password: string): Promise<string> {
  const { status, stdout, stderr } = await jobq(args);
  assert.equal(stderr, "", `jobq ${args.slice(1).join(" ")} wrote to stderr`);
  assert.equal(status, 0);
  assert.ok(!stdout.includes(password), `the password is in:\n${stdout}`);
  return stdout;
}

/** A queue in a fresh schema: the URL the command takes, and how it names it. */
interface Queue {
  schema: string;
  /** The URL with its password and `?schema=`. */
  url: string;
  /** The URL as the command shows it: without the password. */
  shown: string;
  password: string;
  /** The schema's store, for the test's own queues. */
  store(): PostgresJobStore;
}

/** Runs `body` with a fresh schema, dropped afterwards. */
async function withSchema(body: (queue: Queue) => Promise<void>): Promise<void> {
  const schema = freshSchema();
  const address = new URL(postgresUrl!);
  if (address.password === "") address.password = PASSWORD;
  const password = decodeURIComponent(address.password);
  const storeUrl = address.href;
  address.searchParams.set("schema", schema);
  const shown = new URL(address);
  shown.password = "";
  try {
    await body({
      schema,
      url: address.href,
      shown: shown.href,
      password,
      store: () => new PostgresJobStore({ url: storeUrl, schema }),
    });
  } finally {
    const sql = adminClient();
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await sql.end();
  }
}

/** The jobs {@linkcode populate} leaves. */
interface Jobs {
  /** sendEmail, due in an hour. */
  waiting: Job;
  /** resize, completed (kept). */
  completed: Job;
  /** sendEmail, failed. */
  failed: Job;
}

async function populate(queue: Queue): Promise<Jobs> {
  const jobs: Partial<Jobs> = {};
  const worker = new JobQueue({ store: queue.store(), keepCompleted: true });
  try {
    worker.registerJobHandler("resize", () => {});
    worker.registerJobHandler("sendEmail", () => {
      throw new Error("550 no such mailbox");
    });
    jobs.waiting = await worker.scheduleJob({
      methodName: "sendEmail",
      params: { to: "later@example.com" },
      waitTime: 3_600_000,
    });
    jobs.completed = await runToEnd(worker, { methodName: "resize", params: [640, 480] });
    jobs.failed = await runToEnd(worker, {
      methodName: "sendEmail",
      params: { to: "nobody@invalid.example" },
      maxAttempts: 1,
    });
  } finally {
    await worker.dispose();
  }
  return jobs as Jobs;
}

/** The schemas of the test server named `schema`: whether the command created one. */
async function schemaExists(schema: string): Promise<boolean> {
  const sql = adminClient();
  try {
    const rows = await sql`SELECT 1 FROM pg_namespace WHERE nspname = ${schema}`;
    return rows.length > 0;
  } finally {
    await sql.end();
  }
}

// Needs no server: nothing listens on port 1.
test("jobq on a PostgreSQL URL it cannot reach fails with exit status 1, without the password", async () => {
  const url = `postgres://jobq:${PASSWORD}@127.0.0.1:1/jobq`;
  const { status, stdout, stderr } = await jobq([url, "stats"]);
  assert.equal(status, 1);
  assert.equal(stdout, "");
  assert.match(stderr, /^jobq: Cannot read postgres:\/\/jobq@127\.0\.0\.1:1\/jobq\?schema=jobq: /);
  assert.match(stderr, /check that the server is reachable/);
  assert.ok(!stderr.includes(PASSWORD), stderr);
});

test("jobq refuses a PostgreSQL URL with a bad schema as a usage error", async () => {
  const { status, stderr } = await jobq([
    `postgres://jobq@127.0.0.1:1/jobq?schema=Bad-Name`,
    "list",
  ]);
  assert.equal(status, 2);
  assert.match(stderr, /'schema' must be a plain lowercase name/);
});

withPostgres("jobq on PostgreSQL", () => {
  describe("jobq <postgres-url>", () => {
    test("stats counts the jobs of the schema, and --json says where they are without the password", async () => {
      await withSchema(async (queue) => {
        const jobs = await populate(queue);
        const stats = JSON.parse(await ok([queue.url, "stats", "--json"], queue.password));
        assert.deepEqual(stats, {
          url: queue.shown,
          schema: queue.schema,
          total: 3,
          byState: { NOT_STARTED: 1, IN_PROGRESS: 0, COMPLETED: 1, FAILED: 1 },
          byMethod: {
            resize: { NOT_STARTED: 0, IN_PROGRESS: 0, COMPLETED: 1, FAILED: 0, total: 1 },
            sendEmail: { NOT_STARTED: 1, IN_PROGRESS: 0, COMPLETED: 0, FAILED: 1, total: 2 },
          },
          oldestWaiting: jobs.waiting.toJSON(),
          nextDue: jobs.waiting.toJSON(),
        });
        const text = await ok([queue.url, "stats"], queue.password);
        assert.equal(text.split("\n")[0], `3 jobs in ${queue.shown}`);
      });
    });

    test("list and show read the jobs from PostgreSQL; show has no file", async () => {
      await withSchema(async (queue) => {
        const jobs = await populate(queue);
        const listed = JSON.parse(await ok([queue.url, "list", "--json"], queue.password));
        assert.deepEqual(
          listed.map((record: { id: string }) => record.id).sort(),
          [jobs.waiting.id, jobs.completed.id, jobs.failed.id].sort(),
        );
        const failed = await ok([queue.url, "list", "--state", "failed"], queue.password);
        assert.match(
          failed,
          new RegExp(`^${jobs.failed.id} +sendEmail +FAILED .*550 no such mailbox`, "m"),
        );
        assert.equal(failed.trim().split("\n").length, 2, failed);
        const shown = await ok([queue.url, "show", jobs.failed.id], queue.password);
        assert.match(shown, /^state +FAILED$/m);
        assert.doesNotMatch(shown, /^file /m);
        const missing = await jobq([queue.url, "show", "no-such-job"]);
        assert.equal(missing.status, 1);
        assert.equal(
          missing.stderr,
          `jobq: No job no-such-job in ${queue.shown}: 'jobq ${queue.shown} list' shows the jobs\n`,
        );
      });
    });

    test("retry runs a failed job again: a queue on the schema runs it", async () => {
      await withSchema(async (queue) => {
        const jobs = await populate(queue);
        const retried = await ok([queue.url, "retry", "--failed", "sendEmail"], queue.password);
        assert.equal(
          retried,
          `Retrying 1 failed job of sendEmail: it runs as soon as a queue on ${queue.shown} sees it.\n`,
        );
        const again = await jobq([queue.url, "retry", jobs.waiting.id]);
        assert.equal(again.status, 1);
        assert.match(again.stderr, /only failed jobs can be retried/);
        const waiting = JSON.parse(
          await ok([queue.url, "list", "--state", "NOT_STARTED", "--json"], queue.password),
        );
        const revived = waiting.find((record: { id: string }) => record.id !== jobs.waiting.id);
        assert.deepEqual(revived.params, { to: "nobody@invalid.example" });

        const worker = new JobQueue({ store: queue.store() });
        try {
          const ran = new Promise<Job>((resolve) => worker.on("completed", resolve));
          worker.registerJobHandler("sendEmail", () => {});
          await worker.start();
          assert.equal((await ran).id, revived.id);
        } finally {
          await worker.dispose();
        }
        const stats = JSON.parse(await ok([queue.url, "stats", "--json"], queue.password));
        assert.deepEqual(stats.byState, {
          NOT_STARTED: 1,
          IN_PROGRESS: 0,
          COMPLETED: 1,
          FAILED: 0,
        });
      });
    });

    test("a schema without jobq's tables is refused with exit status 1, and not created", async () => {
      await withSchema(async (queue) => {
        const { status, stdout, stderr } = await jobq([queue.url, "list"]);
        assert.equal(status, 1);
        assert.equal(stdout, "");
        assert.equal(
          stderr,
          `jobq: ${queue.shown} holds no jobq queue (no table ${queue.schema}.jobs): pass the URL ` +
            "and schema given to new PostgresJobStore({ url, schema }), the schema as ?schema=<name>\n",
        );
        assert.equal(await schemaExists(queue.schema), false);
      });
    });
  });

  describe("the dashboard over PostgreSQL", () => {
    test("serveDashboard({ store }) serves the schema's counts, named by its URL without the password", async () => {
      await withSchema(async (queue) => {
        const jobs = await populate(queue);
        await using dashboard = await serveDashboard({ store: queue.store(), port: 0 });
        const overview = await (await fetch(new URL("/api/overview", dashboard.url))).json();
        assert.equal(overview.location, queue.shown);
        assert.ok(!overview.location.includes(queue.password));
        assert.deepEqual(overview.byState, {
          NOT_STARTED: 1,
          IN_PROGRESS: 0,
          COMPLETED: 1,
          FAILED: 1,
        });
        const job = await (await fetch(new URL(`/api/jobs/${jobs.failed.id}`, dashboard.url)))
          .json();
        assert.equal(job.state, JobState.FAILED);
      });
    });

    test("jobq <postgres-url> dashboard prints its address, serves the schema and stops on SIGTERM", async () => {
      await withSchema(async (queue) => {
        await populate(queue);
        const child = spawnScript(cliPath, [queue.url, "dashboard", "--port", "0"]);
        try {
          await child.waitForOutput("Ctrl-C stops it");
          assert.ok(
            child.stdout().startsWith(`jobq dashboard of ${queue.shown}: http://`),
            child.stdout(),
          );
          assert.ok(!child.stdout().includes(queue.password), child.stdout());
          const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(child.stdout())?.[0];
          assert.ok(url, child.stdout());
          const overview = await (await fetch(new URL("/api/overview", url))).json();
          assert.equal(overview.location, queue.shown);
          assert.equal(overview.total, 3);
          child.child.kill("SIGTERM");
          await withDeadline(child.exited, 20_000, "the dashboard's exit");
          assert.equal(child.stderr(), "");
        } finally {
          await cleanUpFixtures(child);
        }
        // Its engine was disposed: it unregistered from the schema.
        const sql = adminClient();
        try {
          const engines = await sql.unsafe(
            `SELECT count(*)::int AS n FROM "${queue.schema}".engines`,
          );
          assert.equal(engines[0]!.n, 0);
        } finally {
          await sql.end();
        }
      });
    });
  });
});
