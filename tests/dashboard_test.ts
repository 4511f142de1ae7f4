/**
 * The dashboard's server and JSON API, in process through `serveDashboard()`
 * and as `jobq <directory> dashboard` in a process of the test's runtime.
 * The page itself is tested in a browser by `scripts/browser_test.ts`.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Job, JobQueueEngine, type JobRecord, JobState } from "../mod.ts";
import { type Dashboard, serveDashboard } from "../src/dashboard/serve_dashboard.ts";
import { runtime, runToEnd, spawnScript, withQueueOn, withTempDir } from "./_helpers.ts";
import { cleanUpFixtures, withDeadline } from "./_process_helpers.ts";

const cliPath = fileURLToPath(
  runtime === "node"
    ? import.meta.resolve("@x/jobq/cli")
    : new URL("../src/cli/cli.ts", import.meta.url).href,
);

interface Jobs {
  /** sendEmail, due in an hour. */
  waiting: Job;
  /** sendEmail, failed with a stack. */
  failed: Job;
  /** resize, completed and kept. */
  completed: Job;
}

async function populate(directory: string): Promise<Jobs> {
  const jobs: Partial<Jobs> = {};
  await withQueueOn(directory, { keepCompleted: true }, async (queue) => {
    queue.registerJobHandler("resize", () => {});
    queue.registerJobHandler("sendEmail", () => {
      throw new Error("550 no such mailbox");
    });
    jobs.waiting = await queue.scheduleJob({
      methodName: "sendEmail",
      params: { to: "later@example.com" },
      waitTime: 3_600_000,
    });
    jobs.completed = await runToEnd(queue, { methodName: "resize", params: [640, 480] });
    jobs.failed = await runToEnd(queue, {
      methodName: "sendEmail",
      params: { to: "nobody@invalid.example" },
      maxAttempts: 1,
    });
  });
  return jobs as Jobs;
}

/** Runs `body` with a dashboard on a populated directory, closed afterwards. */
function withDashboard(
  options: { token?: string; readOnly?: boolean },
  body: (dashboard: Dashboard, jobs: Jobs, directory: string) => Promise<void>,
): Promise<void> {
  return withTempDir(async (directory) => {
    const jobs = await populate(directory);
    const dashboard = await serveDashboard({ directory, port: 0, ...options });
    try {
      await body(dashboard, jobs, directory);
    } finally {
      await dashboard.close();
    }
  });
}

/** A GET or a POST as the page sends it, to the dashboard's address. */
function call(
  dashboard: Dashboard,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const url = new URL(path, dashboard.url);
  if (body === undefined) return fetch(url, { headers, redirect: "manual" });
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-jobq-dashboard": "1", ...headers },
    body: JSON.stringify(body),
  });
}

async function json(response: Response, status = 200): Promise<Record<string, unknown>> {
  const value = await response.json();
  assert.equal(response.status, status, JSON.stringify(value));
  return value;
}

/** A GET with a Host header of our choosing (fetch does not let one set it). */
function getWithHost(dashboard: Dashboard, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: "127.0.0.1", port: dashboard.port, path: "/api/overview", headers: { host } },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    request.on("error", reject);
    request.end();
  });
}

