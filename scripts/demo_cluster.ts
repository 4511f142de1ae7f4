/**
 * The cluster demo: one queue in PostgreSQL, three workers under three
 * runtimes (Deno, Bun, and Node running the npm build), each as good as on a
 * machine of its own.
 *
 * It starts a throwaway PostgreSQL server (or uses the one of the URL given
 * as the first argument, or of `JOBQ_TEST_POSTGRES_URL`), starts the three
 * workers on one fresh schema (`scripts/_cluster_worker.ts`), schedules 300
 * `resizeImage` jobs of 50-150 ms, and prints the progress. Once a third of
 * the jobs are done it kills the Bun worker with SIGKILL while it runs jobs:
 * they come back once its lease runs out on the database's clock (2 s), and
 * the others run them. The summary tells who ran how many jobs (as the
 * database holds it), that every job completed exactly once, and where the
 * killed worker's jobs went. It exits with status 1 when any of that fails.
 *
 * Everything it starts (workers, server, schema) is stopped and removed at
 * the end, on failure and on Ctrl-C. The Node worker needs the npm build,
 * made with `scripts/build_npm.ts --tests` when missing; Bun comes from npm.
 *
 * Run with `deno task demo:cluster [postgres-url]`.
 *
 * @module
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { JobQueue, JobState } from "../mod.ts";
import { connect } from "../src/store/postgres/_client.ts";
import { PostgresJobStore } from "../src/store/postgres/mod.ts";
import { startTestPostgres, type TestPostgres } from "./_postgres.ts";

const JOBS = 300;
/** The Bun worker is killed once this many jobs are done. */
const KILL_AFTER = 100;
const VICTIM = "bun";
/** The whole run fails after this long: something is stuck. */
const RUN_TIMEOUT_MS = 60_000;

const root = fileURLToPath(new URL("..", import.meta.url));
const nodeWorker = join(root, "npm", "scripts", "_cluster_worker.js");
const startTime = Date.now();

interface Worker {
  readonly name: string;
  readonly child: ChildProcess;
  /** The runtime and version it reported once ready. */
  runtime: string;
  /** Jobs it started and has not reported completed. */
  readonly running: Set<string>;
  killed: boolean;
  stderr: string;
  readonly exited: Promise<void>;
}

/** Thrown when the demo fails; printed without a stack. */
class DemoFailure extends Error {}

const workers: Worker[] = [];
let server: TestPostgres | undefined;
let scheduler: JobQueue | undefined;
let url: string;
const schema = `jobq_demo_${crypto.randomUUID().slice(0, 8)}`;
let schemaMade = false;

function log(message: string): void {
  const elapsed = ((Date.now() - startTime) / 1000).toFixed(2).padStart(6);
  console.log(`[${elapsed} s] ${message}`);
}

