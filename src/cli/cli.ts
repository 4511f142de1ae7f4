/**
 * The `jobq` command: looks at and repairs a queue from a shell, a job
 * directory or a queue in PostgreSQL, while the programs that use it run or
 * not. It lists, shows and counts the jobs, retries failed ones and removes
 * jobs; it never runs any.
 *
 * ```sh
 * deno run -A jsr:@x/jobq/cli ./jobs list
 * npx jobq ./jobs stats --json
 * bunx jobq ./jobs retry --failed sendEmail
 * npx jobq postgres://jobq:secret@db.example.com/app stats
 * ```
 *
 * `jobq --help` tells the commands and options. The same command runs from
 * code through {@linkcode main}.
 *
 * @example Counting the jobs of a directory from code
 * ```ts
 * import { main } from "@x/jobq/cli";
 * import { JobQueue } from "@x/jobq";
 * import assert from "node:assert/strict";
 *
 * const directory = await Deno.makeTempDir();
 * const queue = new JobQueue({ directory });
 * await queue.scheduleJob({ methodName: "sendEmail", waitTime: 60_000 });
 * await queue.dispose();
 *
 * let output = "";
 * const status = await main([directory, "stats", "--json"], {
 *   stdout: (text) => output += text,
 *   stderr: (text) => console.error(text),
 * });
 * assert.equal(status, 0);
 * assert.equal(JSON.parse(output).byState.NOT_STARTED, 1);
 * ```
 *
 * @module
 */
