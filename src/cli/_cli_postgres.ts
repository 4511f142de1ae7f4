/**
 * The `jobq` command on a queue in PostgreSQL: imported only when the
 * command is given a `postgres://` URL, so that the command on a directory
 * loads none of the PostgreSQL store.
 */
import { CommandError, UsageError } from "../admin/_operations.ts";
import { connect } from "../store/postgres/_client.ts";
import { PostgresJobStore } from "../store/postgres/mod.ts";

/** How long the command waits for the server before it gives up, in ms. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The store of the queue at `location`, a URL such as
 * `postgres://user:password@host/database?schema=jobq` (the schema is
 * `jobq` when not given), once it is known to hold a jobq queue: as a
 * directory without `.jobq/`, a schema without jobq's tables is refused
 * rather than created.
 */
export async function openPostgresStore(location: string): Promise<PostgresJobStore> {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new UsageError(
      "the PostgreSQL URL cannot be read: write it as " +
        "postgres://user:password@host:5432/database[?schema=name]",
    );
  }
  const schema = url.searchParams.get("schema") ?? "jobq";
  // postgres.js would send any other query parameter to the server as a setting.
  url.searchParams.delete("schema");
  let store: PostgresJobStore;
  try {
    store = new PostgresJobStore({ url: url.href, schema, connectTimeout: CONNECT_TIMEOUT_MS });
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
  await checkQueue(url.href, store);
  return store;
}

/** Fails unless the store's schema holds jobq's tables, without creating anything. */
async function checkQueue(url: string, store: PostgresJobStore): Promise<void> {
  const sql = await connect({ url, max: 1, connectTimeout: CONNECT_TIMEOUT_MS });
  let exists: unknown;
  try {
    const rows = await sql.unsafe("SELECT to_regclass($1) IS NOT NULL", [
      `"${store.schema}".jobs`,
    ]).values();
    exists = rows[0]?.[0];
  } catch (cause) {
    throw new CommandError(
      `Cannot read ${store.location}: PostgreSQL failed with '${
        cause instanceof Error ? cause.message : String(cause)
      }'; check that the server is reachable and the URL is right`,
    );
  } finally {
    await sql.end({ timeout: 5 }).catch(() => {});
  }
  if (exists !== true) {
    throw new CommandError(
      `${store.location} holds no jobq queue (no table ${store.schema}.jobs): pass the URL ` +
        "and schema given to new PostgresJobStore({ url, schema }), the schema as ?schema=<name>",
    );
  }
}
