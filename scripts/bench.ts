/**
 * The benchmark of jobq, against the file system it stands on and against
 * two peers (Deno KV queues, plainjob on `bun:sqlite`; BullMQ too where a
 * Redis answers on 127.0.0.1:6379).
 *
 * Every measurement runs in a fresh child process (`scripts/_bench_worker.ts`)
 * in a fresh temporary directory, and the systems take turns within each
 * round, so that a slow minute of the machine hits all of them; the table
 * shows the median of the rounds.
 *
 * - A file-system probe in each runtime, doing per job what jobq's adapter
 *   for that runtime does: write ~200 bytes to a temporary name and rename it
 *   (then unlink), one at a time and 8 in flight, without and with fsync.
 * - W1: enqueue N jobs one by one and in bulk, then process them at
 *   concurrency 8; with fsync off and on.
 * - W2: enqueue → start latency at a steady 500 jobs/s.
 * - W3: lateness of 200 jobs delayed 200–1,000 ms.
 * - W4: start-up of a fresh process on a directory of 100,000 jobs due in a
 *   day, until a new job has run, and its RSS.
 * - W5: W1 with those 100,000 jobs in the directory.
 * - PostgreSQL (`pg`): jobq's PostgresJobStore, pg-boss and graphile-worker
 *   on one server, a fresh schema per measurement: W1 (enqueue one by one
 *   and in bulk, processing at concurrency 8), W2, and W5 with 1,000,000
 *   waiting jobs in the table. The server is a throwaway one started for the
 *   run (`scripts/_postgres.ts --durable`: fsync on), or the one of
 *   `--postgres URL` or `JOBQ_BENCH_POSTGRES_URL`.
 *
 * Usage: `deno task bench [--quick] [--rounds N] [--runtimes deno,bun,node]
 * [--peers denokv,plainjob,bullmq,pgboss,graphile] [--only probe,w1,w2,w3,w4,w5,pg]
 * [--postgres URL] [--dir DIR] [--out FILE] [--chart FILE] [--no-spread]`,
 * or `npx -y bun@1 scripts/bench.ts …`.
 *
 * - `--quick`: small counts and one round, under two minutes on 2 cores.
 * - `--runtimes`: where jobq runs (default `deno,bun`); `node` runs the npm
 *   build, `npm/esm/mod.js` (built with `deno task build:npm` when missing).
 * - `--peers`: which peers to run (default all; `none` for none).
 * - `--only pg`: the PostgreSQL part alone (jobq there runs under Deno and
 *   Bun, not Node).
 * - `--dir`: where the temporary directories go (default: the system's).
 * - `--no-spread`: leave the placement of the measurements' directories to
 *   the file system (see `spreadSubdirectories`).
 *
 * Writes `benchmarks/<mode>.json` (and `--out`) and the chart,
 * `benchmarks/chart.svg` (`benchmarks/chart-quick.svg` in quick mode).
 *
 * @module
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { link, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import os from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { type ChartSeries, renderChart } from "./_bench_chart.ts";
import {
  type Column,
  figuresTable,
  type Medians,
  postgresTables,
  targetsTable,
} from "./_bench_report.ts";
import {
  RESULT_MARKER,
  type Runtime,
  type System,
  type Task,
  type TaskResult,
} from "./_bench_worker.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const workerPath = join(root, "scripts", "_bench_worker.ts");
const benchDir = join(root, "benchmarks");
/** Where the peers are installed: git-ignored, created on first use. */
const peersDir = join(root, ".bench");
const PLAINJOB = "plainjob@0.0.14";
const BULLMQ = "bullmq@5";
// The newest that run on Node 20 (pg-boss 11 and 12 need Node 22).
const PGBOSS = "pg-boss@10.4.2";
const GRAPHILE = "graphile-worker@0.17.3";

type Mode = "quick" | "full";

/** The sizes of a run. */
interface Plan {
  rounds: number;
  /** W1 jobs, and files of the probe without fsync. */
  jobs: number;
  /** W1 jobs with fsync, and files of the probe with fsync. */
  fsyncJobs: number;
  w2Rate: number;
  w2Seconds: number;
  w2Warmup: number;
  w3Jobs: number;
  /** Jobs due in a day in the directory for W4 (all) and W5 (all but 0); the last is the main one. */
  backlogs: number[];
  /** W1 jobs on PostgreSQL, and W5's. */
  postgresJobs: number;
  /** Waiting jobs due in a day in the table for W5 on PostgreSQL. */
  postgresBacklog: number;
  /** A child that runs longer is killed and its measurement reported as failed. */
  timeoutMs: number;
}

const PLANS: Record<Mode, Plan> = {
  quick: {
    rounds: 1,
    jobs: 2000,
    fsyncJobs: 300,
    w2Rate: 500,
    w2Seconds: 3,
    w2Warmup: 0.5,
    w3Jobs: 200,
    backlogs: [0, 20_000],
    postgresJobs: 1000,
    postgresBacklog: 20_000,
    timeoutMs: 120_000,
  },
  full: {
    rounds: 4,
    jobs: 10_000,
    fsyncJobs: 2000,
    w2Rate: 500,
    w2Seconds: 10,
    w2Warmup: 1,
    w3Jobs: 200,
    backlogs: [0, 1000, 10_000, 100_000],
    postgresJobs: 5000,
    postgresBacklog: 1_000_000,
    timeoutMs: 600_000,
  },
};

/** The backlog the W4 and W5 targets speak of. */
const TARGET_BACKLOG = 100_000;

// ---------------------------------------------------------------------------
// Options

const { values: options } = parseArgs({
  args: process.argv.slice(2),
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    runtimes: { type: "string", default: "deno,bun" },
    peers: { type: "string", default: "denokv,plainjob,bullmq,pgboss,graphile" },
    only: { type: "string", default: "probe,w1,w2,w3,w4,w5,pg" },
    postgres: { type: "string" },
    dir: { type: "string" },
    out: { type: "string" },
    chart: { type: "string" },
    "no-spread": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});

