/**
 * The few things the store asks of a postgres.js client, and how it makes
 * one from a URL. postgres.js is loaded here only, when a store is opened
 * with a URL: an application that passes its own client, or never uses this
 * store, loads nothing.
 */
import { JobQueueError } from "../../job_queue_error.ts";

/** The postgres.js version jobq is tested with: the one to install. */
export const POSTGRES_VERSION = "3.4.10";

/** A query of postgres.js: awaitable, or read as arrays of values. */
export interface PostgresQuery extends PromiseLike<unknown> {
  /** The rows as arrays of values, in the order of the columns. */
  values(): PromiseLike<unknown[][]>;
}

/**
 * A postgres.js client (`postgres(url)` from the `postgres` package, 3.4),
 * as far as {@linkcode PostgresJobStore} uses it: give one the application
 * already has as the `sql` option.
 */
export interface PostgresClient {
  /** Runs a query written as text with `$1`-style parameters. */
  // deno-lint-ignore no-explicit-any -- postgres.js types its parameters loosely
  unsafe(query: string, parameters?: any[], options?: { prepare?: boolean }): PostgresQuery;
  /** Runs `callback` in a transaction: committed when it resolves, rolled back when it throws. */
  // deno-lint-ignore no-explicit-any -- postgres.js's transaction client has a richer type
  begin<T>(callback: (sql: any) => T | Promise<T>): Promise<any>;
  /** Listens to a channel on a connection of its own; `onListen` runs at each (re)connection. */
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onListen?: () => void,
  ): Promise<{ unlisten(): Promise<void> }>;
  /** Closes every connection, waiting at most `timeout` seconds for running queries. */
  end(options?: { timeout?: number }): Promise<void>;
}

/** How a store connects when given a URL. */
export interface ConnectOptions {
  url: string;
  max: number;
  connectTimeout: number;
}

/**
 * Loads postgres.js and makes a client for `url`. A `host` query parameter
 * naming a directory (`?host=/var/run/postgresql`, as libpq reads it) means
 * a unix socket there; postgres.js would otherwise send it to the server as
 * a setting.
 */
export async function connect(options: ConnectOptions): Promise<PostgresClient> {
  return (await clientMaker(options))();
}

/**
 * Loads postgres.js and checks `url` once, and returns what makes a client
 * for it (as {@linkcode connect} does), right away: for a store that starts
 * over with a new client.
 */
export async function clientMaker(options: ConnectOptions): Promise<() => PostgresClient> {
  let postgres: (url: string, options: Record<string, unknown>) => unknown;
  try {
    ({ default: postgres } = await import("postgres"));
  } catch (cause) {
    throw new JobQueueError(
      `Cannot use PostgresJobStore: the 'postgres' package is missing; install ` +
        `postgres@${POSTGRES_VERSION} (npm install postgres@${POSTGRES_VERSION})`,
      { cause },
    );
  }
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (cause) {
    throw new TypeError(
      "Cannot use PostgresJobStore: 'url' must be a connection URL like " +
        "postgres://user:password@host:5432/database",
      { cause },
    );
  }
  const socketDirectory = url.searchParams.get("host");
  url.searchParams.delete("host");
  return () =>
    postgres(url.href, {
      max: options.max,
      connect_timeout: options.connectTimeout / 1000,
      // Notices ("relation already exists, skipping") are not for users.
      onnotice: () => {},
      ...(socketDirectory === null ? {} : { host: socketDirectory }),
    }) as PostgresClient;
}
