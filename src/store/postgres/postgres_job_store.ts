import process from "node:process";
import { Job, type JobErrorRecord, JobState } from "../../job/job.ts";
import { JobQueueError } from "../../job_queue_error.ts";
import type {
  AddResult,
  ClaimRequest,
  CompletedToKeep,
  DueJobs,
  EngineInfo,
  JobFilter,
  JobQuery,
  JobStore,
  StoreEngine,
} from "../job_store.ts";
import { ClaimBatches } from "./_claim_batches.ts";
import { clientMaker, type PostgresClient } from "./_client.ts";
import { jobFromRow, jsonText, type NewRow, type Row, rowOfJob } from "./_rows.ts";
import { migrate, NewerSchemaError } from "./_schema.ts";
import { type Statements, statements } from "./_sql.ts";

/**
 * Options of {@linkcode PostgresJobStore}: where the database is (`url`, or
 * a client the application has as `sql`) and which schema holds the queue.
 *
 * @example
 * ```ts
 * import type { PostgresJobStoreOptions } from "@x/jobq/postgres";
 *
 * const options: PostgresJobStoreOptions = {
 *   url: "postgres://jobq:secret@db.example.com:5432/app",
 *   schema: "jobq",
 * };
 * ```
 */
export interface PostgresJobStoreOptions {
  /**
   * A connection URL: `postgres://user:password@host:5432/database`. A
   * `host` query parameter naming a directory connects through the unix
   * socket there (`postgres://user@localhost/db?host=/var/run/postgresql`).
   * Not with `sql`.
   */
  url?: string;
  /**
   * A postgres.js client (`postgres(…)` of the `postgres` package, 3.4) the
   * application already has, used instead of connecting to `url`. The store
   * does not end it on `close()`. Not with `url`.
   */
  sql?: PostgresClient;
  /**
   * The schema that holds the queue's tables, created when missing. Engines
   * share a queue when they use the same database and schema.
   *
   * @default {"jobq"}
   */
  schema?: string;
  /**
   * How many connections the store opens at most for its queries, with
   * `url`; LISTEN takes one more.
   *
   * @default {4}
   */
  maxConnections?: number;
  /**
   * How long to wait for a connection, in ms, before an operation fails
   * with a `JobQueueError`. With `url`.
   *
   * @default {10000}
   */
  connectTimeout?: number;
}

/** Schema names the store accepts: plain lowercase identifiers, no quoting surprises. */
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** How many times `add` stores again jobs whose key holder finished meanwhile. */
const ADD_ATTEMPTS = 5;

/** How long a client gives its running queries when the store lets go of it, in ms. */
const END_TIMEOUT_MS = 5_000;

/** A LISTEN attached (or failed: `undefined`), to detach. */
type Listening = Promise<{ unlisten(): Promise<void> } | undefined>;

/** Thrown inside a transaction to roll it back while resolving to `result`. */
class Rollback {
  constructor(readonly result: AddResult) {}
}

/**
 * A {@linkcode JobStore} in a PostgreSQL database: engines on several
 * machines share one queue through it. Due jobs are claimed with one
 * statement (`FOR UPDATE SKIP LOCKED`), so engines never race for a job;
 * leases are judged on the database's clock; new and freed jobs wake idle
 * engines through LISTEN/NOTIFY. Each engine holds at most
 * `maxConnections` (4) connections plus one for LISTEN.
 *
 * Needs the `postgres` package (postgres.js) 3.4 when given a `url`.
 *
 * @example A queue in PostgreSQL
 * ```ts ignore
 * import { JobQueue } from "@x/jobq";
 * import { PostgresJobStore } from "@x/jobq/postgres";
 *
 * const queue = new JobQueue({
 *   store: new PostgresJobStore({ url: "postgres://jobq@localhost:5432/app" }),
 *   maxConcurrency: 8,
 * });
 * queue.registerJobHandler("sendEmail", async ({ to }: { to: string }) => {
 *   console.log(`sending to ${to}`);
 * });
 * await queue.start();
 * await queue.scheduleJob({ methodName: "sendEmail", params: { to: "a@example.com" } });
 * ```
 */