import { join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { CliIo } from "./cli_io.ts";
import { processIo, runAsProgram } from "./_cli_process.ts";
import { defaultFileSystem } from "../fs/_default_file_system.ts";
import { isNotFound } from "../fs/_fs_errors.ts";
import {
  type Cell,
  count,
  isoDate,
  renderFields,
  renderTable,
  sanitize,
  shorten,
  stateCell,
  terminalJson,
} from "./_cli_format.ts";
import {
  CommandError,
  computeStats,
  findJob as findJobIn,
  isOneOf,
  parseAge,
  parseState,
  removeFailed,
  removeMethod,
  removeOne,
  retryFailed,
  retryOne,
  UsageError,
} from "../admin/_operations.ts";
import { type Job, type JobRecord, JobState } from "../job/job.ts";
import { JobQueueEngine } from "../engine/job_queue_engine.ts";

export type { CliIo } from "./cli_io.ts";

const USAGE = "jobq <directory|postgres-url> <list|show|stats|retry|remove|dashboard> [options]";

const HELP = `jobq: looks at and repairs a jobq queue; it never runs jobs.

Usage: ${USAGE}

The queue is a directory, the one given to new JobQueue({ directory }), or a
PostgreSQL database: a postgres:// or postgresql:// URL, the one given to
new PostgresJobStore({ url }), with ?schema=<name> when the schema is not jobq
(postgres://user:password@host:5432/database?schema=jobs). Queues may be
running on it meanwhile: a retried job runs once one of them sees it.

Commands:
  list                       List the jobs by due date: id, method, state, due date,
                             attempts and last error. Filter with --state <state>
                             (NOT_STARTED, IN_PROGRESS, COMPLETED or FAILED) and
                             --method <name>.
  show <id>                  Show a job's whole record. <id> is its id or its file name.
  stats                      Count the jobs per state and per method; show the job
                             waiting the longest and the next one due.
  retry <id>                 Run a failed job again, with a new set of attempts, as
                             soon as possible (it gets a new id).
  retry --failed [method]    Run every failed job again (of one method; --method <name>
                             says the same).
  remove <id>                Remove a job, unless it is running.
  remove --method <name>     Remove every job of a method, whatever its state, except
                             those running.
  remove --failed            Remove the failed jobs. With --method <name>, only that
                             method's; with --older-than <age>, only those that failed
                             more than <age> ago: milliseconds, or a duration such as
                             90s, 15m, 12h, 7d, 2w or 1h30m.
  dashboard                  Serve the web dashboard until Ctrl-C: the jobs live,
                             with retry and remove. --port <n> (8080; 0 picks a
                             free one), --host <address> (127.0.0.1; any other
                             needs a token), --token <secret> (or the environment
                             variable JOBQ_DASHBOARD_TOKEN; open the page once
                             with ?token=<secret>), --read-only.

Options:
  --json                     Print JSON for scripts: list prints an array of job
                             records as the files hold them, show one record, stats
                             an object, retry the new record or {"retried": n},
                             remove {"removed": n}.
  -h, --help                 Show this help.

State names are coloured when standard output is a terminal and NO_COLOR is not set.
Exit status: 0 on success, 1 when the command failed (no such job, a file error),
2 on a usage error.

Examples:
  jobq ./jobs list --state FAILED
  jobq ./jobs show 2024-01-01T12-00-00-000Z-lqwa8x2o0000-0a1b2c3d
  jobq ./jobs retry --failed sendEmail
  jobq ./jobs remove --failed --older-than 7d
  jobq ./jobs stats --json
  jobq ./jobs dashboard --port 8080
  jobq postgres://jobq:secret@db.example.com/app?schema=jobq stats
`;

type CommandName = "list" | "show" | "stats" | "retry" | "remove" | "dashboard";

/** The options that take a value. */
const VALUE_OPTIONS = [
  "--method",
  "--older-than",
  "--state",
  "--port",
  "--host",
  "--token",
] as const;
/** The options that are on or off. */
const FLAG_OPTIONS = ["--json", "--failed", "--read-only"] as const;
type ValueOption = typeof VALUE_OPTIONS[number];
type FlagOption = typeof FLAG_OPTIONS[number];
type OptionName = ValueOption | FlagOption;

/** The options each command takes, and how many operands at most. */
const COMMANDS: Readonly<Record<CommandName, { options: OptionName[]; operands: number }>> = {
  list: { options: ["--json", "--state", "--method"], operands: 0 },
  show: { options: ["--json"], operands: 1 },
  stats: { options: ["--json"], operands: 0 },
  retry: { options: ["--json", "--failed", "--method"], operands: 1 },
  remove: { options: ["--json", "--failed", "--method", "--older-than"], operands: 1 },
  dashboard: { options: ["--port", "--host", "--token", "--read-only"], operands: 0 },
};

/** A parsed command line. */
interface Invocation {
  /** Where the queue is: a directory or a PostgreSQL URL. */
  readonly location: string;
  readonly command: CommandName;
  /** The operand after the command: a job id, or the method of `retry --failed`. */
  readonly operand: string | undefined;
  readonly values: Partial<Record<ValueOption, string>>;
  readonly flags: ReadonlySet<FlagOption>;
}

/** `undefined` for `--help`. */
function parse(args: readonly string[]): Invocation | undefined {
  const operands: string[] = [];
  const values: Partial<Record<ValueOption, string>> = {};
  const flags = new Set<FlagOption>();
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === "--") {
      operands.push(...args.slice(index + 1));
      break;
    }
    if (arg === "-h" || arg === "--help") return undefined;
    if (!arg.startsWith("-") || arg === "-") {
      operands.push(arg);
      continue;
    }
    const equals = arg.indexOf("=");
    const name = equals === -1 ? arg : arg.slice(0, equals);
    if (isOneOf(name, VALUE_OPTIONS)) {
      const value = equals === -1 ? args[++index] : arg.slice(equals + 1);
      if (value === undefined || value === "") {
        throw new UsageError(`${name} needs a value`);
      }
      if (values[name] !== undefined && values[name] !== value) {
        throw new UsageError(`${name} is given twice`);
      }
      values[name] = value;
    } else if (isOneOf(name, FLAG_OPTIONS) && equals === -1) {
      flags.add(name);
    } else {
      throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
    }
  }
  const [location, command, ...rest] = operands;
  if (location === undefined) {
    throw new UsageError(`missing the queue (a directory or a URL) and the command: ${USAGE}`);
  }
  if (command === undefined) throw new UsageError(`missing the command: ${USAGE}`);
  const commands = Object.keys(COMMANDS) as CommandName[];
  if (!isOneOf(command, commands)) {
    throw new UsageError(
      isOneOf(location, commands)
        ? `the queue comes first, as in jobq ${command} ${location}`
        : `unknown command ${
          JSON.stringify(command)
        }: use list, show, stats, retry, remove or dashboard`,
    );
  }
  const spec = COMMANDS[command];
  for (const name of [...Object.keys(values) as ValueOption[], ...flags]) {
    if (!spec.options.includes(name)) throw new UsageError(`${command} takes no ${name}`);
  }
  if (rest.length > spec.operands) {
    throw new UsageError(
      `${command} takes ${spec.operands === 0 ? "no" : "one"} operand, got ${
        rest.map((operand) => JSON.stringify(operand)).join(" ")
      }`,
    );
  }
  const invocation = { location, command, operand: rest[0], values, flags };
  checkCombination(invocation);
  return invocation;
}