if (options.help) {
  console.log(
    "Usage: deno task bench [--quick] [--rounds N] [--runtimes deno,bun,node]\n" +
      "  [--peers denokv,plainjob,bullmq,pgboss,graphile|none]\n" +
      "  [--only probe,w1,w2,w3,w4,w5,pg] [--postgres URL]\n" +
      "  [--dir DIR] [--out FILE] [--chart FILE] [--no-spread]",
  );
  process.exit(0);
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

function listOption<T extends string>(name: string, text: string, allowed: readonly T[]): T[] {
  if (text === "none") return [];
  const items = text.split(",").map((item) => item.trim()).filter((item) => item !== "");
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      fail(`--${name} takes a list of ${allowed.join(", ")}: '${item}' is not one`);
    }
  }
  return items as T[];
}

const mode: Mode = options.quick ? "quick" : "full";
const plan: Plan = { ...PLANS[mode] };
if (options.rounds !== undefined) {
  const rounds = Number(options.rounds);
  if (!Number.isSafeInteger(rounds) || rounds < 1) {
    fail(`--rounds must be a positive integer: it is ${options.rounds}`);
  }
  plan.rounds = rounds;
}
const jobqRuntimes = listOption("runtimes", options.runtimes, ["deno", "bun", "node"] as const);
const peers = listOption(
  "peers",
  options.peers,
  ["denokv", "plainjob", "bullmq", "pgboss", "graphile"] as const,
);
const only = new Set(
  listOption("only", options.only, ["probe", "w1", "w2", "w3", "w4", "w5", "pg"] as const),
);
/** A server to use instead of a throwaway one. */
const givenPostgresUrl = options.postgres ?? process.env.JOBQ_BENCH_POSTGRES_URL;
const tempBase = resolve(options.dir ?? os.tmpdir());
/** This run's directory in `tempBase`: every measurement's directory is made in it. */
let runDir = "";
const mainBacklog = plan.backlogs.at(-1)!;

// ---------------------------------------------------------------------------
// Processes

interface Output {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end and collects its output. */
function run(command: string, args: string[], timeoutMs = 300_000): Promise<Output> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: root,
        env: { ...process.env, NO_COLOR: "1" },
        timeout: timeoutMs,
        maxBuffer: 64 * 2 ** 20,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

let currentChild: ReturnType<typeof spawn> | undefined;

let interrupted = false;

/** On Ctrl-C or SIGTERM: no child is started after this one is killed; the run's directory and the throwaway PostgreSQL server go. */
function interrupt(code: number): void {
  interrupted = true;
  currentChild?.kill("SIGKILL");
  const dirs = runDir === "" ? [] : [runDir];
  Promise.all([...dirs.map((dir) => rm(dir, { recursive: true, force: true })), stopPostgres()])
    .finally(() => process.exit(code));
}

process.on("SIGINT", () => interrupt(130));
process.on("SIGTERM", () => interrupt(143));

interface Outcome extends TaskResult {
  wallMs: number;
}

/** Runs one task in a fresh child process of its runtime. */
function runChild(command: string[], task: Task): Promise<Outcome> {
  // Interrupted: wait for the SIGINT handler to end the process.
  if (interrupted) return new Promise(() => {});
  const start = performance.now();
  return new Promise((resolve) => {
    const child = spawn(command[0]!, [...command.slice(1), JSON.stringify(task)], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    currentChild = child;
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk) => stdout += chunk);
    child.stderr!.on("data", (chunk) => stderr += chunk);
    const timer = setTimeout(() => child.kill("SIGKILL"), plan.timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      currentChild = undefined;
      const wallMs = performance.now() - start;
      const line = stdout.split("\n").find((l) => l.startsWith(RESULT_MARKER));
      if (line !== undefined) {
        try {
          const result = JSON.parse(line.slice(RESULT_MARKER.length)) as TaskResult;
          return resolve({ ...result, wallMs });
        } catch {
          // Reported below as a failure, with the output.
        }
      }
      const tail = stderr.split("\n").filter((l) => !l.startsWith("npm warn")).slice(-6)
        .join(" ").trim();
      const why = interrupted
        ? "interrupted"
        : signal === "SIGKILL"
        ? `killed after ${plan.timeoutMs / 1000} s`
        : `exited with ${code ?? signal}`;
      resolve({
        metrics: {},
        notes: [],
        errors: [`${why}: ${tail || stdout.slice(-300)}`],
        wallMs,
      });
    });
  });
}

// ---------------------------------------------------------------------------
// Runtimes

interface RuntimeInfo {
  /** How to run the worker. */
  command: string[];
  version: string;
  /** jobq's module in this runtime. */
  jobqModule: string;
}

const globals = globalThis as { Deno?: { execPath(): string }; Bun?: unknown };

