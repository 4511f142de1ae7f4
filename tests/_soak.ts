/**
 * The soak: N jobs through P worker processes (`fixtures/soak_worker.ts`)
 * sharing one directory, with random handler failures, timeouts and SIGKILLs,
 * then a check that every job is accounted for. Used by `soak_test.ts` (short
 * runs) and `scripts/soak.ts` (the long one).
 *
 * The check reads the run log the workers share (see the worker for its
 * lines), to which this side adds `kill <worker>` just before it SIGKILLs a
 * worker. Appends to one file are totally ordered, so the log tells, for
 * each job, which runs came one after the other.
 */
import { appendFileSync } from "node:fs";
import { open, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Job, JobQueue, JobState } from "../mod.ts";
import { type Fixture, spawnFixture } from "./_helpers.ts";
import { stopWorker } from "./_process_helpers.ts";

/** What a soak worker is told: its queue's options and how its handler behaves. */
export interface SoakWorkerOptions {
  /** The shared run log. */
  log: string;
  /** This worker's name in the log (with its pid). */
  name: string;
  maxConcurrency: number;
  pollInterval: number;
  claimTimeout: number;
  maxAttempts: number;
  /** The fixed backoff between attempts, in ms. */
  backoff: number;
  /** The attempt timeout in ms; none when absent. */
  timeout?: number;
  /** The share of attempts that throw. */
  failRate: number;
  /** The share of attempts that outlast their timeout (they stop when their signal aborts). */
  timeoutRate: number;
  /** The longest a normal attempt takes, in ms. */
  workMs: number;
  /**
   * The run that removes this file, once it exists, never ends (so that a
   * kill finds it running). Each worker tries at the start of each run.
   */
  hangFlag?: string;
  /** Stop for good while writing the first claim (see the worker). */
  stallOnClaim?: boolean;
}

/** How to run a soak. */
export interface SoakOptions
  extends Omit<SoakWorkerOptions, "log" | "name" | "hangFlag" | "stallOnClaim"> {
  /** A directory for the jobs and the log (the caller removes it). */
  root: string;
  /** How many jobs to schedule. */
  jobs: number;
  /** How many worker processes. */
  processes: number;
  /**
   * How many times to SIGKILL a worker: at random moments between 10 % and
   * 90 % of the jobs accounted for, each time a random worker.
   */
  kills: number;
  /** Start a new worker at once in place of a killed one. */
  restart: boolean;
  /**
   * Instead of random kills: once half the jobs are accounted for, the next
   * run to start, on whichever worker, hangs, and that worker is killed as
   * soon as it does (one kill, with a job surely in flight).
   */
  killHanging?: boolean;
  /** Stop scheduling after this many seconds (the jobs scheduled by then are checked). */
  scheduleSeconds?: number;
  /** Give up, reporting the jobs not accounted for, after this many seconds. */
  deadlineSeconds: number;
  /** Receives progress lines. */
  progress?: (line: string) => void;
}

/** What a soak did. */
export interface SoakFigures {
  /** Jobs scheduled. */
  jobs: number;
  processes: number;
  /** Workers SIGKILLed. */
  kills: number;
  /** Handler runs started. */
  runs: number;
  /** Failed attempts retried. */
  retries: number;
  /** Jobs FAILED after their attempts. */
  failures: number;
  /** Attempts whose signal aborted on their timeout. */
  timeouts: number;
  /** Jobs completed. */
  completed: number;
  /** Runs of a job again because a kill cut the previous run short (at-least-once). */
  reruns: number;
  /**
   * Reruns of a job whose handler had resolved: its worker was killed before
   * the completion was recorded.
   */
  duplicates: number;
  /** Attempts counted by a claim whose worker was killed before the handler started. */
  lostClaims: number;
  /**
   * Reruns with the attempt number of the killed run before them: another
   * engine claimed the job between the recovery of the claim and the count
   * of the attempt the kill cut short.
   */
  uncountedReruns: number;
  /** Jobs whose completion was recorded but whose `completed` line died with its worker. */
  unloggedCompletions: number;
  /** FAILED jobs with more attempts than maxAttempts: a kill cut their last attempt short. */
  extraAttempts: number;
  /**
   * Claims found empty after a kill: they would wait for claimTimeout instead
   * of the pid check. A claim is a link to its engine's token, which is
   * written whole before any link to it, so there should be none.
   */
  emptyClaims: number;
  /** Empty claims still there at the end. */
  leftoverEmptyClaims: number;
  /**
   * The longest time from a kill until no claim named the killed worker's
   * engine any more (other engines took them back), in ms.
   */
  maxRecoveryMs: number;
  /** Temporary files of killed workers left in the directory. */
  leftoverTempFiles: number;
  /** From starting the workers to the last job accounted for, in seconds. */
  elapsed: number;
  /** Jobs per second. */
  throughput: number;
}