/** Refuses the option combinations that make no sense, before anything is read. */
function checkCombination({ command, operand, values, flags }: Invocation): void {
  const failed = flags.has("--failed");
  if (command === "show" && operand === undefined) {
    throw new UsageError("show needs a job id: jobq <directory|postgres-url> show <id>");
  }
  if (command === "retry") {
    if (!failed && operand === undefined) {
      throw new UsageError("retry needs a job id, or --failed [method] for every failed job");
    }
    if (values["--method"] !== undefined && (!failed || operand !== undefined)) {
      throw new UsageError("retry takes --method with --failed only: retry --failed <method>");
    }
  }
  if (command === "remove") {
    const method = values["--method"] !== undefined;
    if (values["--older-than"] !== undefined && !failed) {
      throw new UsageError("--older-than applies to remove --failed only");
    }
    if (operand !== undefined && (failed || method)) {
      throw new UsageError("remove takes a job id, or --method/--failed, not both");
    }
    if (operand === undefined && !failed && !method) {
      throw new UsageError(
        "remove needs a job id, --method <name> or --failed [--older-than <age>]",
      );
    }
  }
  if (values["--older-than"] !== undefined) parseAge(values["--older-than"]);
  if (values["--state"] !== undefined) parseState(values["--state"]);
}

/**
 * Fails unless `directory` is a job directory, without creating anything:
 * an engine would create `.jobq/` in any directory it is pointed at.
 */
async function checkDirectory(directory: string): Promise<void> {
  const fs = defaultFileSystem();
  let entries: string[];
  try {
    entries = await fs.readDir(directory);
  } catch (cause) {
    if (isNotFound(cause)) {
      throw new CommandError(
        `${directory} does not exist: pass the directory given to new JobQueue({ directory })`,
      );
    }
    if ((cause as { code?: unknown } | null)?.code === "ENOTDIR") {
      throw new CommandError(
        `${directory} is not a directory: pass the directory given to new JobQueue({ directory })`,
      );
    }
    throw new CommandError(`Cannot read ${directory}: ${messageOf(cause)}`);
  }
  if (!entries.includes(".jobq")) {
    throw new CommandError(
      `${directory} is not a jobq directory (no .jobq/): ` +
        "pass the directory given to new JobQueue({ directory })",
    );
  }
}

/** A queue the command has opened. */
interface Queue {
  /** An engine on the queue's store that never runs jobs. */
  readonly engine: JobQueueEngine;
  /** How messages name the queue: its directory, or its URL without the password. */
  readonly name: string;
  /** What `stats --json` says of where the queue is. */
  readonly where: Readonly<Record<string, string>>;
}

/** Whether `location` names a queue in PostgreSQL rather than a directory. */
function isPostgresUrl(location: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(location);
}

/**
 * Opens an engine on the queue at `location`, once it is known to be one.
 * The PostgreSQL store is imported only for a URL.
 */
async function openQueue(location: string, warn: (error: unknown) => void): Promise<Queue> {
  // Unreadable jobs (job files set aside in .jobq/corrupt/, rows left alone): the command goes on.
  const eventListener = (eventName: string, event: unknown) => {
    if (eventName === "error") warn(event);
  };
  if (isPostgresUrl(location)) {
    const { openPostgresStore } = await import("./_cli_postgres.ts");
    const store = await openPostgresStore(location);
    return {
      engine: new JobQueueEngine({ store, eventListener }),
      name: store.location,
      where: { url: store.location, schema: store.schema },
    };
  }
  await checkDirectory(location);
  return {
    engine: new JobQueueEngine({ directory: location, fsync: true, eventListener }),
    name: location,
    where: { directory: location },
  };
}

/** What a command needs: the queue and where to write. */
interface Context {
  readonly engine: JobQueueEngine;
  readonly queue: Queue;
  readonly invocation: Invocation;
  readonly color: boolean;
  readonly out: (text: string) => void;
}

