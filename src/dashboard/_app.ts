/**
 * The dashboard's routes, as a web-standard handler: the page and its two
 * assets, the JSON API, and the checks every request passes first (token,
 * host, cross-site requests, read-only).
 */
import { CommandError, parseState, UsageError } from "../admin/_operations.ts";
import { JobQueueError } from "../job_queue_error.ts";
import type { JobState } from "../job/job.ts";
import { type DashboardSource, MAX_PAGE_SIZE } from "./_source.ts";
import { PAGE_CSS, PAGE_HTML } from "./_page.ts";
import { PAGE_JS } from "./_page_js.ts";

/** The header every state-changing request must carry: a cross-site form cannot send it. */
export const CSRF_HEADER = "x-jobq-dashboard";
/** The cookie a first visit with `?token=` sets. */
export const TOKEN_COOKIE = "jobq_dashboard_token";

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; " +
    "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; " +
    "frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["127.0.0.1", "localhost", "[::1]"]);

export interface AppOptions {
  readonly source: DashboardSource;
  readonly token: string | undefined;
  readonly readOnly: boolean;
}

/** The handler of every request. */
export function createApp(options: AppOptions): (request: Request) => Promise<Response> {
  return async (request) => {
    try {
      return withHeaders(await route(options, request));
    } catch (error) {
      return withHeaders(errorResponse(error));
    }
  };
}

async function route(
  { source, token, readOnly }: AppOptions,
  request: Request,
): Promise<Response> {
  const url = new URL(request.url);
  const host = request.headers.get("host") ?? "";
  if (token === undefined && !LOOPBACK_HOSTS.has(host.replace(/:\d+$/, ""))) {
    // A page of another site that resolves its own name to 127.0.0.1 (DNS
    // rebinding) would otherwise read the API as same-origin.
    return text(421, "This dashboard answers to 127.0.0.1 and localhost only");
  }
  if (token !== undefined) {
    const given = url.searchParams.get("token");
    if (given !== null && request.method === "GET" && url.pathname === "/") {
      if (!sameSecret(given, token)) return text(401, "Wrong token");
      // The token moves from the address bar to a cookie the page's requests carry.
      return new Response(null, {
        status: 303,
        headers: {
          location: "/",
          "set-cookie": `${TOKEN_COOKIE}=${
            encodeURIComponent(token)
          }; Path=/; HttpOnly; SameSite=Strict`,
        },
      });
    }
    if (!carriesToken(request, token)) {
      return text(
        401,
        "This dashboard needs its token: open /?token=<token> once, " +
          "or send 'Authorization: Bearer <token>'",
      );
    }
  }
  if (request.method === "POST") {
    if (readOnly) return json(403, { error: "This dashboard is read-only (--read-only)" });
    const site = request.headers.get("sec-fetch-site");
    const origin = request.headers.get("origin");
    if (
      request.headers.get(CSRF_HEADER) !== "1" ||
      (site !== null && site !== "same-origin") ||
      (origin !== null && origin !== `http://${host}` && origin !== `https://${host}`)
    ) {
      return json(403, { error: "Cross-site requests cannot change the queue" });
    }
    return await post(source, url.pathname, await readJson(request));
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    return text(405, "Only GET and POST are served");
  }
  switch (url.pathname) {
    case "/":
      return asset(PAGE_HTML, "text/html; charset=utf-8");
    case "/dashboard.js":
      return asset(PAGE_JS, "text/javascript; charset=utf-8");
    case "/dashboard.css":
      return asset(PAGE_CSS, "text/css; charset=utf-8");
    case "/api/overview":
      return json(200, await source.overview(readOnly));
    case "/api/jobs": {
      const params = url.searchParams;
      const state = optional(params.get("state"));
      const method = optional(params.get("method"));
      const filter: { state?: JobState; method?: string } = {};
      if (state !== undefined) filter.state = parseState(state);
      if (method !== undefined) filter.method = method;
      const offset = integer(params.get("offset"), "offset", 0, Number.MAX_SAFE_INTEGER, 0);
      const limit = integer(params.get("limit"), "limit", 1, MAX_PAGE_SIZE, 50);
      return json(200, await source.jobs(filter, offset, limit));
    }
  }
  if (url.pathname.startsWith("/api/jobs/")) {
    const id = decodeURIComponent(url.pathname.slice("/api/jobs/".length));
    return json(200, await source.job(id));
  }
  return text(404, "Not found");
}

async function post(
  source: DashboardSource,
  path: string,
  body: Record<string, unknown>,
): Promise<Response> {
  switch (path) {
    case "/api/retry":
      return json(200, { job: await source.retry(requiredString(body, "id")) });
    case "/api/retry-failed":
      return json(200, { retried: await source.retryFailed(optionalString(body, "method")) });
    case "/api/remove":
      await source.remove(requiredString(body, "id"));
      return json(200, { removed: 1 });
    case "/api/remove-failed":
      return json(200, {
        removed: await source.removeFailed(
          optionalString(body, "method"),
          optionalString(body, "olderThan"),
        ),
      });
  }
  return json(404, { error: "Not found" });
}

async function readJson(request: Request): Promise<Record<string, unknown>> {
  const body = await request.text();
  let value: unknown;
  try {
    value = body === "" ? {} : JSON.parse(body);
  } catch {
    throw new UsageError("The request body must be a JSON object");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError("The request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function requiredString(body: Record<string, unknown>, name: string): string {
  const value = optionalString(body, name);
  if (value === undefined) throw new UsageError(`The request needs '${name}'`);
  return value;
}

function optionalString(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw new UsageError(`'${name}' must be a string`);
  return value;
}

function optional(value: string | null): string | undefined {
  return value === null || value === "" ? undefined : value;
}

function integer(
  text: string | null,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (text === null || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`'${name}' must be an integer from ${min} to ${max}`);
  }
  return value;
}

function carriesToken(request: Request, token: string): boolean {
  const authorization = request.headers.get("authorization");
  if (authorization?.startsWith("Bearer ")) {
    return sameSecret(authorization.slice("Bearer ".length), token);
  }
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === TOKEN_COOKIE) {
      try {
        return sameSecret(decodeURIComponent(value.join("=")), token);
      } catch {
        return false;
      }
    }
  }
  return false;
}

/** Compares in time that does not depend on where the strings differ. */
function sameSecret(given: string, secret: string): boolean {
  let difference = given.length ^ secret.length;
  for (let index = 0; index < secret.length; index++) {
    difference |= (given.charCodeAt(index) || 0) ^ secret.charCodeAt(index);
  }
  return difference === 0;
}

function errorResponse(error: unknown): Response {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof UsageError || error instanceof TypeError || error instanceof RangeError) {
    return json(400, { error: message });
  }
  if (error instanceof CommandError) {
    return json(message.startsWith("No job ") ? 404 : 409, { error: message });
  }
  if (error instanceof JobQueueError) return json(409, { error: message });
  return json(500, { error: message });
}

function asset(body: string, type: string): Response {
  return new Response(body, { headers: { "content-type": type } });
}

function json(status: number, value: unknown): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

function text(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

function withHeaders(response: Response): Response {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    response.headers.set(name, value);
  }
  return response;
}