/** Runs a program to its end; resolves with its stdout, rejects with its output. */
function run(program: string, args: string[], what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { cwd: root, maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      if (error) reject(new DemoFailure(`Cannot ${what}: ${error.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The npm build for the Node worker, made when missing. */
async function ensureNpmBuild(): Promise<void> {
  if (await stat(nodeWorker).then(() => true, () => false)) return;
  log("Building the npm package for the Node worker: scripts/build_npm.ts --tests");
  await run(Deno.execPath(), ["run", "-A", "scripts/build_npm.ts", "--tests"], "build npm/");
}

/** Bun's own executable, from npm: a worker is killed by its pid, not npx's. */
async function bunPath(): Promise<string> {
  const output = await run(
    "npx",
    ["-y", "bun@1", "-e", "console.log(process.execPath)"],
    "get Bun",
  );
  return output.trim().split("\n").at(-1)!;
}

/** The PostgreSQL server: the URL given, or a throwaway one. */
async function serverUrl(): Promise<string> {
  const given = Deno.args[0] ?? Deno.env.get("JOBQ_TEST_POSTGRES_URL");
  if (given) return given;
  server = await startTestPostgres();
  return server.url;
}

/** Starts a worker; resolves once it has started its queue. */
function startWorker(name: string, program: string, args: string[]): Promise<Worker> {
  const child = spawn(program, [...args, name, url, schema], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const worker: Worker = {
    name,
    child,
    runtime: "",
    running: new Set(),
    killed: false,
    stderr: "",
    exited: new Promise((resolve) => child.on("exit", () => resolve())),
  };
  workers.push(worker);
  child.stderr!.setEncoding("utf8").on("data", (text: string) => worker.stderr += text);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const [word, ...rest] = line.split(" ");
      if (word === "ready") {
        worker.runtime = rest.join(" ");
        resolve(worker);
      } else {
        onLine(worker, word!, rest);
      }
    });
    child.on("exit", (code, signal) => {
      reject(new DemoFailure(`The ${name} worker exited (${code ?? signal}):\n${worker.stderr}`));
    });
  });
}

/** Each job's completions as the workers reported them, in order. */
const completions = new Map<string, string[]>();
/** The jobs the victim was running when it was killed. */
let orphans = new Set<string>();
let killedAt = 0;
/** How long after the kill each orphan started again, in ms. */
const restartedAfter = new Map<string, number>();

function onLine(worker: Worker, word: string, rest: string[]): void {
  if (word === "error") return log(`${worker.name}: error ${rest.join(" ")}`);
  const id = rest[0];
  if (word === "started") {
    worker.running.add(id!);
    if (orphans.has(id!) && !restartedAfter.has(id!)) {
      restartedAfter.set(id!, Date.now() - killedAt);
      log(`a job ${VICTIM} was running started again on ${worker.name}`);
    }
  }
  if (word !== "completed") return;
  worker.running.delete(id!);
  const by = completions.get(id!) ?? [];
  by.push(worker.name);
  completions.set(id!, by);
  const done = completions.size;
  if (done % 50 === 0 && by.length === 1) log(`${done}/${JOBS} done: ${countsByWorker()}`);
  const victim = workers.find((candidate) => candidate.name === VICTIM)!;
  if (!victim.killed && done >= KILL_AFTER && victim.running.size > 0) {
    victim.killed = true;
    killedAt = Date.now();
    orphans = new Set(victim.running);
    victim.child.kill("SIGKILL");
    log(
      `killed ${VICTIM} (pid ${victim.child.pid}) with SIGKILL while it ran ${orphans.size} jobs: ` +
        "they run again elsewhere once its lease runs out",
    );
  }
}

/** How many completions each worker reported. */
function countsByWorker(): string {
  const counts = new Map(workers.map((worker) => [worker.name, 0]));
  for (const by of completions.values()) {
    for (const name of by) counts.set(name, counts.get(name)! + 1);
  }
  return [...counts].map(([name, count]) => `${name} ${count}`).join(", ");
}

async function main(): Promise<void> {
  const [bun] = await Promise.all([
    bunPath(),
    ensureNpmBuild(),
    serverUrl().then((value) => url = value),
  ]);
  const store = new PostgresJobStore({ url, schema });
  log(`PostgreSQL: ${store.location}`);
  scheduler = new JobQueue({ store });
  // Creates the schema, so that the workers do not all race to.
  await scheduler.getAllJobs();
  schemaMade = true;
  const started = await Promise.all([
    startWorker("deno", Deno.execPath(), ["run", "-A", "scripts/_cluster_worker.ts"]),
    startWorker("bun", bun, ["scripts/_cluster_worker.ts"]),
    startWorker("node", "node", [nodeWorker]),
  ]);
  for (const worker of started) {
    log(`worker ${worker.name}: ${worker.runtime}, pid ${worker.child.pid}`);
  }
  const scheduledAt = Date.now();
  await scheduler.scheduleJobs(
    Array.from({ length: JOBS }, (_, image) => ({
      methodName: "resizeImage",
      params: { image, ms: 50 + Math.floor(Math.random() * 100) },
    })),
  );
  log(`scheduled ${JOBS} resizeImage jobs of 50-150 ms; each worker runs 4 at a time`);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new DemoFailure(
          `Only ${completions.size} of ${JOBS} jobs completed within ${
            RUN_TIMEOUT_MS / 1000
          } s:\n` +
            workers.map((worker) => `${worker.name}: ${worker.stderr}`).join("\n"),
        ),
      );
    }, RUN_TIMEOUT_MS);
  });
  await Promise.race([allCompleted(), timeout]).finally(() => clearTimeout(timer));
  const seconds = (Date.now() - scheduledAt) / 1000;
  await stopWorkers();
  await printSummary(seconds);
}

/**
 * Resolves once the database holds every job as completed. It asks the
 * database, not the workers' output: the killed worker may have completed
 * a job and died before it could say so.
 */
async function allCompleted(): Promise<void> {
  for (;;) {
    const jobs = await scheduler!.getAllJobs();
    if (jobs.length >= JOBS && jobs.every((job) => job.state === JobState.COMPLETED)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Stops the live workers with SIGTERM (they finish their jobs) and waits for them. */
async function stopWorkers(): Promise<void> {
  for (const worker of workers) {
    if (worker.child.exitCode === null && worker.child.signalCode === null) {
      worker.child.kill("SIGTERM");
    }
  }
  await Promise.all(workers.map((worker) => worker.exited));
}

/** Prints who ran what, as the database holds it, and fails unless all is as it should be. */
async function printSummary(seconds: number): Promise<void> {
  const jobs = await scheduler!.getAllJobs();
  const ranBy = new Map<string, string>();
  const perWorker = new Map(workers.map((worker) => [worker.name, 0]));
  for (const job of jobs) {
    const name = (job.result as { worker?: string } | undefined)?.worker ?? "nobody";
    ranBy.set(job.id, name);
    perWorker.set(name, (perWorker.get(name) ?? 0) + 1);
  }
  const completed = jobs.filter((job) => job.state === JobState.COMPLETED).length;
  const duplicates = [...completions.values()].filter((by) => by.length > 1).length;
  // A job the victim completed in the database just before it died was not orphaned.
  const moved = [...orphans].filter((id) => ranBy.get(id) !== VICTIM);
  const movedTo = new Map<string, number>();
  for (const id of moved) movedTo.set(ranBy.get(id)!, (movedTo.get(ranBy.get(id)!) ?? 0) + 1);

  console.log(`\nSummary: ${JOBS} jobs on 3 workers in ${seconds.toFixed(1)} s`);
  console.log(`  ${"WORKER".padEnd(8)}${"RUNTIME".padEnd(16)}${"JOBS".padStart(6)}`);
  for (const worker of workers) {
    console.log(
      `  ${worker.name.padEnd(8)}${worker.runtime.padEnd(16)}${
        String(perWorker.get(worker.name)).padStart(6)
      }${worker.killed ? "  (killed)" : ""}`,
    );
  }
  console.log(`  ${"total".padEnd(24)}${String(jobs.length).padStart(6)}`);
  console.log(`Completed: ${completed} of ${JOBS}`);
  console.log(`Duplicates: ${duplicates}`);
  const latest = Math.max(0, ...restartedAfter.values());
  console.log(
    `Killed ${VICTIM} while it ran ${orphans.size} jobs: ${
      orphans.size - moved.length
    } completed as it died, ${moved.length} left unfinished and run after by: ${
      [...movedTo].map(([name, count]) => `${name} ${count}`).join(", ") || "none"
    } (started again within ${(latest / 1000).toFixed(1)} s of the kill; the lease is 2 s)`,
  );
  const problems = [
    completed === JOBS && jobs.length === JOBS ? "" : `${JOBS - completed} jobs did not complete`,
    duplicates === 0 ? "" : `${duplicates} jobs completed more than once`,
    moved.length > 0 ? "" : `the killed ${VICTIM} left no job to move`,
    moved.every((id) => ranBy.get(id) !== "nobody") ? "" : "a job of the killed worker never ran",
  ].filter((problem) => problem !== "");
  if (problems.length > 0) throw new DemoFailure(problems.join("; "));
}

/** Stops and removes everything the demo started; safe to call twice. */
let cleaning: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  return cleaning ??= (async () => {
    for (const worker of workers) worker.child.kill("SIGKILL");
    await Promise.all(workers.map((worker) => worker.exited));
    await scheduler?.dispose().catch(() => {});
    if (schemaMade && server === undefined) {
      const sql = await connect({ url, max: 1, connectTimeout: 10_000 });
      await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).then(() => {}, () => {});
      await sql.end({ timeout: 5 });
    }
    await server?.stop();
  })();
}

let interrupted = false;
Deno.addSignalListener("SIGINT", () => {
  interrupted = true;
  console.error("\nInterrupted: stopping the workers and the server");
  cleanUp().finally(() => Deno.exit(130));
});

let status = 0;
try {
  await main();
} catch (error) {
  // Once interrupted, what fails is only what the clean-up took away.
  if (!interrupted) {
    console.error(`\nFAILED: ${error instanceof DemoFailure ? error.message : error}`);
  }
  status = 1;
} finally {
  await cleanUp();
}
Deno.exit(status);