describe("serveDashboard", () => {
  test("serveDashboard() serves the counts per state and method, the next due job and this engine", async () => {
    await withDashboard({}, async (dashboard, jobs, directory) => {
      const overview = await json(await call(dashboard, "/api/overview"));
      assert.equal(overview.location, directory);
      assert.equal(overview.total, 3);
      assert.deepEqual(overview.byState, {
        NOT_STARTED: 1,
        IN_PROGRESS: 0,
        COMPLETED: 1,
        FAILED: 1,
      });
      assert.deepEqual(overview.byMethod, {
        resize: { NOT_STARTED: 0, IN_PROGRESS: 0, COMPLETED: 1, FAILED: 0, total: 1 },
        sendEmail: { NOT_STARTED: 1, IN_PROGRESS: 0, COMPLETED: 0, FAILED: 1, total: 2 },
      });
      const [next] = overview.nextDue as { id: string }[];
      assert.equal(next?.id, jobs.waiting.id);
      const engines = overview.engines as { current: boolean; alive: boolean }[];
      assert.deepEqual(engines.filter((engine) => engine.current), [
        { ...engines.find((engine) => engine.current)!, alive: true },
      ]);
      const history = overview.history as { waiting: number | null }[];
      assert.equal(history.length, 60);
      assert.equal(history.at(-1)?.waiting, 1);
    });
  });

  test("the job list is filtered by state and method and paged, and a job's record is whole", async () => {
    await withDashboard({}, async (dashboard, jobs) => {
      const failed = await json(await call(dashboard, "/api/jobs?state=failed&method=sendEmail"));
      assert.equal(failed.total, 1);
      const [summary] = failed.jobs as { id: string; error: string }[];
      assert.equal(summary?.id, jobs.failed.id);
      assert.equal(summary?.error, "550 no such mailbox");
      const page = await json(await call(dashboard, "/api/jobs?offset=1&limit=1"));
      assert.equal(page.total, 3);
      assert.equal((page.jobs as unknown[]).length, 1);
      const record = await json(
        await call(dashboard, `/api/jobs/${encodeURIComponent(jobs.failed.id)}`),
      ) as unknown as JobRecord;
      assert.deepEqual(record.params, { to: "nobody@invalid.example" });
      assert.match(record.error?.stack ?? "", /550 no such mailbox\n\s+at /);
      const bad = await json(await call(dashboard, "/api/jobs?state=LOST"), 400);
      assert.match(String(bad.error), /--state takes NOT_STARTED/);
    });
  });

  test("the page, its script and its style come with a strict Content-Security-Policy and no inline script", async () => {
    await withDashboard({}, async (dashboard) => {
      const page = await call(dashboard, "/");
      assert.equal(page.status, 200);
      const csp = page.headers.get("content-security-policy") ?? "";
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      const html = await page.text();
      assert.deepEqual([...html.matchAll(/<script[^>]*>/g)].map((match) => match[0]), [
        '<script src="/dashboard.js" defer>',
      ]);
      assert.ok(!/ on[a-z]+=/i.test(html), "no inline event handler");
      const script = await call(dashboard, "/dashboard.js");
      assert.match(script.headers.get("content-type") ?? "", /^text\/javascript/);
      assert.ok(!(await script.text()).includes("innerHTML"));
      assert.equal((await call(dashboard, "/dashboard.css")).status, 200);
      assert.equal((await call(dashboard, "/nothing")).status, 404);
    });
  });

  test("retry and remove follow the rules of the jobq command and answer with its errors", async () => {
    await withDashboard({}, async (dashboard, jobs, directory) => {
      const refused = await json(await call(dashboard, "/api/retry", { id: jobs.waiting.id }), 409);
      assert.equal(
        refused.error,
        `Cannot retry job ${jobs.waiting.id}: it is NOT_STARTED, and only failed jobs can be retried`,
      );
      const { job } = await json(await call(dashboard, "/api/retry", { id: jobs.failed.id }));
      assert.equal((job as JobRecord).state, JobState.NOT_STARTED);
      assert.equal((job as JobRecord).methodName, "sendEmail");
      const missing = await json(await call(dashboard, "/api/remove", { id: jobs.failed.id }), 404);
      assert.equal(
        missing.error,
        `No job ${jobs.failed.id} in ${directory}: 'jobq ${directory} list' shows the jobs`,
      );
      await json(await call(dashboard, "/api/remove", { id: jobs.completed.id }));
      const badAge = await json(
        await call(dashboard, "/api/remove-failed", { olderThan: "a week" }),
        400,
      );
      assert.match(String(badAge.error), /^--older-than takes milliseconds/);
      const badMethod = await json(
        await call(dashboard, "/api/retry-failed", { method: "../x" }),
        400,
      );
      assert.match(String(badMethod.error), /method/i);
      const overview = await json(await call(dashboard, "/api/overview"));
      assert.deepEqual(overview.byState, {
        NOT_STARTED: 2,
        IN_PROGRESS: 0,
        COMPLETED: 0,
        FAILED: 0,
      });
    });
  });

  test("an id that names a path reaches no file: it is only compared with the listed jobs", async () => {
    await withDashboard({}, async (dashboard) => {
      for (const id of ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%00"]) {
        const response = await call(dashboard, `/api/jobs/${id}`);
        assert.equal(response.status, 404, id);
        await response.body?.cancel();
      }
      const removed = await json(await call(dashboard, "/api/remove", { id: "../.jobq" }), 404);
      assert.match(String(removed.error), /^No job/);
      await json(await call(dashboard, "/api/remove", { id: 7 }), 400);
      await json(await call(dashboard, "/api/remove", { id: "x".repeat(300) }), 400);
    });
  });

  test("a change without the dashboard's header, or from another site, is refused and changes nothing", async () => {
    await withDashboard({}, async (dashboard, jobs) => {
      const path = "/api/remove";
      const body = JSON.stringify({ id: jobs.waiting.id });
      const plain = await fetch(new URL(path, dashboard.url), { method: "POST", body });
      await json(plain, 403);
      await json(
        await call(dashboard, path, { id: jobs.waiting.id }, { origin: "http://evil.example" }),
        403,
      );
      await json(
        await call(dashboard, path, { id: jobs.waiting.id }, { "sec-fetch-site": "cross-site" }),
        403,
      );
      const list = await json(await call(dashboard, "/api/jobs?state=NOT_STARTED"));
      assert.equal(list.total, 1);
      // Another name for the loopback (DNS rebinding) is not served without a token.
      assert.equal(await getWithHost(dashboard, "evil.example:80"), 421);
      assert.equal(await getWithHost(dashboard, `localhost:${dashboard.port}`), 200);
    });
  });

  test("a read-only dashboard refuses every change", async () => {
    await withDashboard({ readOnly: true }, async (dashboard, jobs) => {
      const overview = await json(await call(dashboard, "/api/overview"));
      assert.equal(overview.readOnly, true);
      for (
        const [path, body] of [["/api/retry", { id: jobs.failed.id }], ["/api/retry-failed", {}]]
      ) {
        const refused = await json(await call(dashboard, path as string, body), 403);
        assert.match(String(refused.error), /read-only/);
      }
      assert.equal((await json(await call(dashboard, "/api/overview"))).total, 3);
    });
  });

  test("with a token, a request without it is refused; the token comes as a bearer or a cookie set by ?token=", async () => {
    const token = "s3cret-token-for-tests";
    await withDashboard({ token }, async (dashboard) => {
      for (const path of ["/", "/dashboard.js", "/api/overview"]) {
        const response = await call(dashboard, path);
        assert.equal(response.status, 401, path);
        await response.body?.cancel();
      }
      const wrong = await call(dashboard, "/api/overview", undefined, {
        authorization: "Bearer s3cret-token-for-testz",
      });
      assert.equal(wrong.status, 401);
      await wrong.body?.cancel();
      await json(
        await call(dashboard, "/api/overview", undefined, { authorization: `Bearer ${token}` }),
      );
      const visit = await call(dashboard, `/?token=${token}`);
      assert.equal(visit.status, 303);
      assert.equal(visit.headers.get("location"), "/");
      const [cookie] = visit.headers.getSetCookie();
      assert.match(cookie ?? "", /HttpOnly; SameSite=Strict/);
      await visit.body?.cancel();
      const page = await call(dashboard, "/", undefined, { cookie: cookie!.split(";")[0]! });
      assert.equal(page.status, 200);
      await page.body?.cancel();
    });
  });

  test("serveDashboard() refuses another address than the loopback without a token, and a bad port", async () => {
    await assert.rejects(
      serveDashboard({ directory: "/nonexistent", hostname: "0.0.0.0" }),
      (error: Error) => error instanceof TypeError && /without a token/.test(error.message),
    );
    await assert.rejects(serveDashboard({ directory: "/nonexistent", port: 70000 }), RangeError);
    await assert.rejects(serveDashboard({ port: 0 }), TypeError);
  });

  test("requests that come together share one snapshot of the jobs", async () => {
    await withTempDir(async (directory) => {
      await populate(directory);
      const engine = new JobQueueEngine({ directory });
      let listings = 0;
      const getAllJobs = engine.getAllJobs.bind(engine);
      engine.getAllJobs = () => {
        listings++;
        return getAllJobs();
      };
      const dashboard = await serveDashboard({ engine, port: 0 });
      try {
        const before = listings;
        const responses = await Promise.all(
          Array.from({ length: 20 }, () => call(dashboard, "/api/jobs?limit=1")),
        );
        for (const response of responses) await json(response);
        assert.ok(listings - before <= 1, `${listings - before} listings for 20 requests`);
      } finally {
        await dashboard.close();
        await engine.dispose();
      }
    });
  });
});

