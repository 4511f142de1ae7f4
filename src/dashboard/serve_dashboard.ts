/**
 * The jobq web dashboard: a page that shows a queue live (counts per state
 * and method, a chart of the last hour, the next due and oldest waiting
 * jobs, a filtered and paged job list, each job's whole record, the live
 * engines) and retries or removes jobs with the rules of the `jobq` command.
 * It runs under Deno, Bun and Node with no dependency, and loads nothing
 * unless imported. It serves any store: a directory, a queue in PostgreSQL.
 *
 * ```sh
 * jobq ./jobs dashboard --port 8080
 * jobq postgres://jobq:secret@db.example.com/app dashboard --port 8080
 * ```
 *
 * @example Serving a directory's dashboard from code
 * ```ts
 * import { serveDashboard } from "@x/jobq/dashboard";
 * import { JobQueue } from "@x/jobq";
 * import assert from "node:assert/strict";
 *
 * const directory = await Deno.makeTempDir();
 * const queue = new JobQueue({ directory });
 * await queue.scheduleJob({ methodName: "sendEmail", waitTime: 60_000 });
 * await queue.dispose();
 *
 * const controller = new AbortController();
 * const dashboard = await serveDashboard({ directory, port: 0, signal: controller.signal });
 * const overview = await (await fetch(new URL("/api/overview", dashboard.url))).json();
 * assert.equal(overview.byState.NOT_STARTED, 1);
 * controller.abort();
 * await dashboard.closed;
 * ```
 *
 * @module
 */
import { JobQueueEngine } from "../engine/job_queue_engine.ts";
import type { JobStore } from "../store/job_store.ts";
import { createApp } from "./_app.ts";
import { hostForUrl, listen, type Listening } from "./_http.ts";
import { DashboardSource } from "./_source.ts";

/**
 * Options of {@linkcode serveDashboard}: the queue (an engine, a store or a
 * directory), where to listen and who may change the queue.
 *
 * @example Serving on all interfaces, with a token
 * ```ts
 * import type { DashboardOptions } from "@x/jobq/dashboard";
 *
 * const options: DashboardOptions = {
 *   directory: "./jobs",
 *   hostname: "0.0.0.0",
 *   token: "a long random secret",
 *   readOnly: true,
 * };
 * ```
 */
export interface DashboardOptions {
  /**
   * The engine to read the queue through, such as the application's own; it
   * is not disposed when the dashboard closes. Give one of `engine`,
   * `store` and `directory`.
   */
  engine?: JobQueueEngine;
  /**
   * The queue's store, such as a `PostgresJobStore`; the dashboard makes
   * its own engine on it (one that never runs jobs), disposed, and the
   * store closed, when it closes. Give one of `engine`, `store` and
   * `directory`.
   */
  store?: JobStore;
  /**
   * The job directory; the dashboard makes its own engine on it (one that
   * never runs jobs), disposed when it closes. Give one of `engine`,
   * `store` and `directory`.
   */
  directory?: string;
  /**
   * The port; `0` picks a free one ({@linkcode Dashboard.port} tells it).
   *
   * @default {8080}
   */
  port?: number;
  /**
   * The address to listen on. Any address but the loopback (`127.0.0.1`,
   * `::1`, `localhost`) needs a `token`.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * A secret every request must carry: a first visit to `/?token=<token>`
   * sets it as a cookie, or a client sends `Authorization: Bearer <token>`.
   *
   * @default {undefined (no token: loopback only)}
   */
  token?: string;
  /**
   * Refuse every request that changes the queue (retry, remove).
   *
   * @default {false}
   */
  readOnly?: boolean;
  /** Closes the dashboard when aborted. */
  signal?: AbortSignal;
}

/**
 * A dashboard being served, from {@linkcode serveDashboard}.
 *
 * @example Closing a dashboard
 * ```ts
 * import { serveDashboard } from "@x/jobq/dashboard";
 * import { JobQueueEngine } from "@x/jobq";
 *
 * const engine = new JobQueueEngine({ directory: await Deno.makeTempDir() });
 * const dashboard = await serveDashboard({ engine, port: 0 });
 * console.log(`Dashboard at ${dashboard.url}`);
 * await dashboard.close();
 * await engine.dispose();
 * ```
 */
export interface Dashboard {
  /** Where the page is, such as `http://127.0.0.1:8080/`. */
  readonly url: string;
  /** The address it listens on. */
  readonly hostname: string;
  /** The port it listens on (the one picked, for port 0). */
  readonly port: number;
  /** Resolves once the dashboard has closed (by `close()` or the signal). */
  readonly closed: Promise<void>;
  /** Stops serving and resolves once closed; later calls return the same promise. */
  close(): Promise<void>;
  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);