/** The outcome of a soak: its figures and every violation found. */
export interface SoakResult {
  figures: SoakFigures;
  violations: string[];
}

/** The figures as printed, one `name: value` line each. */
export function formatFigures(figures: SoakFigures): string {
  return Object.entries(figures)
    .map(([name, value]) => `${name}: ${Number.isInteger(value) ? value : value.toFixed(1)}`)
    .join("\n");
}

/** How a handler stopped: resolved, threw, or stopped when its signal aborted. */
type RunEnd = "ok" | "fail" | "abort";

/** One run of a job, as the log tells it. */
interface Run {
  readonly worker: string;
  readonly attempt: number;
  /** Whether it repeats the attempt number of the killed run before it (see `uncountedReruns`). */
  readonly uncounted: boolean;
  end?: RunEnd;
  verdict?: "done" | "retry" | "failed";
}

/** How often the log is read and the workers are looked after, in ms. */
const TICK = 100;

/**
 * Reads the run log in order and checks, line by line, what can be checked
 * as it comes: that no job starts while an earlier run of it still runs (one
 * that neither ended nor lost its worker to a kill), and that each run gets
 * at most one verdict, consistent with maxAttempts.
 */
class RunLog {
  readonly runs = new Map<string, Run[]>();
  readonly violations: string[] = [];
  /** Workers killed. */
  readonly killed = new Set<string>();
  readonly errors: string[] = [];
  /** Jobs with a `done` or `failed` line. */
  readonly settled = new Set<string>();
  /** The workers (`<name>:<pid>`) whose run hung on purpose. */
  readonly hung: string[] = [];
  /** How far the log has been read, in bytes. */
  offset = 0;
  #partial = "";
  readonly #decoder = new TextDecoder();

  constructor(readonly path: string, readonly maxAttempts: number) {}

  /** Reads what was appended since the last call. */
  async read(): Promise<void> {
    const file = await open(this.path, "r");
    try {
      const buffer = new Uint8Array(1 << 20);
      for (;;) {
        const { bytesRead } = await file.read(buffer, 0, buffer.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        const text = this.#partial +
          this.#decoder.decode(buffer.subarray(0, bytesRead), { stream: true });
        const lines = text.split("\n");
        this.#partial = lines.pop()!;
        for (const line of lines) this.#line(line);
      }
    } finally {
      await file.close();
    }
  }

  #violation(message: string): void {
    this.violations.push(message);
  }

  #line(line: string): void {
    const [kind, ...words] = line.split(" ");
    switch (kind) {
      case "kill":
        this.killed.add(words[0]!);
        return;
      case "error":
        this.errors.push(line);
        return;
      case "hang":
        this.hung.push(words[1]!);
        return;
      case "start":
      case "end":
      case "done":
      case "retry":
      case "failed":
        break;
      default:
        return this.#violation(`unknown log line '${line}'`);
    }
    const [id, worker, attemptText, outcome] = words as [string, string, string, string];
    const attempt = Number(attemptText);
    const runs = this.runs.get(id) ?? [];
    this.runs.set(id, runs);
    if (kind === "start") {
      const previous = runs.at(-1);
      // The engine that recovers a killed run's claim counts its attempt,
      // unless another engine claims the job first: then the rerun repeats
      // the attempt's number (a rare edge the README documents).
      const uncounted = previous !== undefined && attempt === previous.attempt &&
        this.killed.has(previous.worker);
      if (previous !== undefined) {
        if (previous.end === undefined && !this.killed.has(previous.worker)) {
          this.#violation(
            `job ${id} started on ${worker} while its run on ${previous.worker} had not ended`,
          );
        }
        if (attempt <= previous.attempt && !uncounted) {
          this.#violation(`job ${id} ran attempt ${attempt} after attempt ${previous.attempt}`);
        }
      }
      runs.push({ worker, attempt, uncounted });
      return;
    }
    const run = runs.find((run) => run.worker === worker && run.attempt === attempt);
    if (run === undefined) return this.#violation(`'${line}' has no start`);
    if (kind === "end") {
      if (run.end !== undefined) this.#violation(`'${line}': that run had ended already`);
      run.end = outcome as RunEnd;
      return;
    }
    if (run.verdict !== undefined) {
      this.#violation(`'${line}': that run was recorded as ${run.verdict} already`);
    }
    run.verdict = kind as NonNullable<Run["verdict"]>;
    if (kind === "done" && run.end !== "ok") {
      this.#violation(`'${line}': completed, but its handler ended ${run.end}`);
    }
    if (kind === "retry" && attempt >= this.maxAttempts) {
      this.#violation(`'${line}': retried after attempt ${attempt} of ${this.maxAttempts}`);
    }
    if (kind === "failed" && attempt < this.maxAttempts) {
      this.#violation(`'${line}': failed after attempt ${attempt} of ${this.maxAttempts}`);
    }
    if (kind !== "retry") this.settled.add(id);
  }
}