describe("jobq <directory> dashboard", () => {
  test("jobq dashboard --port 0 prints its address, serves the directory and stops on SIGTERM", async () => {
    await withTempDir(async (directory) => {
      await populate(directory);
      const child = spawnScript(cliPath, [directory, "dashboard", "--port", "0"]);
      try {
        await child.waitForOutput("Ctrl-C stops it");
        const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(child.stdout())?.[0];
        assert.ok(url, child.stdout());
        const overview = await (await fetch(new URL("/api/overview", url))).json();
        assert.equal(overview.total, 3);
        child.child.kill("SIGTERM");
        await withDeadline(child.exited, 20_000, "the dashboard's exit");
        assert.equal(child.stderr(), "");
        // Its engine was disposed: its engine file is gone.
        const engines = await readdir(join(directory, ".jobq", "engines"));
        assert.deepEqual(engines.filter((name) => name.endsWith(".json")), []);
      } finally {
        await cleanUpFixtures(child);
      }
    });
  });

  test("jobq dashboard refuses a bad port, and another host without a token, as usage errors", async () => {
    await withTempDir(async (directory) => {
      await populate(directory);
      for (
        const [args, message] of [
          [["--port", "http"], /--port takes a port number/],
          [["--host", "0.0.0.0"], /without a token/],
        ] as const
      ) {
        const child = spawnScript(cliPath, [directory, "dashboard", ...args]);
        const { code } = await withDeadline(child.exited, 20_000, "the command's exit");
        assert.equal(code, 2, child.stderr());
        assert.match(child.stderr(), message);
      }
    });
  });
});