/** How old a snapshot of the jobs may be before a request takes a new one. */
const SNAPSHOT_MAX_AGE_MS = 1000;
/** How often the chart is sampled while no page asks. */
const SAMPLE_INTERVAL_MS = 10_000;

/**
 * Serves the dashboard of a queue until `close()` or the signal. The page
 * polls a JSON API; all requests share one snapshot of the jobs, taken at
 * most once a second, so a queue of many jobs stays responsive. The chart
 * covers the last hour, sampled while the dashboard runs.
 *
 * Safety: it listens on 127.0.0.1 unless told otherwise, and any other
 * address needs a `token`; changes are POST requests that must be
 * same-origin and carry an `X-Jobq-Dashboard: 1` header; every page is
 * served with a strict Content-Security-Policy.
 *
 * The page's header names the queue by its store's `location`: the
 * directory, or the database URL without its password.
 *
 * @param options The queue and where to serve it.
 * @returns The dashboard, once it listens.
 * @throws {TypeError} When not exactly one of `engine`, `store` and
 *   `directory` is given, or a non-loopback `hostname` has no `token`.
 * @throws {RangeError} When `port` is not an integer from 0 to 65535.
 *
 * @example Reading a directory's counts through the dashboard's API
 * ```ts
 * import { serveDashboard } from "@x/jobq/dashboard";
 * import { JobQueue } from "@x/jobq";
 * import assert from "node:assert/strict";
 *
 * const directory = await Deno.makeTempDir();
 * const queue = new JobQueue({ directory });
 * await queue.scheduleJob({ methodName: "resizeImage", params: { id: 7 } });
 * await queue.dispose();
 *
 * await using dashboard = await serveDashboard({ directory, port: 0, readOnly: true });
 * const response = await fetch(new URL("/api/jobs?state=NOT_STARTED", dashboard.url));
 * const page = await response.json();
 * assert.equal(page.total, 1);
 * assert.equal(page.jobs[0].methodName, "resizeImage");
 * ```
 *
 * @example Serving a queue in PostgreSQL
 * ```ts ignore
 * import { serveDashboard } from "@x/jobq/dashboard";
 * import { PostgresJobStore } from "@x/jobq/postgres";
 *
 * const store = new PostgresJobStore({ url: "postgres://jobq:secret@db.example.com/app" });
 * const dashboard = await serveDashboard({ store, port: 8080 });
 * // The page's header shows postgres://jobq@db.example.com/app?schema=jobq.
 * console.log(`Dashboard at ${dashboard.url}`);
 * ```
 */
export async function serveDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { engine: given, store, directory, token, readOnly = false, signal } = options ?? {};
  const hostname = options?.hostname ?? "127.0.0.1";
  const port = options?.port ?? 8080;
  if ([given, store, directory].filter((queue) => queue !== undefined).length !== 1) {
    throw new TypeError(
      "Cannot serve the dashboard: pass one of { engine }, { store } and { directory }",
    );
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `Cannot serve the dashboard as 'port' must be an integer from 0 to 65535: current value is ${port}`,
    );
  }
  if (token !== undefined && (typeof token !== "string" || token.length < 8)) {
    throw new TypeError(
      "Cannot serve the dashboard: the token must be a string of at least 8 characters",
    );
  }
  if (!LOOPBACK.has(hostname) && token === undefined) {
    throw new TypeError(
      `Cannot serve the dashboard on ${hostname} without a token: anyone who reaches it could ` +
        "change the queue; pass a token (--token or JOBQ_DASHBOARD_TOKEN), or listen on 127.0.0.1",
    );
  }
  const engine = given ??
    new JobQueueEngine(store === undefined ? { directory: directory!, fsync: true } : { store });
  const source = new DashboardSource(engine, SNAPSHOT_MAX_AGE_MS);
  let server: Listening;
  try {
    // Fails early, before listening, on a directory that cannot be read.
    await source.snapshot();
    server = await listen(createApp({ source, token, readOnly }), hostname, port);
  } catch (error) {
    if (given === undefined) await engine.dispose();
    throw error;
  }
  const sampler = setInterval(() => void source.snapshot().catch(() => {}), SAMPLE_INTERVAL_MS);
  let closing: Promise<void> | undefined;
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => markClosed = resolve);
  const close = () =>
    closing ??= (async () => {
      clearInterval(sampler);
      signal?.removeEventListener("abort", onAbort);
      await server.close();
      if (given === undefined) await engine.dispose();
    })().finally(markClosed);
  const onAbort = () => void close();
  if (signal?.aborted) void close();
  else signal?.addEventListener("abort", onAbort, { once: true });
  return {
    url: `http://${hostForUrl(hostname)}:${server.port}/`,
    hostname,
    port: server.port,
    closed,
    close,
    [Symbol.asyncDispose]: close,
  };
}