/** Workers by name, started, killed and restarted. */
class Workers {
  readonly live = new Map<string, Fixture>();
  readonly all: Fixture[] = [];
  readonly violations: string[] = [];
  #count = 0;
  #stopping = false;

  constructor(readonly directory: string, readonly options: Omit<SoakWorkerOptions, "name">) {}

  start(): { name: string; fixture: Fixture } {
    const name = `w${this.#count++}`;
    const options: SoakWorkerOptions = { ...this.options, name };
    const fixture = spawnFixture("soak_worker", [this.directory, JSON.stringify(options)]);
    this.live.set(name, fixture);
    this.all.push(fixture);
    fixture.exited.then(({ code, signal }) => {
      if (this.live.get(name) !== fixture || this.#stopping) return;
      this.live.delete(name);
      this.violations.push(
        `worker ${name} exited by itself (${code ?? signal}); stderr: ${fixture.stderr()}`,
      );
    });
    return { name, fixture };
  }

  /**
   * Logs the kill first, so that the log orders it before any rerun, then
   * SIGKILLs. Resolves with the id of the worker's engine (when it had
   * opened its queue) and when it was killed.
   */
  async kill(name: string, log: string): Promise<{ engineId?: string; killedAt: number }> {
    const fixture = this.live.get(name)!;
    this.live.delete(name);
    const engineId = await engineOf(this.directory, fixture.child.pid!);
    appendFileSync(log, `kill ${name}:${fixture.child.pid}\n`);
    fixture.child.kill("SIGKILL");
    const killedAt = Date.now();
    await fixture.exited;
    return { ...(engineId === undefined ? {} : { engineId }), killedAt };
  }

  /** SIGTERMs every live worker and waits until each has disposed its queue and exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all([...this.live].map(async ([name, fixture]) => {
      // A worker restarted a moment ago may not handle SIGTERM yet.
      await fixture.waitForOutput("ready", 60_000).catch(() => {});
      await stopWorker(fixture, 30_000).catch((error) => {
        this.violations.push(`worker ${name} did not stop cleanly: ${error}; ${fixture.stderr()}`);
      });
    }));
    this.live.clear();
  }

  /** Kills whatever still runs, for a run that ends early. */
  async cleanUp(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.all.map(async (fixture) => {
      if (fixture.child.exitCode === null && fixture.child.signalCode === null) {
        fixture.child.kill("SIGKILL");
      }
      await fixture.exited;
    }));
  }
}

function fileNameOf(id: string): string {
  return `soak__${id}.json`;
}

/** Reads a job file; `undefined` when it is gone, a string when it is corrupt. */
async function readJob(directory: string, id: string): Promise<Job | string | undefined> {
  let text: string;
  try {
    text = await readFile(join(directory, fileNameOf(id)), "utf8");
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    return Job.fromJSON(JSON.parse(text));
  } catch (error) {
    return `job file ${fileNameOf(id)} is corrupt: ${(error as Error).message}`;
  }
}