/** The trimmed standard output of a command that must succeed. */
async function outputOf(command: string, args: string[]): Promise<string> {
  const output = await run(command, args, 180_000);
  if (output.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} failed: ${output.stderr.trim().split("\n").at(-1)}`,
    );
  }
  return output.stdout.trim();
}

/** The last line of a command's output (npx may print before it). */
async function lastLine(command: string, args: string[]): Promise<string> {
  return (await outputOf(command, args)).split("\n").at(-1)!.trim();
}

/** Finds a runtime's executable: this process's own, or one fetched with npx. */
async function executableOf(runtime: Runtime): Promise<string> {
  switch (runtime) {
    case "deno":
      if (globals.Deno !== undefined) return globals.Deno.execPath();
      return await lastLine("npx", ["-y", "deno@2", "eval", "console.log(Deno.execPath())"]);
    case "bun":
      if (globals.Bun !== undefined) return process.execPath;
      return await lastLine("npx", ["-y", "bun@1", "-e", "console.log(process.execPath)"]);
    case "node": {
      const path = await lastLine("node", [
        "-p",
        "process.versions.bun || typeof Deno !== 'undefined' ? '' : process.execPath",
      ]);
      if (path === "") throw new Error("the `node` on the PATH is not Node");
      return path;
    }
  }
}

const runtimeCache = new Map<Runtime, Promise<RuntimeInfo>>();

function runtimeInfo(runtime: Runtime): Promise<RuntimeInfo> {
  let info = runtimeCache.get(runtime);
  if (info === undefined) {
    info = resolveRuntime(runtime);
    runtimeCache.set(runtime, info);
  }
  return info;
}

async function resolveRuntime(runtime: Runtime): Promise<RuntimeInfo> {
  const path = await executableOf(runtime);
  const modUrl = pathToFileURL(join(root, "mod.ts")).href;
  switch (runtime) {
    case "deno":
      return {
        command: [path, "run", "-A", "--unstable-kv", "--no-lock", workerPath],
        // `deno --version` prints deno's, V8's and TypeScript's versions: the first is it.
        version: (await outputOf(path, ["--version"])).split("\n")[0]!.replace(/^deno/, "Deno")
          .replace(/ \(.*$/, ""),
        jobqModule: modUrl,
      };
    case "bun":
      return {
        command: [path, workerPath],
        version: `Bun ${await lastLine(path, ["--version"])}`,
        jobqModule: modUrl,
      };
    case "node":
      return {
        command: [path, await nodeWorker()],
        version: `Node ${(await lastLine(path, ["--version"])).replace(/^v/, "")}`,
        jobqModule: pathToFileURL(await npmBuild()).href,
      };
  }
}

/** The worker as JavaScript, for Node, in a temporary directory. */
async function nodeWorker(): Promise<string> {
  const source = readFileSync(workerPath, "utf8");
  let code: string;
  const bun = globalThis as { Bun?: { Transpiler: new (o: { loader: string }) => Transpiler } };
  if (bun.Bun !== undefined) {
    code = new bun.Bun.Transpiler({ loader: "ts" }).transformSync(source);
  } else {
    const ts = (await import("typescript")).default;
    code = ts.transpileModule(source, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 },
    }).outputText;
  }
  const dir = await mkdtemp(join(runDir, "node-"));
  const path = join(dir, "_bench_worker.mjs");
  await writeFile(path, code);
  return path;
}

interface Transpiler {
  transformSync(code: string): string;
}

/** `npm/esm/mod.js`, built when missing. */
async function npmBuild(): Promise<string> {
  const path = join(root, "npm", "esm", "mod.js");
  if (!existsSync(path)) {
    console.log("Building the npm package (npm/) for Node…");
    const deno = await executableOf("deno");
    const output = await run(deno, ["task", "build:npm"], 600_000);
    if (output.code !== 0 || !existsSync(path)) {
      throw new Error(`deno task build:npm failed: ${output.stderr.trim().slice(-500)}`);
    }
  } else {
    const built = statSync(path).mtimeMs;
    const newest = Math.max(
      ...(await readdir(join(root, "src"))).map((name) =>
        statSync(join(root, "src", name)).mtimeMs
      ),
    );
    if (newest > built) {
      console.log(
        "Note: npm/ is older than src/; Node runs the older build. Rebuild it with " +
          "`npx -y deno@2 task build:npm` to measure the current sources.",
      );
    }
  }
  return path;
}

// ---------------------------------------------------------------------------
// Peers

/** The ESM entry of an installed package. */
function packageEntry(name: string): string {
  const dir = join(peersDir, "node_modules", name);
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    exports?: Record<string, unknown>;
    module?: string;
    main?: string;
  };
  const dot = manifest.exports?.["."];
  let entry: unknown = typeof dot === "string" ? dot : (dot as { import?: unknown })?.import;
  if (typeof entry === "object" && entry !== null) entry = (entry as { default?: unknown }).default;
  const file = typeof entry === "string" ? entry : manifest.module ?? manifest.main ?? "index.js";
  return pathToFileURL(join(dir, file)).href;
}

/** Installs a peer into `.bench/` on first use; resolves to its module's URL. */
async function installPeer(spec: string): Promise<string> {
  const name = spec.slice(0, spec.lastIndexOf("@"));
  const version = spec.slice(spec.lastIndexOf("@") + 1);
  const manifest = join(peersDir, "node_modules", name, "package.json");
  const installed = existsSync(manifest)
    ? (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version
    : undefined;
  if (installed === undefined || !installed.startsWith(version)) {
    console.log(`Installing ${spec} into ${relative(root, peersDir)}/ …`);
    await mkdir(peersDir, { recursive: true });
    const output = await run("npm", [
      "install",
      "--prefix",
      peersDir,
      "--no-audit",
      "--no-fund",
      spec,
    ]);
    if (output.code !== 0 || !existsSync(manifest)) {
      throw new Error(`npm install ${spec} failed: ${output.stderr.trim().slice(-400)}`);
    }
  }
  return packageEntry(name);
}

/** Whether a Redis answers PING on 127.0.0.1:6379. */
function redisAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port: 6379 });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (data) => done(String(data).startsWith("+PONG")));
  });
}

// ---------------------------------------------------------------------------
// The PostgreSQL server

/** The URL of the server of the PostgreSQL measurements, once there is one. */
let postgresUrl = "";
/** The process of the throwaway server (`scripts/_postgres.ts`), while it runs. */
let postgresServer: ReturnType<typeof spawn> | undefined;

/**
 * Starts a throwaway server with `scripts/_postgres.ts --durable` in a Deno
 * child process, and resolves to its URL. Durable: fsync, synchronous commit
 * and full-page writes on, as a server that keeps its jobs has them.
 */
async function startPostgres(): Promise<string> {
  const deno = await executableOf("deno");
  const child = spawn(deno, ["run", "-A", join(root, "scripts", "_postgres.ts"), "--durable"], {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  postgresServer = child;
  let output = "";
  return await new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk) => {
      output += chunk;
      const url = /^JOBQ_TEST_POSTGRES_URL=(.+)$/m.exec(output)?.[1];
      if (url !== undefined) resolve(url.trim());
    });
    child.stderr!.on("data", (chunk) => output += chunk);
    child.on("close", (code) => {
      postgresServer = undefined;
      reject(new Error(`scripts/_postgres.ts exited with ${code}: ${output.trim().slice(-500)}`));
    });
  });
}

/** Stops the throwaway server, if one runs, and waits until it has. */
function stopPostgres(): Promise<void> {
  const child = postgresServer;
  if (child === undefined) return Promise.resolve();
  postgresServer = undefined;
  return new Promise((resolve) => {
    child.on("close", () => resolve());
    child.kill("SIGTERM");
  });
}

/**
 * Under Bun, the store and the worker load `postgres` from `node_modules/`,
 * which Deno fills (`nodeModulesDir: auto`) when it resolves the store.
 */
async function ensurePostgresPackage(): Promise<void> {
  if (existsSync(join(root, "node_modules", "postgres", "package.json"))) return;
  const deno = await executableOf("deno");
  await outputOf(deno, ["cache", join(root, "src", "store", "postgres", "_client.ts")]);
}

// ---------------------------------------------------------------------------
// The machine

interface Machine {
  cpu: string;
  cores: number;
  memoryGB: number;
  os: string;
  tempDir: string;
  fileSystem: string;
  loadAverage: number[];
  /** The commit of jobq measured, and whether src/ or mod.ts differ from it. */
  jobq: string;
  /** Whether the measurements' directories are spread over block groups (see spreadSubdirectories). */
  spread: boolean;
  /** The server of the PostgreSQL measurements, if any. */
  postgres?: string;
  runtimes: Record<string, string>;
}

async function describeFileSystem(path: string): Promise<string> {
  const mount = await run("findmnt", ["-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", path], 10_000);
  let text = mount.code === 0 ? mount.stdout.trim().split(/\s+/).slice(0, 3).join(" ") : "";
  if (text === "") {
    const df = await run("df", ["-PT", path], 10_000);
    text = df.code === 0
      ? (df.stdout.trim().split("\n")[1] ?? "").split(/\s+/).slice(0, 2).join(" ")
      : "unknown";
  }
  const device = /^\/dev\/(\S+)/.exec(text)?.[1];
  if (device !== undefined) {
    // ext4 tells whether it has a journal: without one, it avoids reusing the
    // inodes freed in the last minutes, and scans past them at each creation.
    const journal = readText(`/sys/fs/ext4/${device}/journal_task`);
    if (journal !== undefined) text += journal === "<none>" ? "; no journal" : "; journal";
    const disk = device.replace(/p?\d+$/, "");
    const rotational = readText(`/sys/block/${disk}/queue/rotational`);
    const sectors = Number(readText(`/sys/block/${disk}/size`));
    if (rotational !== undefined && sectors > 0) {
      text += `; ${rotational === "0" ? "non-rotational" : "rotational"} device, ${
        Math.round((sectors * 512) / 1e9)
      } GB`;
    }
  }
  return text;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

/**
 * Marks the run's directory with ext4's top-directory flag (`chattr +T`), so
 * that the kernel places each measurement's directory in the block group
 * with the fewest directories instead of beside the last ones (measurement
 * directories are kept, empty, until the end of the run, so a group just
 * used has one more). Without a journal, ext4 skips the inodes freed in the
 * last minutes when it allocates one, scanning past each: after the
 * thousands of files an earlier measurement removed, creating a file costs
 * up to ~0.7 ms instead of ~20 µs, and a figure would depend on what ran
 * before it. Resolves to `false` where the flag cannot be set.
 */
async function spreadSubdirectories(dir: string): Promise<boolean> {
  return (await run("chattr", ["+T", dir], 10_000)).code === 0;
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (match) return match[1]!.trim();
  } catch {
    // Not Linux.
  }
  return os.cpus()[0]?.model ?? "unknown";
}

/** `abc1234`, `abc1234 with changes in src/` or `unknown`: the jobq the figures are of. */
async function jobqVersion(): Promise<string> {
  const head = await run("git", ["rev-parse", "--short", "HEAD"], 10_000);
  if (head.code !== 0) return "unknown";
  const status = await run("git", ["status", "--porcelain", "--", "src", "mod.ts"], 10_000);
  const changed = status.code === 0 && status.stdout.trim() !== "";
  return `${head.stdout.trim()}${changed ? " with changes in src/" : ""}`;
}

async function describeMachine(): Promise<Machine> {
  return {
    cpu: cpuModel(),
    cores: os.cpus().length,
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    tempDir: tempBase,
    fileSystem: await describeFileSystem(tempBase),
    loadAverage: os.loadavg().map((n) => Math.round(n * 100) / 100),
    jobq: await jobqVersion(),
    spread: false,
    runtimes: {},
  };
}

// ---------------------------------------------------------------------------
// What to measure

/** A column of the results: jobq in a runtime, or a peer. */
interface Subject {
  id: string;
  label: string;
  system: System;
  runtime: Runtime;
  /** The module of the peer. */
  peerModule?: string;
  /** Set when the peer cannot run here; its cells say so. */
  absent?: string;
}

/** One measurement of one subject, in one child process. */
interface Measurement {
  /** `probe.seq`, `w1.fsync.bulk`, `w4.100000`, … */
  id: string;
  /**
   * Measurements of one group run back to back for each subject: a probe
   * just before the W1 figure it is the limit of, so that both see the
   * machine in the same state.
   */
  group: string;
  /** Which subjects take it. */
  applies(subject: Subject): boolean;
  task: Partial<Task>;
  /** Jobs due in a day written into the directory first, by a separate process. */
  backlog: number;
}

const isJobq = (subject: Subject) => subject.system === "jobq";
const POSTGRES_SYSTEMS: readonly System[] = ["jobq-postgres", "pgboss", "graphile"];
const isPostgres = (subject: Subject) => POSTGRES_SYSTEMS.includes(subject.system);
const isPeerOf = (...systems: System[]) => (subject: Subject) =>
  isJobq(subject) || systems.includes(subject.system);

function measurements(): Measurement[] {
  const list: Measurement[] = [];
  if (only.has("probe")) {
    for (const fsync of [false, true]) {
      for (const probeMode of ["seq", "par8"] as const) {
        list.push({
          id: `probe.${fsync ? "fsync." : ""}${probeMode}`,
          group: `${fsync ? "fsync." : ""}${probeMode === "seq" ? "seq" : "bulk"}`,
          applies: isJobq,
          task: {
            kind: "probe",
            system: "probe",
            fsync,
            mode: probeMode,
            count: fsync ? plan.fsyncJobs : plan.jobs,
          },
          backlog: 0,
        });
      }
    }
  }
  if (only.has("w1")) {
    for (const fsync of [false, true]) {
      for (const enqueue of ["seq", "bulk"] as const) {
        list.push({
          id: `w1.${fsync ? "fsync." : ""}${enqueue}`,
          group: `${fsync ? "fsync." : ""}${enqueue}`,
          applies: fsync ? isPeerOf("plainjob") : isPeerOf("denokv", "plainjob", "bullmq"),
          task: {
            kind: "w1",
            fsync,
            mode: enqueue,
            process: enqueue === "seq",
            count: fsync ? plan.fsyncJobs : plan.jobs,
          },
          backlog: 0,
        });
      }
    }
  }
  if (only.has("w2")) {
    list.push({
      id: "w2",
      group: "w2",
      applies: isPeerOf("denokv", "plainjob"),
      task: { kind: "w2", rate: plan.w2Rate, seconds: plan.w2Seconds, warmup: plan.w2Warmup },
      backlog: 0,
    });
  }
  if (only.has("w3")) {
    list.push({
      id: "w3",
      group: "w3",
      applies: isPeerOf("denokv", "plainjob"),
      task: { kind: "w3", count: plan.w3Jobs, delayMin: 200, delayMax: 1000 },
      backlog: 0,
    });
  }
  if (only.has("w4")) {
    for (const backlog of plan.backlogs) {
      list.push({
        id: `w4.${backlog}`,
        group: `w4.${backlog}`,
        applies: isJobq,
        task: { kind: "w4" },
        backlog,
      });
    }
  }
  if (only.has("pg")) {
    // W1, W2 and W5 on PostgreSQL; W5's backlog is inserted by the child.
    for (const enqueue of ["seq", "bulk"] as const) {
      list.push({
        id: `pg.w1.${enqueue}`,
        group: `pg.w1.${enqueue}`,
        applies: isPostgres,
        task: { kind: "w1", mode: enqueue, process: enqueue === "seq", count: plan.postgresJobs },
        backlog: 0,
      });
    }
    list.push({
      id: "pg.w2",
      group: "pg.w2",
      applies: isPostgres,
      task: { kind: "w2", rate: plan.w2Rate, seconds: plan.w2Seconds, warmup: plan.w2Warmup },
      backlog: 0,
    });
    list.push({
      id: "pg.w5",
      group: "pg.w5",
      applies: isPostgres,
      task: {
        kind: "w1",
        mode: "seq",
        process: true,
        count: plan.postgresJobs,
        backlog: plan.postgresBacklog,
      },
      backlog: 0,
    });
  }
  if (only.has("w5")) {
    for (const backlog of plan.backlogs.filter((b) => b > 0)) {
      list.push({
        id: `w5.${backlog}`,
        group: `w5.${backlog}`,
        applies: isJobq,
        task: { kind: "w1", mode: "seq", process: true, count: plan.jobs },
        backlog,
      });
    }
  }
  return list;
}

function fullTask(subject: Subject, info: RuntimeInfo, partial: Partial<Task>, dir: string): Task {
  return {
    kind: "w1",
    system: subject.system,
    runtime: subject.runtime,
    dir,
    count: 0,
    fsync: false,
    mode: "seq",
    process: false,
    backlog: 0,
    rate: 0,
    seconds: 0,
    warmup: 0,
    delayMin: 0,
    delayMax: 0,
    jobqModule: info.jobqModule,
    peerModule: subject.peerModule ?? "",
    postgresUrl,
    schema: "",
    ...partial,
  };
}

// ---------------------------------------------------------------------------
// Running

/** Per subject, per measurement: the outcome of each round. */
type Results = Record<string, Record<string, Outcome[]>>;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Numbers the PostgreSQL measurements' schemas. */
let schemaCount = 0;

async function measure(
  subject: Subject,
  measurement: Measurement,
  round: number,
): Promise<Outcome> {
  const info = await runtimeInfo(subject.runtime);
  const dir = await mkdtemp(join(runDir, "m-"));
  try {
    if (measurement.backlog > 0) {
      const template = await backlogTemplate(measurement.backlog);
      if (typeof template !== "string") return { ...template, wallMs: 0 };
      await linkCopy(template, dir);
    }
    const task = fullTask(
      subject,
      info,
      {
        backlog: measurement.backlog,
        ...measurement.task,
        ...(isPostgres(subject) ? { schema: `jobq_bench_${++schemaCount}` } : {}),
      },
      dir,
    );
    const outcome = await runChild(info.command, task);
    const figures = Object.entries(outcome.metrics)
      .filter(([, value]) => value !== null)
      .map(([name, value]) =>
        `${name} ${
          Number.isInteger(value) || value! >= 100 ? Math.round(value!) : value!.toFixed(2)
        }`
      )
      .join(", ");
    console.log(
      `  round ${round}  ${measurement.id.padEnd(16)} ${subject.label.padEnd(16)} ${
        seconds(outcome.wallMs).padStart(7)
      }  ${outcome.errors.length > 0 ? `ERROR ${outcome.errors[0]}` : figures}`,
    );
    return outcome;
  } finally {
    // The directory itself stays (empty) until the end of the run: ext4
    // places a new top directory in the block group with the fewest
    // directories, so the next measurement goes elsewhere than where these
    // files were just freed (see spreadSubdirectories).
    await empty(dir);
  }
}

/**
 * Directories of jobs due in a day, one per backlog size, written once per
 * run by a child process with jobq's own `Job.fromSpec` and file naming.
 */
const templates = new Map<number, Promise<string | TaskResult>>();
let templateRoot: string | undefined;

function backlogTemplate(backlog: number): Promise<string | TaskResult> {
  let template = templates.get(backlog);
  if (template === undefined) {
    template = writeTemplate(backlog);
    templates.set(backlog, template);
  }
  return template;
}

async function writeTemplate(backlog: number): Promise<string | TaskResult> {
  templateRoot ??= await mkdtemp(join(runDir, "backlogs-"));
  const dir = join(templateRoot, String(backlog));
  // Any runtime writes the same files: the first one of jobq's.
  const subject = { system: "jobq", runtime: jobqRuntimes[0] ?? "deno" } as Subject;
  const info = await runtimeInfo(subject.runtime);
  const setup = await runChild(
    info.command,
    fullTask(subject, info, { kind: "setup", system: "jobq", count: backlog }, dir),
  );
  console.log(
    `  setup    ${`${backlog.toLocaleString("en-US")} jobs due in a day`.padEnd(33)} ${
      seconds(setup.wallMs).padStart(7)
    }${setup.errors.length > 0 ? `  ERROR ${setup.errors[0]}` : ""}`,
  );
  if (setup.errors.length > 0) {
    return { ...setup, errors: setup.errors.map((error) => `setup: ${error}`) };
  }
  return dir;
}

/**
 * Fills `to` with hard links to the files of `from`: a copy that allocates
 * no inode, so that preparing 100,000 jobs takes seconds and leaves no
 * freed inodes behind. jobq only reads those files (it replaces a job file by
 * renaming a new one over it), so the template is never changed.
 */
async function linkCopy(from: string, to: string): Promise<void> {
  if ((await run("cp", ["-al", `${from}/.`, to], 600_000)).code === 0) return;
  for (const name of await readdir(from)) await link(join(from, name), join(to, name));
}

/** Removes everything in `dir`, but not `dir`. */
async function empty(dir: string): Promise<void> {
  if ((await run("find", [dir, "-mindepth", "1", "-delete"], 600_000)).code === 0) return;
  // Gone when the run was interrupted meanwhile.
  for (const name of await readdir(dir).catch(() => [])) {
    await rm(join(dir, name), { recursive: true, force: true });
  }
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

interface Statistic {
  median: number | null;
  min: number | null;
  max: number | null;
  values: (number | null)[];
}

function statistics(results: Results): Record<string, Record<string, Statistic>> {
  const out: Record<string, Record<string, Statistic>> = {};
  for (const [subject, byMeasurement] of Object.entries(results)) {
    out[subject] = {};
    for (const [measurement, outcomes] of Object.entries(byMeasurement)) {
      const names = new Set(outcomes.flatMap((outcome) => Object.keys(outcome.metrics)));
      for (const name of names) {
        const values = outcomes.map((outcome) => outcome.metrics[name] ?? null);
        const numbers = values.filter((v): v is number => typeof v === "number");
        out[subject][`${measurement}.${name}`] = {
          median: median(numbers),
          min: numbers.length > 0 ? Math.min(...numbers) : null,
          max: numbers.length > 0 ? Math.max(...numbers) : null,
          values,
        };
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Main

const RUNTIME_LABEL: Record<Runtime, string> = { deno: "Deno", bun: "Bun", node: "Node" };
const COLORS: Record<Runtime, string> = { deno: "#1f6fb5", bun: "#e07b00", node: "#3c8d2f" };

async function main(): Promise<void> {
  const started = new Date();
  const startMs = performance.now();
  await mkdir(tempBase, { recursive: true });
  runDir = await mkdtemp(join(tempBase, "jobq-bench-"));
  const machine = await describeMachine();
  machine.spread = !options["no-spread"] && await spreadSubdirectories(runDir);
  const notes: string[] = [];
  const problems: string[] = [];

  const subjects: Subject[] = [];
  for (const runtime of jobqRuntimes) {
    subjects.push({
      id: `jobq-${runtime}`,
      label: `jobq · ${RUNTIME_LABEL[runtime]}`,
      system: "jobq",
      runtime,
    });
  }
  if (peers.includes("denokv")) {
    subjects.push({ id: "denokv", label: "Deno KV · Deno", system: "denokv", runtime: "deno" });
  }
  /** A peer installed from npm, or marked absent with the reason. */
  const peerSubject = async (
    subject: Subject,
    spec: string,
    name: string,
    missing: () => Promise<string | undefined> = () => Promise.resolve(undefined),
  ): Promise<Subject> => {
    const reason = await missing();
    if (reason !== undefined) {
      subject.absent = "not present";
      notes.push(`${name}: not present (${reason})`);
      return subject;
    }
    try {
      subject.peerModule = await installPeer(spec);
    } catch (error) {
      subject.absent = "not installed";
      problems.push(`${name}: ${(error as Error).message}`);
    }
    return subject;
  };
  if (peers.includes("plainjob")) {
    const subject: Subject = {
      id: "plainjob",
      label: "plainjob · Bun",
      system: "plainjob",
      runtime: "bun",
    };
    subjects.push(await peerSubject(subject, PLAINJOB, "plainjob"));
  }
  if (peers.includes("bullmq")) {
    const subject: Subject = {
      id: "bullmq",
      label: "BullMQ · Node",
      system: "bullmq",
      runtime: "node",
    };
    subjects.push(
      await peerSubject(
        subject,
        BULLMQ,
        "BullMQ",
        async () => await redisAnswers() ? undefined : "no Redis answers on 127.0.0.1:6379",
      ),
    );
  }

  if (only.has("pg")) {
    for (const runtime of jobqRuntimes.filter((runtime) => runtime !== "node")) {
      subjects.push({
        id: `jobq-postgres-${runtime}`,
        label: `jobq (PostgreSQL) · ${RUNTIME_LABEL[runtime]}`,
        system: "jobq-postgres",
        runtime,
      });
    }
    if (jobqRuntimes.includes("node")) {
      notes.push("jobq (PostgreSQL): measured under Deno and Bun, not Node");
    }
    if (peers.includes("pgboss")) {
      const subject: Subject = {
        id: "pgboss",
        label: "pg-boss · Node",
        system: "pgboss",
        runtime: "node",
      };
      subjects.push(await peerSubject(subject, PGBOSS, "pg-boss"));
    }
    if (peers.includes("graphile")) {
      const subject: Subject = {
        id: "graphile",
        label: "graphile-worker · Node",
        system: "graphile",
        runtime: "node",
      };
      subjects.push(await peerSubject(subject, GRAPHILE, "graphile-worker"));
    }
  }

  // Resolve every runtime first: a missing one is reported once, up front.
  for (const runtime of new Set(subjects.map((subject) => subject.runtime))) {
    const needed = subjects.some((subject) => subject.runtime === runtime && !subject.absent);
    if (!needed) continue;
    try {
      machine.runtimes[runtime] = (await runtimeInfo(runtime)).version;
    } catch (error) {
      problems.push(`${RUNTIME_LABEL[runtime]}: ${(error as Error).message}`);
      for (const subject of subjects) {
        if (subject.runtime === runtime) subject.absent ??= "runtime missing";
      }
    }
  }
  const plainjobSubject = subjects.find((subject) => subject.id === "plainjob");
  if (plainjobSubject?.peerModule !== undefined) machine.runtimes.plainjob = PLAINJOB;
  for (const [id, spec] of [["pgboss", PGBOSS], ["graphile", GRAPHILE]] as const) {
    const peer = subjects.find((subject) => subject.id === id);
    if (peer?.peerModule !== undefined) machine.runtimes[id] = spec;
  }

  const postgresSubjects = subjects.filter((subject) =>
    isPostgres(subject) && subject.absent === undefined
  );
  if (postgresSubjects.length > 0) {
    try {
      if (postgresSubjects.some((subject) => subject.runtime === "bun")) {
        await ensurePostgresPackage();
      }
      if (givenPostgresUrl !== undefined) {
        postgresUrl = givenPostgresUrl;
        machine.postgres = "the server of --postgres or JOBQ_BENCH_POSTGRES_URL";
      } else {
        console.log("Starting a throwaway PostgreSQL server (scripts/_postgres.ts --durable)…");
        postgresUrl = await startPostgres();
        machine.postgres = "a throwaway server on a unix socket, fsync on (scripts/_postgres.ts)";
      }
    } catch (error) {
      problems.push(`PostgreSQL: ${(error as Error).message}`);
      for (const subject of postgresSubjects) subject.absent = "no server";
    }
  }

  const list = measurements();
  const runnable = subjects.filter((subject) => subject.absent === undefined);
  console.log(
    `jobq benchmark, ${mode} mode: ${plan.rounds} round(s) of ${
      list.reduce((n, m) => n + runnable.filter(m.applies).length, 0)
    } measurements`,
  );
  console.log(machineLines(machine).map((line) => `  ${line}`).join("\n"));
  for (const note of notes) console.log(`  ${note}`);
  console.log();

  const results: Results = {};
  for (const subject of subjects) results[subject.id] = {};
  const groups = [...new Set(list.map((measurement) => measurement.group))].map((group) =>
    list.filter((measurement) => measurement.group === group)
  );
  for (let round = 1; round <= plan.rounds; round++) {
    const roundStart = performance.now();
    for (const group of groups) {
      const takers = runnable.filter((subject) => group.some((m) => m.applies(subject)));
      // Each round starts with another subject, so that none is always first.
      const offset = (round - 1) % Math.max(1, takers.length);
      for (const subject of [...takers.slice(offset), ...takers.slice(0, offset)]) {
        for (const measurement of group.filter((m) => m.applies(subject))) {
          const outcome = await measure(subject, measurement, round);
          (results[subject.id]![measurement.id] ??= []).push(outcome);
          for (const error of outcome.errors) {
            problems.push(`round ${round}, ${measurement.id}, ${subject.label}: ${error}`);
          }
        }
      }
    }
    console.log(`  round ${round} took ${seconds(performance.now() - roundStart)}`);
  }

  const stats = statistics(results);
  const medians: Medians = {};
  for (const [subject, byKey] of Object.entries(stats)) {
    medians[subject] = Object.fromEntries(
      Object.entries(byKey).map(([key, stat]) => [key, stat.median]),
    );
  }
  const fileRun = list.some((measurement) => !measurement.id.startsWith("pg."));
  const columns: Column[] = subjects.filter((subject) => !isPostgres(subject)).map((subject) => ({
    id: subject.id,
    label: subject.label,
    isJobq: subject.system === "jobq",
    probeColumn: subjects.find((other) =>
      other.system === "jobq" && other.runtime === subject.runtime
    )
      ?.id,
    ...(subject.absent === undefined ? {} : { absent: subject.absent }),
  }));
  const perRound: Record<string, Record<string, (number | null)[]>> = {};
  for (const [subject, byKey] of Object.entries(stats)) {
    perRound[subject] = Object.fromEntries(
      Object.entries(byKey).map(([key, stat]) => [key, stat.values]),
    );
  }
  const reportInput = {
    columns,
    medians,
    perRound,
    jobs: plan.jobs,
    fsyncJobs: plan.fsyncJobs,
    w2Rate: plan.w2Rate,
    w2Seconds: plan.w2Seconds,
    w3Jobs: plan.w3Jobs,
    backlog: mainBacklog,
    targetBacklog: TARGET_BACKLOG,
  };
  const figures = figuresTable(reportInput);
  const goals = targetsTable(reportInput);
  const postgres = postgresTables({
    columns: subjects.filter(isPostgres).map((subject) => ({
      id: subject.id,
      label: subject.label,
      isJobq: subject.system === "jobq-postgres",
      probeColumn: undefined,
      ...(subject.absent === undefined ? {} : { absent: subject.absent }),
    })),
    medians,
    perRound,
    jobs: plan.postgresJobs,
    backlog: plan.postgresBacklog,
    w2Rate: plan.w2Rate,
    w2Seconds: plan.w2Seconds,
  });
  const postgresRun = subjects.some(isPostgres);
  const subjectNotes = new Map<string, Set<string>>();
  for (const [subject, byMeasurement] of Object.entries(results)) {
    for (const outcomes of Object.values(byMeasurement)) {
      for (const note of outcomes.flatMap((outcome) => outcome.notes)) {
        if (!subjectNotes.has(subject)) subjectNotes.set(subject, new Set());
        subjectNotes.get(subject)!.add(note);
      }
    }
  }
  const durationSeconds = Math.round((performance.now() - startMs) / 1000);

  const ofRounds = `median of ${plan.rounds} round${plan.rounds > 1 ? "s" : ""}`;
  if (fileRun) {
    console.log(`\n## Figures (${ofRounds})\n`);
    console.log(figures.markdown);
    console.log("\n## Targets\n");
    console.log(goals.markdown);
  }
  if (postgresRun) {
    console.log(`\n## PostgreSQL: figures (${ofRounds})\n`);
    console.log(postgres.figures.markdown);
    console.log("\n## PostgreSQL: targets\n");
    console.log(postgres.targets.markdown);
  }
  if (fileRun && mainBacklog !== TARGET_BACKLOG) {
    console.log(
      `\nQuick mode: W4 and W5 use ${mainBacklog.toLocaleString("en-US")} jobs in the ` +
        `directory, not ${TARGET_BACKLOG.toLocaleString("en-US")}.`,
    );
  }
  const noteLines = [...notes];
  for (const [subject, set] of subjectNotes) {
    const label = subjects.find((s) => s.id === subject)!.label;
    for (const note of set) noteLines.push(`${label}: ${note}`);
  }
  if (noteLines.length > 0) {
    console.log("\n## Notes\n");
    for (const note of noteLines) console.log(`- ${note}`);
  }
  if (problems.length > 0) {
    console.log("\n## Problems\n");
    for (const problem of problems) console.log(`- ${problem}`);
  }

  // The chart: jobq's throughput and start-up against the jobs in the directory.
  const series: ChartSeries[] = subjects.filter((subject) => subject.system === "jobq").map(
    (subject) => {
      const m = medians[subject.id] ?? {};
      const at = (backlog: number, w1Key: string, w5Key: string) =>
        (backlog === 0 ? m[`w1.seq.${w1Key}`] : m[`w5.${backlog}.${w5Key}`]) ?? null;
      return {
        label: machine.runtimes[subject.runtime] ?? RUNTIME_LABEL[subject.runtime],
        color: COLORS[subject.runtime],
        process: plan.backlogs.map((b) => at(b, "process", "process")),
        enqueue: plan.backlogs.map((b) => at(b, "enqueue", "enqueue")),
        startup: plan.backlogs.map((b) => m[`w4.${b}.startupMs`] ?? null),
      };
    },
  );
  const chartPath = resolve(
    options.chart ?? join(benchDir, mode === "full" ? "chart.svg" : "chart-quick.svg"),
  );
  const svg = renderChart({
    title: "jobq: throughput and start-up against the jobs waiting in its directory",
    subtitle: `${machine.cpu}, ${machine.cores} cores; ${
      machine.fileSystem.split(" ").slice(0, 2).join(" ")
    }${
      machine.fileSystem.includes("no journal") ? " without journal" : ""
    }; fsync off; ${mode} mode, median of ${plan.rounds} round${plan.rounds > 1 ? "s" : ""}; ${
      started.toISOString().slice(0, 10)
    }`,
    backlogs: plan.backlogs,
    series,
    startupTarget: 1000,
  });

  const json = {
    mode,
    command: `deno task bench${
      process.argv.slice(2).length > 0 ? ` ${process.argv.slice(2).join(" ")}` : ""
    }`,
    orchestrator: globals.Deno !== undefined ? "deno" : globals.Bun !== undefined ? "bun" : "node",
    startedAt: started.toISOString(),
    durationSeconds,
    plan,
    machine,
    subjects: subjects.map(({ id, label, system, runtime, absent }) => ({
      id,
      label,
      system,
      runtime,
      ...(absent === undefined ? {} : { absent }),
    })),
    statistics: stats,
    ...(fileRun
      ? {
        table: { columns: columns.map((c) => c.label), rows: figures.rows },
        targets: goals.outcomes,
      }
      : {}),
    ...(postgresRun
      ? {
        postgres: {
          table: { columns: subjects.filter(isPostgres).map((s) => s.label), ...postgres.figures },
          targets: postgres.targets.outcomes,
        },
      }
      : {}),
    notes: noteLines,
    problems,
    rounds: results,
    markdown: {
      ...(fileRun ? { figures: figures.markdown, targets: goals.markdown } : {}),
      ...(postgresRun
        ? { postgresFigures: postgres.figures.markdown, postgresTargets: postgres.targets.markdown }
        : {}),
    },
  };
  await mkdir(benchDir, { recursive: true });
  // A run of the PostgreSQL part alone keeps the file store's record.
  const jsonName = fileRun ? mode : mode === "full" ? "postgres" : "postgres-quick";
  const jsonPaths = [join(benchDir, `${jsonName}.json`)];
  if (options.out !== undefined) jsonPaths.push(resolve(options.out));
  for (const path of jsonPaths) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, JSON.stringify(json, null, 2) + "\n");
  }
  const written = jsonPaths.map((p) => relative(root, p));
  if (fileRun) {
    await mkdir(dirname(chartPath), { recursive: true });
    await writeFile(chartPath, svg);
    written.push(relative(root, chartPath));
  }
  console.log(`\nWrote ${written.join(", ")} in ${seconds(performance.now() - startMs)}.`);
}

function machineLines(machine: Machine): string[] {
  return [
    `CPU: ${machine.cpu}, ${machine.cores} cores; memory ${machine.memoryGB} GB; ${machine.os}`,
    `Temp dir: ${machine.tempDir} (${machine.fileSystem})${
      machine.spread ? "; measurements spread over block groups (chattr +T)" : ""
    }`,
    `Load average at start: ${machine.loadAverage.join(", ")}`,
    `Runtimes: ${Object.values(machine.runtimes).join(", ")}; jobq ${machine.jobq}`,
    ...(machine.postgres === undefined ? [] : [`PostgreSQL: ${machine.postgres}`]),
  ];
}

try {
  await main();
} finally {
  await stopPostgres();
  if (runDir !== "") await rm(runDir, { recursive: true, force: true });
}
