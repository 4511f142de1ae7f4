/**
 * The store's tables, created and migrated by the store itself. Each
 * migration runs once per schema, in order, recorded in `migrations`; all of
 * it happens under a transaction-level advisory lock, so that engines that
 * start at once wait for one another instead of racing to create tables.
 */
import type { PostgresClient } from "./_client.ts";

/**
 * The migrations, in order; `$S` stands for the quoted schema. Never edit
 * one that was released: add the next.
 */
const MIGRATIONS: readonly string[] = [
  // 1: jobs and engines.
  `
  CREATE TABLE $S.engines (
    engine_id text COLLATE "C" PRIMARY KEY,
    pid integer NOT NULL,
    lease_ms bigint NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE $S.jobs (
    -- "C": ids sort as JavaScript strings do, by execution date, then creation.
    id text COLLATE "C" PRIMARY KEY,
    method_name text NOT NULL,
    state text NOT NULL
      CHECK (state IN ('NOT_STARTED', 'IN_PROGRESS', 'COMPLETED', 'FAILED')),
    execution_date bigint NOT NULL,
    priority bigint NOT NULL DEFAULT 0,
    unique_key text,
    attempts integer NOT NULL DEFAULT 0,
    interruptions integer NOT NULL DEFAULT 0,
    created_at bigint NOT NULL,
    started_at bigint,
    finished_at bigint,
    claimed_by text COLLATE "C",
    claimed_at timestamptz,
    -- json, not jsonb: jsonb reorders keys and refuses "\\u0000".
    params json,
    result json,
    progress json,
    error json,
    options json
  );
  -- A unique key is held by a waiting or running job only.
  CREATE UNIQUE INDEX jobs_unique_key ON $S.jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('NOT_STARTED', 'IN_PROGRESS');
  -- claimDue: the waiting jobs of each priority, in the order they are
  -- handed out, and when the next comes due. No index by date alone: it
  -- would tempt the planner to read every due job and sort them.
  CREATE INDEX jobs_due ON $S.jobs (priority DESC, execution_date, id)
    WHERE state = 'NOT_STARTED' AND claimed_by IS NULL;
  -- recover, and outcomes after a lost claim.
  CREATE INDEX jobs_claimed ON $S.jobs (claimed_by) WHERE claimed_by IS NOT NULL;
  -- pruneCompleted and removeWhere by age.
  CREATE INDEX jobs_finished ON $S.jobs (state, finished_at) WHERE finished_at IS NOT NULL;
  `,
];

/** The newest version of the tables this jobq knows. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/** Thrown when a newer jobq migrated the schema: this one must not write to it. */
export class NewerSchemaError extends Error {
  override name = "NewerSchemaError";
}

/**
 * Creates the schema and brings its tables to {@linkcode SCHEMA_VERSION}, in
 * one transaction under an advisory lock named after the schema.
 */
export async function migrate(sql: PostgresClient, schema: string, quoted: string): Promise<void> {
  await sql.begin(async (tx) => {
    // Notices ("schema already exists, skipping") are noise to users.
    await tx.unsafe("SET LOCAL client_min_messages = warning");
    await tx.unsafe("SELECT pg_advisory_xact_lock(hashtext($1::text))", [`jobq:${schema}`]);
    await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await tx.unsafe(
      `CREATE TABLE IF NOT EXISTS ${quoted}.migrations (
        version integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );
    const [[current]] = await tx.unsafe(
      `SELECT coalesce(max(version), 0) FROM ${quoted}.migrations`,
    ).values() as [[number]];
    if (current > SCHEMA_VERSION) {
      throw new NewerSchemaError(
        `its tables are at version ${current}, made by a newer jobq than this one ` +
          `(version ${SCHEMA_VERSION}): upgrade jobq in every process that uses it`,
      );
    }
    for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
      await tx.unsafe(MIGRATIONS[version - 1]!.replaceAll("$S", quoted));
      await tx.unsafe(`INSERT INTO ${quoted}.migrations (version) VALUES ($1::integer)`, [
        version,
      ]);
    }
  });
}