/** Resolves after `ms`. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs a soak and checks it: every scheduled job completed, or FAILED after
 * its attempts, exactly once; no job ran twice at once; every rerun follows a
 * run that a kill cut short, and there are no more of them than the kills
 * can explain; no job file is corrupt or left waiting or running; no claim is
 * left behind; no worker reported an unexpected error.
 */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const directory = join(options.root, "jobs");
  const logPath = join(options.root, "runs.log");
  appendFileSync(logPath, "");
  const log = new RunLog(logPath, options.maxAttempts);
  const hangFlag = join(options.root, "hang");
  const workers = new Workers(directory, {
    log: logPath,
    maxConcurrency: options.maxConcurrency,
    pollInterval: options.pollInterval,
    claimTimeout: options.claimTimeout,
    maxAttempts: options.maxAttempts,
    backoff: options.backoff,
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    failRate: options.failRate,
    timeoutRate: options.timeoutRate,
    workMs: options.workMs,
    ...(options.killHanging ? { hangFlag } : {}),
  });
  const progress = options.progress ?? (() => {});
  const scheduler = new JobQueue({ directory, fsync: false });
  const ids: string[] = [];
  // What each kill leaves is watched while the soak goes on.
  const afterKills: Promise<void>[] = [];
  const stuckEmptyClaims = new Set<string>();
  const recoveries: number[] = [];
  let kills = 0;
  const kill = async (name: string) => {
    const { engineId, killedAt } = await workers.kill(name, logPath);
    kills++;
    afterKills.push(findStuckEmptyClaims(directory, stuckEmptyClaims));
    if (engineId !== undefined) {
      const limit = options.claimTimeout + 30_000;
      afterKills.push(
        untilClaimsRecovered(directory, engineId, limit).then((recovered) => {
          if (recovered) recoveries.push(Date.now() - killedAt);
          else workers.violations.push(`the claims of killed worker ${name} outlived ${limit} ms`);
        }),
      );
    }
  };
  const started = Date.now();
  let finished = started;
  try {
    for (let n = 0; n < options.processes; n++) workers.start();
    await Promise.all([...workers.live.values()].map((fixture) => fixture.waitForOutput("ready")));

    // Scheduled while the workers run, as an application would.
    let schedulingDone = false;
    const scheduling = (async () => {
      const deadline = started + (options.scheduleSeconds ?? Infinity) * 1000;
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < options.jobs && Date.now() < deadline) {
          next++;
          ids.push((await scheduler.scheduleJob({ methodName: "soak" })).id);
        }
      }));
      schedulingDone = true;
    })();

    const killAt = Array.from({ length: options.kills }, () => 0.1 + 0.8 * Math.random())
      .sort((a, b) => a - b);
    const accounted = new Set<string>();
    let lastLook = 0;
    let flagged = false;
    let lastReport = Date.now();
    const deadline = started + options.deadlineSeconds * 1000;
    // Only an empty claim may hold a job up, for claimTimeout: past twice
    // that with nothing new in the log, the soak is stuck.
    const stallLimit = Math.max(30_000, 2 * options.claimTimeout);
    let lastChange = Date.now();
    let lastOffset = 0;
    for (;;) {
      await delay(TICK);
      await log.read();
      for (const id of log.settled) accounted.add(id);
      if (workers.violations.length > 0) break;

      if (options.killHanging) {
        if (!flagged && accounted.size >= options.jobs / 2) {
          await writeFile(hangFlag, "");
          flagged = true;
        }
        const hanging = log.hung[0]?.split(":")[0];
        if (hanging !== undefined && workers.live.has(hanging)) await kill(hanging);
      } else if (killAt.length > 0 && accounted.size >= killAt[0]! * options.jobs) {
        killAt.shift();
        const names = [...workers.live.keys()];
        const victim = names[Math.floor(Math.random() * names.length)]!;
        // Not on a tick: anywhere in what the worker does.
        await delay(Math.random() * TICK);
        await kill(victim);
        if (options.restart) workers.start();
      }

      // Jobs whose last line died with a killed worker are looked up on disk,
      // once few jobs are left.
      const pending = ids.length - accounted.size;
      if (schedulingDone && pending <= 1000 && Date.now() - lastLook >= 1000) {
        lastLook = Date.now();
        for (const id of ids) {
          if (accounted.has(id)) continue;
          const job = await readJob(directory, id);
          const last = log.runs.get(id)?.at(-1);
          const completedUnlogged = job === undefined && last?.end === "ok" &&
            last.verdict === undefined && log.killed.has(last.worker);
          if (completedUnlogged || (job instanceof Job && job.state === JobState.FAILED)) {
            accounted.add(id);
          }
        }
      }
      if (Date.now() - lastReport >= 10_000) {
        lastReport = Date.now();
        progress(
          `${Math.round((Date.now() - started) / 1000)} s: ${ids.length} scheduled, ` +
            `${accounted.size} accounted for, ${kills} kills`,
        );
      }
      if (schedulingDone && accounted.size === ids.length) break;
      if (log.offset !== lastOffset) {
        lastOffset = log.offset;
        lastChange = Date.now();
      }
      const stalled = Date.now() - lastChange > stallLimit;
      if (Date.now() > deadline || stalled) {
        workers.violations.push(
          `${ids.length - accounted.size} of ${ids.length} jobs not accounted for after ` +
            `${Math.round((Date.now() - started) / 1000)} s${
              stalled ? `, nothing new for ${stallLimit / 1000} s` : ""
            }, such as ${ids.filter((id) => !accounted.has(id)).slice(0, 5).join(", ")}`,
        );
        break;
      }
    }
    finished = Date.now();
    await Promise.all(afterKills);
    await scheduling;
    await workers.stop();
    await log.read();
  } finally {
    await workers.cleanUp();
    await scheduler.dispose();
  }

  const violations = [...workers.violations, ...log.violations];
  violations.push(...log.errors.map((line) => `unexpected error: ${line}`));
  const figures: SoakFigures = {
    jobs: ids.length,
    processes: options.processes,
    kills,
    runs: 0,
    retries: 0,
    failures: 0,
    timeouts: 0,
    completed: 0,
    reruns: 0,
    duplicates: 0,
    lostClaims: 0,
    uncountedReruns: 0,
    unloggedCompletions: 0,
    extraAttempts: 0,
    emptyClaims: stuckEmptyClaims.size,
    maxRecoveryMs: Math.max(0, ...recoveries),
    leftoverEmptyClaims: 0,
    leftoverTempFiles: 0,
    elapsed: (finished - started) / 1000,
    throughput: ids.length / Math.max((finished - started) / 1000, 0.001),
  };
  await checkJobs(directory, ids, log, options, figures, violations);
  await checkLeftovers(directory, ids, figures, violations);
  // Each of a killed worker's jobs in flight is run again at most once, and
  // loses at most one attempt: one claimed but not started, or one whose
  // outcome was written but whose claim was not yet dropped, which recovery
  // counts as cut short. A job killed in that last window, after a failed
  // attempt, is both rerun (no verdict in the log) and short of an attempt.
  const limit = kills * options.maxConcurrency;
  const explained = { reruns: figures.reruns, "lost claims": figures.lostClaims };
  for (const [what, count] of Object.entries(explained)) {
    if (count > limit) {
      violations.push(
        `${count} ${what}: more than ${kills} kills of workers running at most ` +
          `${options.maxConcurrency} jobs each can explain`,
      );
    }
  }
  return { figures, violations };
}

