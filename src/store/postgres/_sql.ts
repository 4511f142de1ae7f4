/**
 * Every statement of the store, as text with `$n` parameters. Dates are
 * epoch ms in `bigint` columns; "now" is always the database's clock
 * ({@linkcode NOW_MS}), so that engines with skewed clocks agree on what is
 * due and whose lease ran out. JSON is bound as text and cast.
 */
import { columns } from "./_rows.ts";

/** The database's clock in epoch ms. */
export const NOW_MS = "floor(extract(epoch FROM now()) * 1000)::bigint";

/** Waiting and running jobs hold their unique key (the partial unique index). */
const HOLDS_KEY = "unique_key IS NOT NULL AND state IN ('NOT_STARTED', 'IN_PROGRESS')";

/**
 * Wraps a data-modifying statement that returns `columns("j")` (or any
 * columns) so that it also notifies `channel`, once, when it changed a row
 * (`before`: common table expressions the statement uses, each with a comma):
 * in the same statement, so no extra round trip; PostgreSQL delivers it at
 * commit and folds repeats within a transaction.
 */
function notifying(channel: string, statement: string, before = ""): string {
  return `WITH ${before} changed AS (${statement}),
    notified AS (SELECT pg_notify(${literal(channel)}, '') FROM (SELECT FROM changed LIMIT 1) one)
    SELECT changed.* FROM changed LEFT JOIN notified ON true`;
}

/** A string as an SQL literal. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * Inserts the jobs of `$1` (see `NewRow`) into `jobs`, as `r`. A field left
 * out of a row is NULL there: the row's defaults are left out, so that the
 * server parses less.
 */
function insertRows(jobs: string): string {
  return `INSERT INTO ${jobs} (id, method_name, state, execution_date, priority, unique_key,
      attempts, interruptions, created_at, started_at, finished_at,
      params, result, progress, error, options)
    SELECT r.id, r.method_name, r.state, r.execution_date, coalesce(r.priority, 0), r.unique_key,
      coalesce(r.attempts, 0), coalesce(r.interruptions, 0), r.created_at, r.started_at,
      r.finished_at, r.params::json, r.result::json, r.progress::json, r.error::json,
      r.options::json
    FROM json_to_recordset($1::text::json) AS r(id text, method_name text, state text,
      execution_date bigint, priority bigint, unique_key text, attempts integer,
      interruptions integer, created_at bigint, started_at bigint, finished_at bigint,
      params text, result text, progress text, error text, options text, occurrence boolean)`;
}