/**
 * Runs the `jobq` command with `args` (the arguments after the command's
 * name) and resolves with its exit status: 0 on success, 1 when the command
 * failed (no such job, a file error), 2 on a usage error. Errors go to
 * `io.stderr` as one line saying what to do; nothing is thrown, and the
 * process is not exited.
 *
 * It works on the queue through a {@linkcode JobQueueEngine} that never
 * starts processing, disposed before it resolves: on a directory, with
 * `fsync: true`; on a `postgres://` URL, with a `PostgresJobStore` (the URL's
 * `schema` query parameter names its schema, `jobq` by default). A directory
 * that does not exist or has no `.jobq/`, and a schema without jobq's tables
 * (that is, no queue ever used them), are refused before the engine
 * touches them. No message shows the URL's password.
 *
 * @param args The command line, such as `["./jobs", "list", "--json"]`.
 * @param io Where to write; the process's standard output and error by
 *   default, with state names coloured when standard output is a terminal
 *   and `NO_COLOR` is not set.
 * @returns The exit status.
 *
 * @example Listing the jobs waiting to run, as JSON
 * ```ts
 * import { main } from "@x/jobq/cli";
 * import { JobQueue } from "@x/jobq";
 * import assert from "node:assert/strict";
 *
 * const directory = await Deno.makeTempDir();
 * const queue = new JobQueue({ directory });
 * await queue.scheduleJob({ methodName: "sendReport", waitTime: 60_000 });
 * await queue.dispose();
 *
 * let output = "";
 * const status = await main([directory, "list", "--state", "NOT_STARTED", "--json"], {
 *   stdout: (text) => output += text,
 *   stderr: (text) => console.error(text),
 * });
 * assert.equal(status, 0);
 * assert.deepEqual(JSON.parse(output).map((job: { methodName: string }) => job.methodName), [
 *   "sendReport",
 * ]);
 * ```
 */
export async function main(args: string[], io: CliIo = processIo()): Promise<number> {
  const oneLine = (error: unknown) => shorten(withoutPasswords(messageOf(error), args));
  try {
    const invocation = parse(args);
    if (invocation === undefined) {
      io.stdout(HELP);
      return 0;
    }
    const queue = await openQueue(invocation.location, (error) => {
      io.stderr(`jobq: warning: ${oneLine(error)}\n`);
    });
    const { engine } = queue;
    try {
      await run({
        engine,
        queue,
        invocation,
        color: io.color ?? false,
        out: (text) => io.stdout(text),
      });
    } finally {
      await engine.dispose();
    }
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`jobq: ${oneLine(error)}; run 'jobq --help' for usage\n`);
      return 2;
    }
    io.stderr(`jobq: ${oneLine(error)}\n`);
    return 1;
  }
}

/**
 * `text` with the password of any PostgreSQL URL among `args` replaced by
 * `***`: a driver's message may quote the URL it was given.
 */