/** The id of the engine of process `pid`, from the engine files. */
async function engineOf(directory: string, pid: number): Promise<string | undefined> {
  const engines = join(directory, ".jobq", "engines");
  for (const name of await readdir(engines).catch(() => [])) {
    if (name.startsWith(".")) continue;
    const text = await readFile(join(engines, name), "utf8").catch(() => "");
    try {
      const record = JSON.parse(text);
      if (record.pid === pid) return record.engineId;
    } catch {
      // Gone or being replaced: not the one.
    }
  }
  return undefined;
}

/**
 * Resolves with `true` once no claim file names engine `engineId`, checking
 * every 20 ms; with `false` after `limit` ms.
 */
async function untilClaimsRecovered(
  directory: string,
  engineId: string,
  limit: number,
): Promise<boolean> {
  const claims = join(directory, ".jobq", "claims");
  const deadline = Date.now() + limit;
  while (Date.now() < deadline) {
    let held = false;
    for (const name of await readdir(claims)) {
      if (name.startsWith(".")) continue;
      const text = await readFile(join(claims, name), "utf8").catch(() => "");
      if (text.includes(engineId)) held = true;
    }
    if (!held) return true;
    await delay(20);
  }
  return false;
}

/** The names of the empty claim files. */
async function emptyClaims(directory: string): Promise<Set<string>> {
  const claims = join(directory, ".jobq", "claims");
  const names = new Set<string>();
  for (const name of await readdir(claims)) {
    if (name.endsWith(".tmp")) continue;
    const text = await readFile(join(claims, name), "utf8").catch(() => undefined);
    if (text === "") names.add(name);
  }
  return names;
}