/** The statements of one schema (`s`, quoted) that notifies `channel`. */
export function statements(s: string, channel: string) {
  const jobs = `${s}.jobs`;
  const claimedByMe = "j.id = $1::text AND j.claimed_by = $2::text";
  return {
    /**
     * $1: the new jobs as JSON (see `NewRow`), some with unique keys;
     * returns the ids stored.
     */
    insert: notifying(
      channel,
      `${insertRows(jobs)}
      -- A late occurrence of a recurring job is not stored: it may have run already.
      WHERE r.occurrence IS NOT TRUE OR r.execution_date > ${NOW_MS}
      ON CONFLICT (unique_key) WHERE ${HOLDS_KEY} DO NOTHING
      RETURNING id`,
    ),
    /**
     * $1: the new jobs as JSON, none with a unique key (nor an occurrence of
     * a recurring job, which has one): each is stored, or the statement
     * fails. Without `ON CONFLICT` (a speculative insertion per row) and
     * `RETURNING`, the server spends about a sixth less time on it.
     */
    insertAll: `WITH changed AS (${insertRows(jobs)})
      SELECT pg_notify(${literal(channel)}, '')`,
    /** $1: unique keys as a JSON array; the jobs that hold them. */
    holders: `SELECT ${columns("j")} FROM ${jobs} j
      WHERE j.unique_key IN (SELECT json_array_elements_text($1::text::json)) AND j.${HOLDS_KEY}`,
    get: `SELECT ${columns("j")} FROM ${jobs} j WHERE j.id = $1::text`,
    /** $1 state, $2 method, $3 after, $4 limit: each NULL for "any". */
    list: `SELECT ${columns("j")} FROM ${jobs} j
      WHERE ($1::text IS NULL OR j.state = $1::text)
        AND ($2::text IS NULL OR j.method_name = $2::text)
        AND ($3::text IS NULL OR j.id > $3::text)
      ORDER BY j.id LIMIT $4::bigint`,

    /**
     * $1 engine, $2 methods to skip (JSON array); `limit` is written into
     * the text. One statement: lock the next due jobs, skipping those other
     * engines are locking right now, claim them, and tell in how many ms the
     * first job left waiting comes due. One row with NULL job columns when none was
     * claimed.
     *
     * Written so that its cost does not grow with the jobs waiting for a
     * later date (1,000,000 due in a day): it reads the priorities of the
     * waiting jobs, one probe of `jobs_due` each, and for each priority only
     * its due jobs, as a range of `jobs_due` that ends at the first job not
     * due yet, up to `limit` of them. (Walking `jobs_due` in order with a
     * filter on the date read every waiting job when fewer than `limit` were
     * due: 350 ms a claim with 200,000 waiting.) The limit is a literal, not
     * a parameter: the plan PostgreSQL keeps for a prepared statement after
     * a few runs assumes a parameter's LIMIT reads a tenth of the rows. One
     * prepared statement per limit: at most `maxConcurrency` + 1 of them (0
     * asks only when the next job comes due).
     */
    claimDue: (limit: number) =>
      `WITH RECURSIVE skip AS (SELECT json_array_elements_text($2::text::json) AS method_name),
      priorities AS (
        (SELECT priority FROM ${jobs} WHERE state = 'NOT_STARTED' AND claimed_by IS NULL
          ORDER BY priority DESC LIMIT 1)
        UNION ALL
        SELECT (
          SELECT j.priority FROM ${jobs} j
          WHERE j.state = 'NOT_STARTED' AND j.claimed_by IS NULL AND j.priority < p.priority
          ORDER BY j.priority DESC LIMIT 1
        ) FROM priorities p WHERE p.priority IS NOT NULL
      ),
      next AS (
        SELECT due.id FROM priorities p CROSS JOIN LATERAL (
          SELECT id, execution_date FROM ${jobs}
          WHERE state = 'NOT_STARTED' AND claimed_by IS NULL AND priority = p.priority
            AND execution_date <= ${NOW_MS}
            AND method_name NOT IN (SELECT method_name FROM skip)
          ORDER BY execution_date, id
          LIMIT ${Math.max(0, Math.trunc(limit))}
          FOR UPDATE SKIP LOCKED
        ) due
        ORDER BY p.priority DESC, due.execution_date, due.id
        LIMIT ${Math.max(0, Math.trunc(limit))}
      ),
      claimed AS (
        UPDATE ${jobs} j SET state = 'IN_PROGRESS', claimed_by = $1::text, claimed_at = now(),
          attempts = j.attempts + 1, started_at = ${NOW_MS}
        FROM next WHERE j.id = next.id
        RETURNING ${columns("j")}
      ),
      -- The first waiting job of each priority (an index scan that stops at
      -- its first row), in ms from now, for the engine's clock, which may
      -- not be the server's.
      waiting AS (
        SELECT min(first.execution_date) - ${NOW_MS} AS next_due_in
        FROM priorities p CROSS JOIN LATERAL (
          SELECT execution_date FROM ${jobs}
          WHERE state = 'NOT_STARTED' AND claimed_by IS NULL AND priority = p.priority
            AND method_name NOT IN (SELECT method_name FROM skip)
            AND id NOT IN (SELECT id FROM next)
          ORDER BY execution_date LIMIT 1
        ) first
      )
      SELECT claimed.*, waiting.next_due_in FROM waiting LEFT JOIN claimed ON true
      ORDER BY claimed.priority DESC, claimed.execution_date, claimed.id`,

    // A finished job frees nothing another engine could claim, so completing
    // or failing one does not NOTIFY: PostgreSQL holds a lock from a
    // notifying transaction's commit until its end, WAL flush included, so
    // notifying commits flush one at a time. On a server with fsync on, 8
    // connections committing one-row updates made 4,300–5,200 commits/s
    // without NOTIFY and 1,500–2,100 with it (here, 2 cores).
    /** $1 id, $2 engine, $3 result (JSON text). */
    completeKeep:
      `UPDATE ${jobs} j SET state = 'COMPLETED', finished_at = ${NOW_MS}, result = $3::text::json,
        claimed_by = NULL, claimed_at = NULL
      WHERE ${claimedByMe} RETURNING ${columns("j")}`,
    /** $1 id, $2 engine; returns the row as it was, and the time. */
    completeRemove: `DELETE FROM ${jobs} j WHERE ${claimedByMe} RETURNING ${
      columns("j")
    }, ${NOW_MS}`,
    /** $1 id, $2 engine, $3 progress (JSON text). */
    progress: `UPDATE ${jobs} j SET progress = $3::text::json
      WHERE ${claimedByMe} RETURNING ${columns("j")}`,
    /** $1 id, $2 engine, $3 error (JSON text). */
    fail: `UPDATE ${jobs} j SET state = 'FAILED', finished_at = ${NOW_MS}, error = $3::text::json,
        claimed_by = NULL, claimed_at = NULL
      WHERE ${claimedByMe} RETURNING ${columns("j")}`,
    /** $1 id, $2 engine, $3 error (JSON text), $4 execution date, $5 keep the claim. */
    retryLater: notifying(
      channel,
      `UPDATE ${jobs} j SET state = 'NOT_STARTED', error = $3::text::json,
        execution_date = $4::bigint,
        claimed_by = CASE WHEN $5::boolean THEN j.claimed_by END,
        claimed_at = CASE WHEN $5::boolean THEN j.claimed_at END
      WHERE ${claimedByMe} RETURNING ${columns("j")}`,
    ),
    /** $1 id, $2 engine, $3 the new execution date or null: back to waiting, this attempt not counted. */
    release: notifying(
      channel,
      `UPDATE ${jobs} j SET state = 'NOT_STARTED', attempts = greatest(j.attempts - 1, 0),
        execution_date = coalesce($3::bigint, j.execution_date),
        claimed_by = NULL, claimed_at = NULL
      WHERE ${claimedByMe} RETURNING ${columns("j")}`,
    ),
    /**
     * $1 engine, $2 the ids of the jobs it knows it holds (JSON array): the
     * others it holds running it claimed without learning of it (the answer
     * was lost), and never started. Back to waiting, the attempt not counted.
     */
    releaseUnknown: notifying(
      channel,
      `UPDATE ${jobs} j SET state = 'NOT_STARTED', attempts = greatest(j.attempts - 1, 0),
        claimed_by = NULL, claimed_at = NULL
      WHERE j.claimed_by = $1::text AND j.state = 'IN_PROGRESS'
        AND j.id NOT IN (SELECT json_array_elements_text($2::text::json))
      RETURNING j.id`,
    ),
    /** $1 id, $2 engine. */
    unclaim: notifying(
      channel,
      `UPDATE ${jobs} j SET claimed_by = NULL, claimed_at = NULL
      WHERE ${claimedByMe} RETURNING j.id`,
    ),

    /** $1 id of a failed job no engine holds; returns its id. */
    removeFailed: `DELETE FROM ${jobs}
      WHERE id = $1::text AND state = 'FAILED' AND claimed_by IS NULL RETURNING id`,
    /** $1 id. */
    remove: `DELETE FROM ${jobs} WHERE id = $1::text AND claimed_by IS NULL RETURNING id`,
    /** $1 method, $2 state, $3 finished before: each NULL for "any". */
    removeWhere: `WITH removed AS (
        DELETE FROM ${jobs}
        WHERE claimed_by IS NULL
          AND ($1::text IS NULL OR method_name = $1::text)
          AND ($2::text IS NULL OR state = $2::text)
          AND ($3::bigint IS NULL OR finished_at < $3::bigint)
        RETURNING 1
      ) SELECT count(*) FROM removed`,
    /** $1 how many to keep (NULL: all), $2 keep only those finished after (NULL: any). */
    pruneCompleted: `WITH ranked AS (
        SELECT id, finished_at,
          row_number() OVER (ORDER BY finished_at DESC, id DESC) AS rank
        FROM ${jobs} WHERE state = 'COMPLETED' AND claimed_by IS NULL
      ),
      removed AS (
        DELETE FROM ${jobs} WHERE id IN (
          SELECT id FROM ranked
          WHERE ($1::bigint IS NOT NULL AND rank > $1::bigint)
            OR ($2::bigint IS NOT NULL AND finished_at <= $2::bigint)
        )
        RETURNING 1
      ) SELECT count(*) FROM removed`,

    /** $1 engine, $2 pid, $3 lease in ms: registers it, or renews its lease. */
    heartbeat:
      `INSERT INTO ${s}.engines (engine_id, pid, lease_ms) VALUES ($1::text, $2::integer, $3::bigint)
      ON CONFLICT (engine_id) DO UPDATE SET heartbeat_at = now(), lease_ms = excluded.lease_ms`,
    /** $1 engine. */
    unregister: `DELETE FROM ${s}.engines WHERE engine_id = $1::text`,
    /** $1 the asking engine. */
    engines: `SELECT engine_id, pid,
        floor(extract(epoch FROM started_at) * 1000)::bigint,
        floor(extract(epoch FROM heartbeat_at) * 1000)::bigint,
        heartbeat_at + lease_ms * interval '1 millisecond' >= now(),
        engine_id = $1::text
      FROM ${s}.engines ORDER BY started_at, engine_id`,
    /**
     * One statement: forget the engines whose lease ran out, and take back
     * the claims of those and of engines no longer registered. A job cut
     * short goes back to waiting with the interruption counted (its attempt
     * was counted when it was claimed); a failed attempt whose claim was
     * kept (`retryLater`) just loses the claim.
     */
    recover: notifying(
      channel,
      `UPDATE ${jobs} j SET
        state = 'NOT_STARTED',
        interruptions = j.interruptions + CASE WHEN j.state = 'IN_PROGRESS' THEN 1 ELSE 0 END,
        claimed_by = NULL, claimed_at = NULL
      WHERE j.claimed_by IS NOT NULL AND (
        j.claimed_by IN (SELECT engine_id FROM dead)
        OR NOT EXISTS (SELECT FROM ${s}.engines e WHERE e.engine_id = j.claimed_by)
      )
      RETURNING j.id`,
      `dead AS (
        DELETE FROM ${s}.engines
        WHERE heartbeat_at + lease_ms * interval '1 millisecond' < now()
        RETURNING engine_id
      ),`,
    ),
  };
}

/** The statements of a store. */
export type Statements = ReturnType<typeof statements>;