function withoutPasswords(text: string, args: readonly string[]): string {
  for (const arg of args) {
    if (!isPostgresUrl(arg)) continue;
    let password: string;
    try {
      password = new URL(arg).password;
    } catch {
      continue;
    }
    if (password === "") continue;
    for (const form of new Set([password, safeDecode(password)])) {
      text = text.replaceAll(form, "***");
    }
  }
  return text;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function run(context: Context): Promise<void> {
  switch (context.invocation.command) {
    case "list":
      return list(context);
    case "show":
      return show(context);
    case "stats":
      return stats(context);
    case "retry":
      return retry(context);
    case "remove":
      return remove(context);
    case "dashboard":
      return dashboard(context);
  }
}

function writeJson(context: Context, value: unknown): void {
  context.out(terminalJson(value) + "\n");
}

/** The longest error message `list` shows; `show` has the whole. */
const ERROR_WIDTH = 60;

async function list(context: Context): Promise<void> {
  const { engine, invocation, color } = context;
  const state = invocation.values["--state"];
  const method = invocation.values["--method"];
  const jobs = (await engine.getAllJobs()).filter((job) =>
    (state === undefined || job.state === parseState(state)) &&
    (method === undefined || job.methodName === method)
  );
  if (invocation.flags.has("--json")) return writeJson(context, jobs.map((job) => job.toJSON()));
  if (jobs.length === 0) {
    const filtered = state !== undefined || method !== undefined;
    context.out(`No jobs in ${context.queue.name}${filtered ? " match" : ""}.\n`);
    return;
  }
  context.out(renderTable(
    [
      { header: "ID" },
      { header: "METHOD" },
      { header: "STATE" },
      { header: "DUE" },
      { header: "ATTEMPTS", align: "right" },
      { header: "ERROR" },
    ],
    jobs.map((job): Cell[] => [
      { text: job.id },
      { text: job.methodName },
      stateCell(job.state, color),
      { text: isoDate(job.executionDate) },
      { text: String(job.attempts) },
      { text: job.error === undefined ? "" : shorten(job.error.message, ERROR_WIDTH) },
    ]),
  ));
}

/** The job `reference` names: see {@linkcode findJobIn}. */
async function findJob(context: Context, reference: string): Promise<Job> {
  return findJobIn(await context.engine.getAllJobs(), reference, context.queue.name);
}

/** The fields `show` lays out itself; any other field of a record is shown as JSON. */
const SHOWN_FIELDS: ReadonlySet<string> = new Set([
  "id",
  "methodName",
  "state",
  "executionDate",
  "createdAt",
  "startedAt",
  "finishedAt",
  "attempts",
  "maxAttempts",
  "params",
  "error",
]);

async function show(context: Context): Promise<void> {
  const job = await findJob(context, context.invocation.operand!);
  const record = job.toJSON() as JobRecord & Record<string, unknown>;
  if (context.invocation.flags.has("--json")) return writeJson(context, record);
  const date = (ms: number | undefined) => ms === undefined ? "-" : isoDate(ms);
  const fields: [string, string | Cell][] = [
    ["id", job.id],
    ["method", job.methodName],
    ["state", stateCell(job.state, context.color)],
    ...fileOf(context, job),
    ["due", date(job.executionDate)],
    ["created", date(job.createdAt)],
    ["started", date(job.startedAt)],
    ["finished", date(job.finishedAt)],
    [
      "attempts",
      String(job.attempts) + (job.maxAttempts === undefined ? "" : ` of ${job.maxAttempts}`),
    ],
  ];
  if ("params" in record) fields.push(["params", json(record.params)]);
  for (const [key, value] of Object.entries(record)) {
    if (!SHOWN_FIELDS.has(key) && value !== undefined) fields.push([key, json(value)]);
  }
  if (job.error !== undefined) {
    const { name, message, stack } = job.error;
    const headline = `${name}: ${message}`;
    // A stack starts with the name and message; only its frames add anything.
    const frames = stack?.startsWith(headline) ? stack.slice(headline.length) : "";
    const lines = [headline, ...frames.split("\n")].map((line) => sanitize(line).trim());
    fields.push(["error", lines.filter((line) => line !== "").join("\n  ")]);
  }
  context.out(renderFields(fields));
}

/** The `file` field of `show`, for a job kept in a file. */
function fileOf(context: Context, job: Job): [string, string][] {
  const { directory } = context.engine;
  return directory === undefined ? [] : [["file", join(directory, `${job.key}.json`)]];
}

/** A value as indented JSON, for `show`, its control characters made spaces as `list` does. */
function json(value: unknown): string {
  return (JSON.stringify(value, null, 2) ?? String(value)).split("\n").map(sanitize).join("\n");
}

async function stats(context: Context): Promise<void> {
  const { invocation, color, queue } = context;
  const result = computeStats(await context.engine.getAllJobs());
  if (invocation.flags.has("--json")) return writeJson(context, { ...queue.where, ...result });
  const states = Object.values(JobState);
  let text = `${count(result.total, "job")} in ${queue.name}\n\n`;
  text += renderTable(
    [{ header: "STATE" }, { header: "JOBS", align: "right" }],
    states.map((state) => [stateCell(state, color), { text: String(result.byState[state]) }]),
  );
  const methods = Object.entries(result.byMethod);
  if (methods.length > 0) {
    text += "\n" + renderTable(
      [
        { header: "METHOD" },
        ...states.map((state) => ({ header: state, align: "right" as const })),
        { header: "TOTAL", align: "right" },
      ],
      methods.map(([method, counts]) => [
        { text: method },
        ...states.map((state) => ({ text: String(counts[state]) })),
        { text: String(counts.total) },
      ]),
    );
  }
  const { oldestWaiting, nextDue } = result;
  text += "\n" + renderFields([
    [
      "Oldest waiting:",
      oldestWaiting === null
        ? "none"
        : `${oldestWaiting.methodName} ${oldestWaiting.id}, scheduled ${
          isoDate(oldestWaiting.createdAt)
        }`,
    ],
    [
      "Next due:",
      nextDue === null
        ? "none"
        : `${isoDate(nextDue.executionDate)}${
          nextDue.executionDate <= Date.now() ? " (overdue)" : ""
        }: ${nextDue.methodName} ${nextDue.id}`,
    ],
  ]);
  context.out(text);
}

async function retry(context: Context): Promise<void> {
  const { engine, invocation } = context;
  const json = invocation.flags.has("--json");
  if (invocation.flags.has("--failed")) {
    const method = invocation.operand ?? invocation.values["--method"];
    const retried = await retryFailed(engine, method);
    if (json) return writeJson(context, { retried });
    const of = method === undefined ? "" : ` of ${method}`;
    if (retried === 0) return context.out(`No failed jobs${of} to retry.\n`);
    const [they, them] = retried === 1 ? ["it runs", "it"] : ["they run", "them"];
    context.out(
      `Retrying ${count(retried, "failed job")}${of}: ` +
        `${they} as soon as a queue on ${context.queue.name} sees ${them}.\n`,
    );
    return;
  }
  const job = await findJob(context, invocation.operand!);
  const revived = await retryOne(engine, job);
  if (json) return writeJson(context, revived.toJSON());
  context.out(
    `Retrying job ${job.id} of ${job.methodName}${
      revived.id === job.id ? "" : ` as job ${revived.id}`
    }: it runs as soon as a queue on ${context.queue.name} sees it.\n`,
  );
}

async function remove(context: Context): Promise<void> {
  const { engine, invocation } = context;
  const method = invocation.values["--method"];
  const olderThanText = invocation.values["--older-than"];
  let removed: number;
  let what: string;
  if (invocation.operand !== undefined) {
    const job = await findJob(context, invocation.operand);
    await removeOne(engine, job);
    removed = 1;
    what = `job ${job.id} of ${job.methodName}`;
  } else if (invocation.flags.has("--failed")) {
    const olderThan = olderThanText === undefined ? 0 : parseAge(olderThanText);
    removed = await removeFailed(engine, method, olderThan);
    what = `${count(removed, "failed job")}${method === undefined ? "" : ` of ${method}`}${
      olderThanText === undefined ? "" : ` that failed more than ${olderThanText} ago`
    }`;
  } else {
    removed = await removeMethod(engine, method!);
    what = `${count(removed, "job")} of ${method}`;
  }
  if (invocation.flags.has("--json")) return writeJson(context, { removed });
  context.out(`Removed ${what}.\n`);
}

/**
 * Serves the dashboard on the command's engine until SIGINT or SIGTERM.
 * Imported only here: the other commands load none of it.
 */
async function dashboard(context: Context): Promise<void> {
  const { serveDashboard } = await import("../dashboard/serve_dashboard.ts");
  const { values, flags } = context.invocation;
  const port = values["--port"] === undefined ? 8080 : parsePort(values["--port"]);
  const token = values["--token"] ?? (environment("JOBQ_DASHBOARD_TOKEN") || undefined);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    const served = await serveDashboard({
      engine: context.engine,
      port,
      hostname: values["--host"] ?? "127.0.0.1",
      ...(token === undefined ? {} : { token }),
      readOnly: flags.has("--read-only"),
      signal: controller.signal,
    }).catch((error) => {
      if (error instanceof TypeError || error instanceof RangeError) {
        throw new UsageError(error.message);
      }
      throw new CommandError(
        `Cannot serve the dashboard: ${messageOf(error)}; pick another --port or --host`,
      );
    });
    context.out(
      `jobq dashboard of ${context.queue.name}: ${served.url}${
        token === undefined ? "" : " (open it once with ?token=<token>)"
      }; Ctrl-C stops it\n`,
    );
    await served.closed;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    throw new UsageError(`--port takes a port number from 0 to 65535, not ${JSON.stringify(text)}`);
  }
  return port;
}

/** An environment variable; empty when unset or not allowed to be read. */
function environment(name: string): string {
  try {
    return process.env[name] ?? "";
  } catch {
    return "";
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Whether this module is the program: `import.meta.main` where the runtime
 * has it; otherwise (Node before 24.2) whether the process was started with
 * this file's path. The npm package's `jobq` command is `_cli_bin.ts`,
 * which always runs: npm starts it through a symbolic link, which this
 * comparison would not recognise.
 */
function isMainModule(): boolean {
  const meta = import.meta as ImportMeta & { main?: unknown };
  if (typeof meta.main === "boolean") return meta.main;
  const script = process.argv[1];
  return script !== undefined && import.meta.url.startsWith("file:") &&
    resolve(script) === fileURLToPath(import.meta.url);
}

if (isMainModule()) await runAsProgram(main);