export class PostgresJobStore implements JobStore {
  readonly #options: PostgresJobStoreOptions;
  readonly #schema: string;
  readonly #sql: Statements;
  readonly #channel: string;
  /** Overlapping claimDue calls, served by one statement at a time. */
  readonly #claims = new ClaimBatches((request) => this.#claimDue(request));
  #client: PostgresClient | undefined;
  /** Makes a client for `url`: the store starts over with a new one after a lost connection. */
  #makeClient: (() => PostgresClient) | undefined;
  /** Clients let go after a lost connection: each ends when its timer fires, or at close(). */
  readonly #oldClients = new Map<PostgresClient, ReturnType<typeof setTimeout>>();
  #engine: StoreEngine | undefined;
  #watchers = new Set<() => void>();
  #listening: Listening | undefined;
  /** LISTEN failed for want of a connection: it is tried again once a query succeeds. */
  #listenAgain = false;
  /** The jobs `claimDue` handed to the engine that it has not let go of yet. */
  readonly #held = new Set<string>();
  /** A claim failed for want of a connection: it may have claimed jobs all the same. */
  #claimInDoubt = false;

  /**
   * Makes a store; nothing connects before {@linkcode open}.
   *
   * @param options Where the database is, and the schema.
   * @throws {TypeError} When neither or both of `url` and `sql` are given, or the schema is not a plain name.
   */
  constructor(options: PostgresJobStoreOptions) {
    if ((options?.url === undefined) === (options?.sql === undefined)) {
      throw new TypeError(
        "Cannot make a PostgresJobStore: give either 'url' (a connection URL) or 'sql' " +
          "(a postgres.js client), exactly one of them",
      );
    }
    const schema = options.schema ?? "jobq";
    if (!SCHEMA_PATTERN.test(schema)) {
      throw new TypeError(
        `Cannot make a PostgresJobStore: 'schema' must be a plain lowercase name ` +
          `(letters, digits, '_', at most 63): it is ${JSON.stringify(schema)}`,
      );
    }
    for (const name of ["maxConnections", "connectTimeout"] as const) {
      const value = options[name];
      if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
        throw new RangeError(
          `Cannot make a PostgresJobStore as '${name}' must be a positive integer: ` +
            `current value is ${value}`,
        );
      }
    }
    this.#options = options;
    this.#schema = schema;
    this.#channel = `jobq_${schema}`;
    this.#sql = statements(`"${schema}"`, this.#channel);
  }

  /** The schema that holds the queue's tables. */
  get schema(): string {
    return this.#schema;
  }

  /**
   * Where the jobs are, for people to read: the URL without its password,
   * with the schema as a `schema` query parameter (the form the `jobq`
   * command takes), such as `postgres://jobq@db.example.com/app?schema=jobq`.
   */
  get location(): string {
    return this.#options.url === undefined
      ? `PostgreSQL through the application's client, schema ${this.#schema}`
      : locationOf(this.#options.url, this.#schema);
  }

  /** The client, once open. */
  get #db(): PostgresClient {
    if (this.#client === undefined) {
      throw new JobQueueError("Cannot use the PostgresJobStore before open() or after close()");
    }
    return this.#client;
  }

  get #me(): string {
    return this.#engine!.engineId;
  }

  /** Runs a statement; rows as arrays; any failure as a `JobQueueError` saying `what`. */
  async #query(
    what: string,
    statement: string,
    parameters: unknown[],
    job?: Job,
    client: PostgresClient = this.#db,
  ): Promise<Row[]> {
    let rows: Row[];
    try {
      rows = await client.unsafe(statement, parameters, { prepare: true }).values();
    } catch (cause) {
      this.#startOverAfter(client, cause);
      throw this.#error(what, cause, job);
    }
    if (this.#listenAgain) {
      this.#listenAgain = false;
      if (this.#watchers.size > 0 && this.#listening === undefined) this.#listen();
    }
    return rows;
  }

  /**
   * Starts over with a new client when `client`, the store's own, failed for
   * want of a connection: postgres.js 3.4 can leave a connection whose
   * socket closed while a write waited with that write never sent, so that
   * each of its later connections waits out `connectTimeout` and fails. The
   * old client's other queries get some time to finish (a reply cut short
   * leaves unknown whether its statement took effect); LISTEN moves to the
   * new client after its first query succeeds, as the server may still be
   * down.
   */
  #startOverAfter(client: PostgresClient, cause: unknown): void {
    if (client !== this.#client || this.#makeClient === undefined || !lostConnection(cause)) {
      return;
    }
    this.#client = this.#makeClient();
    this.#oldClients.set(client, setTimeout(() => void this.#endOld(client), END_TIMEOUT_MS));
    if (this.#listening !== undefined) {
      this.#listening = undefined;
      this.#listenAgain = true;
    }
  }

  #error(what: string, cause: unknown, job?: Job): JobQueueError {
    if (cause instanceof JobQueueError) return cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    return new JobQueueError(
      `${what}: PostgreSQL (schema '${this.#schema}') failed with '${reason}'; check that the ` +
        "server is reachable and the connection settings are right",
      { cause, ...(job === undefined ? {} : { info: { job } }) },
    );
  }

  /** Rebuilds the jobs of `rows`; a row that is not a job is reported and left out. */
  #jobs(rows: Row[]): Job[] {
    const jobs: Job[] = [];
    for (const row of rows) {
      try {
        jobs.push(jobFromRow(row));
      } catch (cause) {
        this.#engine?.report(
          new JobQueueError(
            `Job ${String(row[0])} in '${this.#schema}.jobs' cannot be read, and is left alone: ` +
              `${(cause as Error).message}`,
            { cause },
          ),
        );
      }
    }
    return jobs;
  }

  /** The job of the first row, if any and valid. */
  #first(rows: Row[]): Job | undefined {
    return this.#jobs(rows.slice(0, 1))[0];
  }

  async open(engine: StoreEngine): Promise<void> {
    this.#engine = engine;
    const { url, sql, maxConnections = 4, connectTimeout = 10_000 } = this.#options;
    if (sql === undefined) {
      this.#makeClient = await clientMaker({ url: url!, max: maxConnections, connectTimeout });
    }
    this.#client = sql ?? this.#makeClient!();
    try {
      await migrate(this.#client, this.#schema, `"${this.#schema}"`);
    } catch (cause) {
      await this.#end();
      if (cause instanceof NewerSchemaError) {
        throw new JobQueueError(`Cannot use schema '${this.#schema}': ${cause.message}`, { cause });
      }
      throw this.#error("Cannot prepare the queue's tables", cause);
    }
    try {
      await this.heartbeat();
    } catch (error) {
      await this.#end();
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.#client === undefined) return;
    try {
      await this.#stopListening();
      await this.#query("Cannot unregister the engine", this.#sql.unregister, [this.#me]);
    } finally {
      await this.#end();
    }
  }

  /** Lets go of the client: ends it (and those let go before) when the store made it. */
  async #end(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await Promise.all([
      ...[...this.#oldClients.keys()].map((old) => this.#endOld(old)),
      client !== undefined && this.#options.sql === undefined
        ? client.end({ timeout: END_TIMEOUT_MS / 1000 }).catch(() => {})
        : undefined,
    ]);
  }

  /** Ends a client let go after a lost connection, closing its connections now. */
  async #endOld(client: PostgresClient): Promise<void> {
    clearTimeout(this.#oldClients.get(client));
    this.#oldClients.delete(client);
    await client.end({ timeout: 0 }).catch(() => {});
  }

  async add(jobs: readonly Job[]): Promise<AddResult[]> {
    if (jobs.length === 0) return [];
    // Within one call, a unique key goes to the first job that has it.
    const firstWithKey = new Map<string, number>();
    const firsts = jobs.map((job, index) => {
      if (job.uniqueKey === undefined) return index;
      const first = firstWithKey.get(job.uniqueKey) ?? index;
      firstWithKey.set(job.uniqueKey, first);
      return first;
    });
    // The jobs stored (the first with each key), and where each job's first is among them.
    const own: Job[] = [];
    const ownIndex: number[] = [];
    jobs.forEach((job, index) => {
      const first = firsts[index]!;
      if (first === index) own.push(job);
      ownIndex.push(first === index ? own.length - 1 : ownIndex[first]!);
    });
    const rows = own.map(rowOfJob);
    const results = own.some((job) => job.uniqueKey !== undefined)
      ? await this.#transaction("Cannot schedule the jobs", (tx) => this.#insert(tx, own, rows))
      : await this.#insert(this.#db, own, rows);
    return jobs.map((job, index): AddResult => {
      const result = results[ownIndex[index]!]!;
      if (firsts[index] === index) return result;
      // Its key went to an earlier job of the call: that job, or its holder,
      // holds it; or it was a late occurrence, as this one is.
      return result.kind === "late" ? { kind: "late", job } : { kind: "held", job: result.job };
    });
  }

  /**
   * Inserts `jobs` (unique keys distinct); tells what became of each. Jobs
   * not stored for their key whose holder finished meanwhile (no holder to
   * name) are tried again.
   */
  async #insert(client: PostgresClient, jobs: Job[], rows: NewRow[]): Promise<AddResult[]> {
    // Without unique keys nothing can be left out (a recurring job's
    // occurrence has one): the statement that does not check, and cheaper.
    if (rows.every((row) => row.unique_key === undefined)) {
      await this.#query(
        "Cannot schedule the jobs",
        this.#sql.insertAll,
        [JSON.stringify(rows)],
        jobs[0],
        client,
      );
      return jobs.map((job) => ({ kind: "added", job }));
    }
    const results = new Array<AddResult | undefined>(jobs.length);
    let pending = jobs.map((_, index) => index);
    for (let attempt = 1; pending.length > 0; attempt++) {
      const inserted = new Set(
        (await this.#query(
          "Cannot schedule the jobs",
          this.#sql.insert,
          [
            JSON.stringify(pending.map((index) => rows[index])),
          ],
          jobs[pending[0]!],
          client,
        )).map(([id]) => id as string),
      );
      const missing = pending.filter((index) => !inserted.has(jobs[index]!.id));
      for (const index of pending) {
        if (inserted.has(jobs[index]!.id)) results[index] = { kind: "added", job: jobs[index]! };
      }
      const keys = missing.map((index) => jobs[index]!.uniqueKey).filter((key) =>
        key !== undefined
      );
      const holders = new Map(
        this.#jobs(
          keys.length === 0 ? [] : await this.#query(
            "Cannot schedule the jobs",
            this.#sql.holders,
            [JSON.stringify(keys)],
            undefined,
            client,
          ),
        ).map((holder) => [holder.uniqueKey!, holder]),
      );
      pending = [];
      for (const index of missing) {
        const job = jobs[index]!;
        const holder = job.uniqueKey === undefined ? undefined : holders.get(job.uniqueKey);
        if (holder !== undefined) results[index] = { kind: "held", job: holder };
        else if (rows[index]!.occurrence) results[index] = { kind: "late", job };
        else pending.push(index);
      }
      if (pending.length > 0 && attempt === ADD_ATTEMPTS) {
        throw new JobQueueError(
          `Cannot schedule job ${jobs[pending[0]!]!.key}: its unique key was taken and let go ` +
            `${ADD_ATTEMPTS} times while it was being stored; try again`,
          { info: { job: jobs[pending[0]!]! } },
        );
      }
    }
    return results as AddResult[];
  }

  /** Runs `body` in a transaction; failures as a `JobQueueError` saying `what`. */
  async #transaction<T>(what: string, body: (tx: PostgresClient) => Promise<T>): Promise<T> {
    const client = this.#db;
    try {
      return await client.begin(body) as T;
    } catch (cause) {
      this.#startOverAfter(client, cause);
      throw this.#error(what, cause);
    }
  }

  async get(id: string): Promise<Job | undefined> {
    return this.#first(await this.#query("Cannot read the job", this.#sql.get, [id]));
  }

  async list(query: JobQuery = {}): Promise<Job[]> {
    const limit = query.limit === undefined || query.limit === Infinity ? null : query.limit;
    return this.#jobs(
      await this.#query("Cannot list the jobs", this.#sql.list, [
        query.state ?? null,
        query.methodName ?? null,
        query.after ?? null,
        limit,
      ]),
    );
  }

  claimDue(request: ClaimRequest): Promise<DueJobs> {
    return this.#claims.claimDue(request);
  }

  /** Claims due jobs with one statement. */
  async #claimDue(request: ClaimRequest): Promise<DueJobs> {
    if (this.#claimInDoubt) {
      // A claim whose answer was lost may have committed: its jobs would
      // stay claimed by this live engine, which never runs them.
      await this.#query(
        "Cannot give back jobs claimed without an answer",
        this.#sql.releaseUnknown,
        [
          this.#me,
          JSON.stringify([...this.#held]),
        ],
      );
      this.#claimInDoubt = false;
    }
    let rows: Row[];
    try {
      rows = await this.#query("Cannot claim due jobs", this.#sql.claimDue(request.limit), [
        this.#me,
        JSON.stringify([...request.skip]),
      ]);
    } catch (error) {
      this.#claimInDoubt = lostConnection(error);
      throw error;
    }
    const nextDueIn = rows[0]?.at(-1);
    const jobs = this.#jobs(rows.filter((row) => row[0] !== null).map((row) => row.slice(0, -1)));
    for (const job of jobs) this.#held.add(job.id);
    return {
      jobs,
      nextDueAt: nextDueIn === null || nextDueIn === undefined
        ? undefined
        : Date.now() + Number(nextDueIn),
    };
  }

  /**
   * Runs a statement that lets go of `job` (an outcome, or giving it back):
   * once it ran, whether or not the claim was still this engine's, the
   * engine no longer holds the job.
   */
  async #letGo(what: string, statement: string, parameters: unknown[], job: Job): Promise<Row[]> {
    const rows = await this.#query(what, statement, parameters, job);
    this.#held.delete(job.id);
    return rows;
  }

  async complete(job: Job, result: unknown, keep: boolean): Promise<Job | undefined> {
    const what = "Cannot record that the job completed";
    if (keep) {
      return this.#first(
        await this.#letGo(what, this.#sql.completeKeep, [job.id, this.#me, jsonText(result)], job),
      );
    }
    const [row] = await this.#letGo(what, this.#sql.completeRemove, [job.id, this.#me], job);
    if (row === undefined) return undefined;
    // Removed: the job as it would have been kept.
    const removed = this.#first([row.slice(0, -1)]);
    return removed && Job.fromJSON({
      ...removed.toJSON(),
      state: JobState.COMPLETED,
      finishedAt: Number(row.at(-1)),
      result,
    });
  }

  async progress(job: Job, progress: unknown): Promise<Job | undefined> {
    return this.#first(
      await this.#query("Cannot record the job's progress", this.#sql.progress, [
        job.id,
        this.#me,
        jsonText(progress),
      ], job),
    );
  }

  async fail(job: Job, error: JobErrorRecord): Promise<Job | undefined> {
    return this.#first(
      await this.#letGo("Cannot record that the job failed", this.#sql.fail, [
        job.id,
        this.#me,
        JSON.stringify(error),
      ], job),
    );
  }

  async retryLater(
    job: Job,
    error: JobErrorRecord,
    executionDate: number,
    keepClaim: boolean,
  ): Promise<Job | undefined> {
    return this.#first(
      await this.#letGo("Cannot record the failed attempt", this.#sql.retryLater, [
        job.id,
        this.#me,
        JSON.stringify(error),
        executionDate,
        keepClaim,
      ], job),
    );
  }

  async release(job: Job, executionDate?: number): Promise<Job | undefined> {
    return this.#first(
      await this.#letGo("Cannot give the job back", this.#sql.release, [
        job.id,
        this.#me,
        executionDate ?? null,
      ], job),
    );
  }

  async unclaim(job: Job): Promise<boolean> {
    const rows = await this.#letGo("Cannot let go of the job's claim", this.#sql.unclaim, [
      job.id,
      this.#me,
    ], job);
    return rows.length > 0;
  }

  async replace(failed: Job, fresh: Job): Promise<AddResult | undefined> {
    const row = rowOfJob(fresh);
    const client = this.#db;
    try {
      return await client.begin(async (tx: PostgresClient) => {
        const removed = await this.#query(
          "Cannot retry the job",
          this.#sql.removeFailed,
          [
            failed.id,
          ],
          failed,
          tx,
        );
        if (removed.length === 0) return undefined;
        const [result] = await this.#insert(tx, [fresh], [row]);
        // Not stored: the failed job stays.
        if (result!.kind !== "added") throw new Rollback(result!);
        return result;
      });
    } catch (error) {
      if (error instanceof Rollback) return error.result;
      this.#startOverAfter(client, error);
      throw this.#error("Cannot retry the job", error, failed);
    }
  }

  async remove(id: string): Promise<boolean> {
    return (await this.#query("Cannot remove the job", this.#sql.remove, [id])).length > 0;
  }

  async removeWhere(filter: JobFilter): Promise<number> {
    const [[count]] = await this.#query("Cannot remove the jobs", this.#sql.removeWhere, [
      filter.methodName ?? null,
      filter.state ?? null,
      filter.finishedBefore ?? null,
    ]) as [[unknown]];
    return Number(count);
  }

  async pruneCompleted(keep: CompletedToKeep): Promise<number> {
    const finite = (value: number | undefined) =>
      value === undefined || !Number.isFinite(value) ? null : Math.floor(value);
    const [[count]] = await this.#query(
      "Cannot remove completed jobs",
      this.#sql.pruneCompleted,
      [finite(keep.count), finite(keep.finishedAfter)],
    ) as [[unknown]];
    return Number(count);
  }

  async heartbeat(): Promise<void> {
    const engine = this.#engine!;
    await this.#query("Cannot renew this engine's lease", this.#sql.heartbeat, [
      engine.engineId,
      process.pid,
      engine.claimTimeout,
    ]);
  }

  async recover(): Promise<number> {
    return (await this.#query("Cannot recover claims", this.#sql.recover, [])).length;
  }

  async engines(): Promise<EngineInfo[]> {
    const rows = await this.#query("Cannot list the engines", this.#sql.engines, [this.#me]);
    return rows.map(([id, pid, startedAt, heartbeatAt, alive, current]) => ({
      id: id as string,
      pid: Number(pid),
      startedAt: Number(startedAt),
      heartbeatAt: Number(heartbeatAt),
      alive: alive as boolean,
      current: current as boolean,
    }));
  }

  /**
   * Calls `onChange` when another engine notifies that it added or freed
   * jobs, and each time LISTEN (re)attaches after a lost connection, as
   * notifications sent meanwhile were lost.
   */
  watch(onChange: () => void): () => void {
    this.#watchers.add(onChange);
    if (this.#listening === undefined) this.#listen();
    return () => {
      this.#watchers.delete(onChange);
      if (this.#watchers.size === 0) void this.#stopListening();
    };
  }

  /** LISTENs on the client; a failure for want of a connection is tried again later. */
  #listen(): void {
    const listening: Listening = this.#db.listen(
      this.#channel,
      () => this.#notify(),
      () => this.#notify(),
    ).catch((cause) => {
      if (this.#listening === listening) {
        this.#listening = undefined;
        this.#listenAgain = lostConnection(cause);
      }
      this.#engine?.report(
        this.#error("Cannot listen for new jobs (polling still finds them)", cause),
      );
      return undefined;
    });
    this.#listening = listening;
  }

  #notify(): void {
    for (const watcher of this.#watchers) watcher();
  }

  async #stopListening(): Promise<void> {
    const listening = this.#listening;
    this.#listening = undefined;
    this.#listenAgain = false;
    this.#watchers.clear();
    await (await listening)?.unlisten().catch(() => {});
  }
}

/**
 * Whether `cause` tells of a connection lost or not made rather than of a
 * statement: anything but PostgreSQL's own errors, and those of connection
 * exceptions (SQLSTATE 08…) and shutdowns (57P…: a terminated backend, a
 * server shutting down or starting up). A `JobQueueError` (from a statement
 * in a transaction) tells by its cause.
 */
function lostConnection(cause: unknown): boolean {
  if (cause instanceof JobQueueError) {
    return cause.cause !== undefined && lostConnection(cause.cause);
  }
  const { name, code } = (cause ?? {}) as { name?: unknown; code?: unknown };
  if (name !== "PostgresError") return true;
  return typeof code === "string" && (code.startsWith("08") || code.startsWith("57P"));
}

/** `url` without its password, with `schema` as a query parameter. */
function locationOf(url: string, schema: string): string {
  let address: URL;
  try {
    address = new URL(url);
  } catch {
    return `PostgreSQL (an unreadable URL), schema ${schema}`;
  }
  address.password = "";
  address.searchParams.set("schema", schema);
  return address.href;
}