/**
 * Adds to `found` the claim files empty just after a kill and still empty a
 * second later: a live worker fills its new claim at once, a killed one never.
 */
async function findStuckEmptyClaims(directory: string, found: Set<string>): Promise<void> {
  const before = await emptyClaims(directory);
  if (before.size === 0) return;
  await delay(1000);
  for (const name of await emptyClaims(directory)) {
    if (before.has(name)) found.add(name);
  }
}

/** Checks what became of each job, from its runs in the log and its file. */
async function checkJobs(
  directory: string,
  ids: string[],
  log: RunLog,
  options: SoakOptions,
  figures: SoakFigures,
  violations: string[],
): Promise<void> {
  for (const id of ids) {
    const runs = log.runs.get(id) ?? [];
    const file = await readJob(directory, id);
    if (typeof file === "string") {
      violations.push(file);
      continue;
    }
    const last = runs.at(-1);
    if (last === undefined) {
      violations.push(`job ${id} never ran; its file is ${file?.state ?? "gone"}`);
      continue;
    }
    const uncounted = runs.filter((run) => run.uncounted).length;
    figures.runs += runs.length;
    figures.uncountedReruns += uncounted;
    figures.lostClaims += last.attempt + uncounted - runs.length;
    for (const [index, run] of runs.entries()) {
      if (run.end === "abort") figures.timeouts++;
      if (run.verdict === "retry") figures.retries++;
      const next = runs[index + 1];
      if (next === undefined) continue;
      if (run.verdict === "done" || run.verdict === "failed") {
        violations.push(`job ${id} ran again after it was recorded as ${run.verdict}`);
      } else if (run.verdict === undefined) {
        // A run with no outcome: only a kill of its worker explains it.
        if (!log.killed.has(run.worker)) {
          violations.push(`job ${id} ran again after a run on ${run.worker} with no outcome`);
        }
        figures.reruns++;
        if (run.end === "ok") figures.duplicates++;
      }
    }
    const completions = runs.filter((run) => run.verdict === "done").length;
    if (completions > 1) violations.push(`job ${id} was completed ${completions} times`);
    if (completions === 1) {
      figures.completed++;
      if (file !== undefined) violations.push(`job ${id} completed, but its file is ${file.state}`);
    } else if (file !== undefined) {
      if (file.state !== JobState.FAILED) {
        violations.push(`job ${id} was left ${file.state}`);
      } else if (file.attempts < options.maxAttempts || file.attempts !== last.attempt) {
        violations.push(
          `job ${id} FAILED after ${file.attempts} attempts; its last run was attempt ` +
            `${last.attempt}, maxAttempts is ${options.maxAttempts}`,
        );
      } else if (last.verdict !== "failed" && !log.killed.has(last.worker)) {
        violations.push(`job ${id} is FAILED but its last run on ${last.worker} was not`);
      } else {
        figures.failures++;
        if (file.attempts > options.maxAttempts) figures.extraAttempts++;
      }
    } else if (last.end === "ok" && last.verdict === undefined && log.killed.has(last.worker)) {
      figures.completed++;
      figures.unloggedCompletions++;
    } else {
      violations.push(
        `job ${id} is gone without completing: its last run on ${last.worker} ended ` +
          `${last.end ?? "never"}, recorded as ${last.verdict ?? "nothing"}`,
      );
    }
  }
}

/** Checks that the directory holds nothing but the FAILED jobs, and no claim or corrupt file. */
async function checkLeftovers(
  directory: string,
  ids: string[],
  figures: SoakFigures,
  violations: string[],
): Promise<void> {
  const known = new Set(ids.map(fileNameOf));
  for (const name of await readdir(directory)) {
    if (name === ".jobq") continue;
    if (name.startsWith(".") && name.endsWith(".tmp")) figures.leftoverTempFiles++;
    else if (!known.has(name)) violations.push(`unexpected file ${name} in the job directory`);
  }
  const empty = await emptyClaims(directory);
  figures.leftoverEmptyClaims = empty.size;
  for (const folder of ["claims", "corrupt"]) {
    const names = await readdir(join(directory, ".jobq", folder));
    const files = names.filter((name) => !name.endsWith(".tmp") && !empty.has(name));
    figures.leftoverTempFiles += names.length - files.length -
      (folder === "claims" ? empty.size : 0);
    if (files.length > 0) {
      violations.push(`${files.length} files left in .jobq/${folder}: ${files.slice(0, 5)}`);
    }
  }
}
