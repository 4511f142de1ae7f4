/**
 * A {@linkcode JobStore} in PostgreSQL, so that engines on several machines
 * share one queue: `new JobQueue({ store: new PostgresJobStore({ url }) })`.
 * Needs the `postgres` package (postgres.js) 3.4; only this module loads it.
 *
 * @example
 * ```ts ignore
 * import { JobQueue } from "@x/jobq";
 * import { PostgresJobStore } from "@x/jobq/postgres";
 *
 * const queue = new JobQueue({
 *   store: new PostgresJobStore({ url: "postgres://jobq@db.example.com/app", schema: "jobq" }),
 * });
 * await queue.dispose();
 * ```
 *
 * @module
 */
export { PostgresJobStore, type PostgresJobStoreOptions } from "./postgres_job_store.ts";
export type { PostgresClient, PostgresQuery } from "./_client.ts";
