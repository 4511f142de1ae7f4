/**
 * One measurement of the benchmark, run by `scripts/bench.ts` in a fresh
 * process so that memory and start-up are this measurement's alone. The task
 * comes as JSON in the first argument; the result is printed as one line
 * starting with {@linkcode RESULT_MARKER}, then the process exits.
 *
 * This file runs under Deno, Bun and Node (transpiled to JavaScript for
 * Node): it imports only `node:` modules, and loads jobq, the peers and the
 * runtime's own modules dynamically from the paths in the task.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import type * as Jobq from "../mod.ts";

/** The runtimes a measurement runs in. */
export type Runtime = "deno" | "bun" | "node";

/** What is measured. */
export type System =
  | "probe"
  | "jobq"
  | "denokv"
  | "plainjob"
  | "bullmq"
  | "jobq-postgres"
  | "pgboss"
  | "graphile";

/** One measurement, as `scripts/bench.ts` describes it to the child process. */
export interface Task {
  /**
   * - `probe`: raw file creations (write a temp name, rename) then unlinks.
   * - `setup`: write `count` jobq job files due in a day into `dir`.
   * - `w1`: enqueue `count` jobs (`mode` `seq` or `bulk`), then process them
   *   at concurrency 8 when `process` is set.
   * - `w2`: enqueue→start latency at a steady `rate` for `seconds`.
   * - `w3`: lateness of `count` jobs delayed `delayMin`–`delayMax` ms.
   * - `w4`: open a directory (of `backlog` jobs) and run one new job.
   */
  kind: "probe" | "setup" | "w1" | "w2" | "w3" | "w4";
  system: System;
  runtime: Runtime;
  /** A fresh directory of this measurement. */
  dir: string;
  count: number;
  fsync: boolean;
  /** `seq` (one at a time) or, for the probe, `par8` (8 in flight); `bulk` for W1. */
  mode: "seq" | "par8" | "bulk";
  process: boolean;
  /**
   * Jobs due in a day already in `dir`, written by a `setup` task; for the
   * PostgreSQL systems, inserted into the schema by this process first.
   */
  backlog: number;
  rate: number;
  seconds: number;
  /** Jobs started in the first `warmup` seconds of W2 are left out of its figures. */
  warmup: number;
  delayMin: number;
  delayMax: number;
  /** The URL of jobq's module: `mod.ts`, or `npm/esm/mod.js` under Node. */
  jobqModule: string;
  /** The URL of the peer's module (plainjob, BullMQ, pg-boss, graphile-worker), if any. */
  peerModule: string;
  /** The PostgreSQL server of the PostgreSQL systems. */
  postgresUrl: string;
  /** A fresh schema of this measurement on that server, dropped at its end. */
  schema: string;
}

/** What a measurement reports. */
export interface TaskResult {
  /** Figures by name; `null` when not measurable here (see `notes`). */
  metrics: Record<string, number | null>;
  notes: string[];
  errors: string[];
}

/** Starts the line of a child's output that holds its {@linkcode TaskResult}. */
export const RESULT_MARKER = "@@jobq-bench-result@@";

/** Concurrency of W1 processing, W2 and W3, and in-flight writes of the probe. */
const CONCURRENCY = 8;
const DAY = 86_400_000;

type Listener = () => void;

/** A count that resolves a promise when it reaches a target. */
class Counter {
  value = 0;
  #target = Infinity;
  #resolve: Listener | undefined;

  add(): void {
    this.value++;
    if (this.value >= this.#target) this.#resolve?.();
  }

  /** Resolves once the count reaches `target`, or rejects after `ms`. */
  reach(target: number, ms: number, what: string): Promise<void> {
    this.#target = target;
    if (this.value >= target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${what}: ${this.value} of ${target} after ${ms} ms`)),
        ms,
      );
      this.#resolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function perSecond(count: number, ms: number): number {
  return count / (ms / 1000);
}

/** The nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A job file body of about 200 bytes, as a jobq job of the benchmark is. */
function payload(i: number): string {
  return JSON.stringify({
    id: `2024-01-01T00-00-00-000Z-${String(i).padStart(13, "0")}-00000000`,
    methodName: "noop",
    executionDate: 1704067200000,
    state: "NOT_STARTED",
    params: { i },
    createdAt: 1704067200000,
    attempts: 0,
  });
}

// ---------------------------------------------------------------------------
// The file-system probe: what jobq's adapter for this runtime does, per job.

interface DenoFile {
  write(data: Uint8Array): Promise<number>;
  syncData(): Promise<void>;
  sync(): Promise<void>;
  close(): void;
}

interface DenoApi {
  open(path: string, options: Record<string, boolean>): Promise<DenoFile>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  openKv(path: string): Promise<DenoKv>;
}

interface BunApi {
  write(path: string, data: string, options: { createPath: boolean }): Promise<number>;
}

function denoApi(): DenoApi {
  return (globalThis as unknown as { Deno: DenoApi }).Deno;
}

function bunApi(): BunApi {
  return (globalThis as unknown as { Bun: BunApi }).Bun;
}

interface ProbeOps {
  /** Writes `data` to `temp` (synced when asked), renames it to `path`, syncs the directory. */
  create(temp: string, path: string, data: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

async function nodeWrite(path: string, data: string, sync: boolean): Promise<void> {
  const file = await fs.open(path, "w");
  try {
    await file.writeFile(data, "utf8");
    if (sync) await file.datasync();
  } finally {
    await file.close();
  }
}

async function nodeSyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The calls of `DenoFileSystem`, `BunFileSystem` or `NodeFileSystem` for one atomic write. */
function probeOps(runtime: Runtime, dir: string, sync: boolean): ProbeOps {
  if (runtime === "deno") {
    const deno = denoApi();
    const encoder = new TextEncoder();
    return {
      async create(temp, path, data) {
        const file = await deno.open(temp, { write: true, create: true, truncate: true });
        try {
          let bytes = encoder.encode(data);
          while (bytes.length > 0) bytes = bytes.subarray(await file.write(bytes));
          if (sync) await file.syncData();
        } finally {
          file.close();
        }
        await deno.rename(temp, path);
        if (sync) {
          const directory = await deno.open(dir, { read: true });
          try {
            await directory.sync();
          } finally {
            directory.close();
          }
        }
      },
      unlink: (path) => deno.remove(path),
    };
  }
  return {
    async create(temp, path, data) {
      if (runtime === "bun" && !sync) await bunApi().write(temp, data, { createPath: false });
      else await nodeWrite(temp, data, sync);
      await fs.rename(temp, path);
      if (sync) await nodeSyncDir(dir);
    },
    unlink: (path) => fs.unlink(path),
  };
}

/** Runs `task(i)` for i in [0, count), `inFlight` at a time. */
async function forEachIndex(
  count: number,
  inFlight: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
}

async function probe(task: Task): Promise<TaskResult> {
  const ops = probeOps(task.runtime, task.dir, task.fsync);
  const inFlight = task.mode === "par8" ? CONCURRENCY : 1;
  const data = Array.from({ length: task.count }, (_, i) => payload(i));
  let start = performance.now();
  await forEachIndex(
    task.count,
    inFlight,
    (i) =>
      ops.create(join(task.dir, `.job-${i}.json.tmp`), join(task.dir, `job-${i}.json`), data[i]!),
  );
  const create = perSecond(task.count, performance.now() - start);
  start = performance.now();
  await forEachIndex(task.count, inFlight, (i) => ops.unlink(join(task.dir, `job-${i}.json`)));
  const unlink = perSecond(task.count, performance.now() - start);
  return { metrics: { create, unlink }, notes: [], errors: [] };
}

// ---------------------------------------------------------------------------
// jobq

type JobqModule = typeof Jobq;

/** `scheduleJobs`, where this version of jobq has it. */
type BulkScheduler = (specs: Jobq.JobSpec[]) => Promise<unknown[]>;

async function importJobq(task: Task): Promise<JobqModule> {
  return await import(task.jobqModule) as JobqModule;
}

/** Writes `count` job files due in a day, as jobq would, but without its bookkeeping. */
async function setup(task: Task): Promise<TaskResult> {
  const { Job } = await importJobq(task);
  await fs.mkdir(task.dir, { recursive: true });
  const start = performance.now();
  const due = Date.now() + DAY;
  for (let i = 0; i < task.count; i++) {
    const job = Job.fromSpec({ methodName: "future", params: { i }, executionDate: due + i });
    writeFileSync(join(task.dir, `${job.key}.json`), JSON.stringify(job));
  }
  return {
    metrics: { written: task.count, ms: performance.now() - start },
    notes: [],
    errors: [],
  };
}

interface JobqHarness {
  queue: Jobq.JobQueue;
  errors: string[];
  /**
   * How many of the backlog's jobs the queue holds, waiting: read after the
   * measurement, so that the figures are of a queue that had them all.
   */
  loaded(): Promise<number>;
}

function jobqQueue(jobq: JobqModule, task: Task, fsync: boolean): JobqHarness {
  const queue = new jobq.JobQueue({ directory: task.dir, fsync, maxConcurrency: CONCURRENCY });
  const errors: string[] = [];
  queue.on("error", (error) => {
    if (errors.length < 5) errors.push(error.message);
  });
  // Due in a day: never runs, but a handler keeps the queue from failing it.
  queue.registerJobHandler("future", () => {});
  const loaded = async () =>
    (await queue.getAllJobs()).filter((job) =>
      job.methodName === "future" && job.state === "NOT_STARTED"
    ).length;
  return { queue, errors, loaded };
}

function bulkSchedulerOf(queue: Jobq.JobQueue): { schedule?: BulkScheduler; note?: string } {
  const own = (queue as unknown as { scheduleJobs?: BulkScheduler }).scheduleJobs;
  if (typeof own === "function") return { schedule: (specs) => own.call(queue, specs) };
  const engine = queue.engine as unknown as { scheduleJobs?: BulkScheduler };
  if (typeof engine.scheduleJobs === "function") {
    return {
      schedule: (specs) => engine.scheduleJobs!.call(queue.engine, specs),
      note: "JobQueue has no scheduleJobs: measured through queue.engine.scheduleJobs",
    };
  }
  return { note: "this version of jobq has no scheduleJobs: bulk enqueue is n/a" };
}

async function jobqW1(task: Task): Promise<TaskResult> {
  const jobq = await importJobq(task);
  const { queue, errors, loaded } = jobqQueue(jobq, task, task.fsync);
  const notes: string[] = [];
  const metrics: Record<string, number | null> = {};
  const done = new Counter();
  queue.on("completed", (job) => {
    if (job.methodName === "noop") done.add();
  });
  queue.registerJobHandler("noop", () => {});
  // Loading first, so that with a backlog both phases run with it in memory;
  // start() then only starts processing.
  let start = performance.now();
  await queue.engine.load();
  metrics.loadMs = performance.now() - start;
  const specs: Jobq.JobSpec[] = Array.from(
    { length: task.count },
    (_, i) => ({ methodName: "noop", params: { i } }),
  );
  if (task.mode === "bulk") {
    const { schedule, note } = bulkSchedulerOf(queue);
    if (note !== undefined) notes.push(note);
    if (schedule === undefined) {
      metrics.enqueue = null;
    } else {
      start = performance.now();
      await schedule(specs);
      metrics.enqueue = perSecond(task.count, performance.now() - start);
    }
  } else {
    start = performance.now();
    for (const spec of specs) await queue.scheduleJob(spec);
    metrics.enqueue = perSecond(task.count, performance.now() - start);
  }
  if (task.process && metrics.enqueue !== null) {
    start = performance.now();
    await queue.start();
    await done.reach(task.count, 600_000, "completed jobs");
    metrics.process = perSecond(task.count, performance.now() - start);
  }
  if (task.backlog > 0) {
    metrics.loaded = await loaded();
    if (metrics.loaded !== task.backlog) {
      errors.push(`holds ${metrics.loaded} jobs of the ${task.backlog} written by the setup`);
    }
  }
  await queue.dispose();
  return { metrics, notes, errors };
}

/** Calls `send(i)` for i in [0, rate × seconds) at a steady rate, on a 1 ms timer. */
function atSteadyRate(rate: number, seconds: number, send: (i: number) => void): Promise<void> {
  const total = Math.round(rate * seconds);
  const start = performance.now();
  let sent = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (sent < due) send(sent++);
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
}

function latencyMetrics(latencies: readonly number[]): Record<string, number | null> {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? null,
  };
}

function latenessMetrics(lateness: readonly number[]): Record<string, number | null> {
  const sorted = [...lateness].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? null,
    early: sorted.filter((value) => value < 0).length,
  };
}

interface Stamp {
  i: number;
  t: number;
}

/** The latencies of the jobs sent after the warm-up, by send index. */
class LatencyLog {
  readonly #skip: number;
  /** How many jobs are measured: those sent after the warm-up. */
  readonly expected: number;
  readonly values: number[] = [];
  readonly done = new Counter();

  constructor(task: Task) {
    this.#skip = Math.round(task.rate * task.warmup);
    this.expected = Math.round(task.rate * task.seconds) - this.#skip;
  }

  record(stamp: Stamp): void {
    if (stamp.i < this.#skip) return;
    this.values.push(performance.now() - stamp.t);
    this.done.add();
  }
}

async function jobqW2(task: Task): Promise<TaskResult> {
  const jobq = await importJobq(task);
  const { queue, errors } = jobqQueue(jobq, task, false);
  const log = new LatencyLog(task);
  queue.registerJobHandler("latency", (stamp: Stamp) => log.record(stamp));
  await queue.start();
  await atSteadyRate(task.rate, task.seconds, (i) => {
    queue.scheduleJob({ methodName: "latency", params: { i, t: performance.now() } })
      .catch((error) => {
        if (errors.length < 5) errors.push(messageOf(error));
      });
  });
  await log.done.reach(log.expected, 60_000, "started jobs");
  await queue.dispose();
  return { metrics: latencyMetrics(log.values), notes: [], errors };
}

/** Delays spread evenly over [min, max], shuffled. */
function delays(task: Task): number[] {
  const values = Array.from(
    { length: task.count },
    (_, i) => Math.round(task.delayMin + ((task.delayMax - task.delayMin) * i) / (task.count - 1)),
  );
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [values[i], values[j]] = [values[j]!, values[i]!];
  }
  return values;
}

async function jobqW3(task: Task): Promise<TaskResult> {
  const jobq = await importJobq(task);
  const { queue, errors } = jobqQueue(jobq, task, false);
  const lateness: number[] = [];
  const done = new Counter();
  queue.registerJobHandler("delayed", (params: { due: number }) => {
    lateness.push(Date.now() - params.due);
    done.add();
  });
  await queue.start();
  for (const waitTime of delays(task)) {
    // jobq reads the clock after this line, so its due date is never earlier.
    const due = Date.now() + waitTime;
    await queue.scheduleJob({ methodName: "delayed", params: { due }, waitTime });
  }
  await done.reach(task.count, 60_000, "started jobs");
  await queue.dispose();
  return { metrics: latenessMetrics(lateness), notes: [], errors };
}

async function jobqW4(task: Task): Promise<TaskResult> {
  let start = performance.now();
  const jobq = await importJobq(task);
  const importMs = performance.now() - start;
  start = performance.now();
  const { queue, errors, loaded } = jobqQueue(jobq, task, false);
  let ran: Listener = () => {};
  const hasRun = new Promise<void>((resolve) => ran = resolve);
  queue.on("completed", (job) => {
    if (job.methodName === "probe") ran();
  });
  queue.registerJobHandler("probe", () => {});
  await queue.start();
  const startMs = performance.now() - start;
  await queue.scheduleJob({ methodName: "probe" });
  await hasRun;
  const startupMs = performance.now() - start;
  const memory = process.memoryUsage();
  const held = await loaded();
  if (held !== task.backlog) {
    errors.push(`holds ${held} jobs of the ${task.backlog} written by the setup`);
  }
  await queue.dispose();
  return {
    metrics: {
      startupMs,
      startMs,
      importMs,
      rssMB: memory.rss / 2 ** 20,
      heapMB: memory.heapUsed / 2 ** 20,
      loaded: held,
    },
    notes: [],
    errors,
  };
}

// ---------------------------------------------------------------------------
// Deno KV queues

interface DenoKvAtomic {
  enqueue(value: unknown, options?: { delay?: number }): DenoKvAtomic;
  commit(): Promise<{ ok: boolean }>;
}

interface DenoKv {
  enqueue(value: unknown, options?: { delay?: number }): Promise<{ ok: boolean }>;
  atomic(): DenoKvAtomic;
  listenQueue(handler: (value: unknown) => Promise<void> | void): Promise<void>;
  close(): void;
}

/** Deno KV's limit on mutations per atomic operation is 1,000. */
const KV_BATCH = 500;

async function denoKv(task: Task): Promise<TaskResult> {
  const kv = await denoApi().openKv(join(task.dir, "kv.sqlite3"));
  const metrics: Record<string, number | null> = {};
  const notes = [
    "concurrency is Deno's own (not configurable); messages are acknowledged " +
    "when the handler resolves",
  ];
  if (task.kind === "w1") {
    const done = new Counter();
    let start = performance.now();
    if (task.mode === "bulk") {
      for (let first = 0; first < task.count; first += KV_BATCH) {
        const atomic = kv.atomic();
        for (let i = first; i < Math.min(task.count, first + KV_BATCH); i++) {
          atomic.enqueue({ i });
        }
        if (!(await atomic.commit()).ok) throw new Error("an atomic enqueue failed");
      }
      notes.push(`bulk: atomic operations of ${KV_BATCH} enqueues`);
    } else {
      for (let i = 0; i < task.count; i++) await kv.enqueue({ i });
    }
    metrics.enqueue = perSecond(task.count, performance.now() - start);
    if (task.process) {
      start = performance.now();
      void kv.listenQueue(() => done.add());
      await done.reach(task.count, 600_000, "handled messages");
      metrics.process = perSecond(task.count, performance.now() - start);
    }
  } else if (task.kind === "w2") {
    const log = new LatencyLog(task);
    void kv.listenQueue((value) => log.record(value as Stamp));
    await atSteadyRate(task.rate, task.seconds, (i) => {
      kv.enqueue({ i, t: performance.now() }).catch(() => {});
    });
    await log.done.reach(log.expected, 60_000, "handled messages");
    Object.assign(metrics, latencyMetrics(log.values));
  } else if (task.kind === "w3") {
    const lateness: number[] = [];
    const done = new Counter();
    void kv.listenQueue((value) => {
      lateness.push(Date.now() - (value as { due: number }).due);
      done.add();
    });
    for (const delay of delays(task)) {
      const due = Date.now() + delay;
      await kv.enqueue({ due }, { delay });
    }
    await done.reach(task.count, 60_000, "handled messages");
    Object.assign(metrics, latenessMetrics(lateness));
  }
  kv.close();
  return { metrics, notes, errors: [] };
}

// ---------------------------------------------------------------------------
// plainjob on bun:sqlite

interface PlainjobJob {
  id: number;
  data: string;
}

interface PlainjobQueue {
  add(type: string, data: unknown, options?: { delay?: number }): { id: number };
  addMany(type: string, data: unknown[]): { ids: number[] };
  close(): void;
}

interface PlainjobWorker {
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface PlainjobModule {
  bun(database: unknown): { exec(statement: string): void };
  defineQueue(options: { connection: unknown; logger: unknown }): PlainjobQueue;
  defineWorker(
    type: string,
    processor: (job: PlainjobJob) => Promise<void> | void,
    options: { queue: PlainjobQueue; logger: unknown; onCompleted?: () => void },
  ): PlainjobWorker;
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };

async function plainjob(task: Task): Promise<TaskResult> {
  const sqliteSpecifier = "bun:sqlite";
  const sqlite = await import(sqliteSpecifier) as {
    Database: new (path: string, options: { strict: boolean }) => unknown;
  };
  const pj = await import(task.peerModule) as PlainjobModule;
  const connection = pj.bun(new sqlite.Database(join(task.dir, "plainjob.db"), { strict: true }));
  const queue = pj.defineQueue({ connection, logger: silent });
  const notes = ["SQLite in WAL mode, synchronous=NORMAL (plainjob's setting): no fsync per job"];
  if (task.fsync) {
    // plainjob sets synchronous=NORMAL; FULL syncs the WAL at every commit.
    connection.exec("PRAGMA synchronous = FULL;");
    notes[0] = "SQLite in WAL mode, synchronous=FULL: the WAL is synced at every commit";
  }
  const workers: PlainjobWorker[] = [];
  const startWorkers = (
    processor: (job: PlainjobJob) => void,
    onCompleted?: () => void,
  ) => {
    for (let n = 0; n < CONCURRENCY; n++) {
      const worker = pj.defineWorker("noop", processor, {
        queue,
        logger: silent,
        ...(onCompleted ? { onCompleted } : {}),
      });
      workers.push(worker);
      void worker.start();
    }
  };
  notes.push(
    `${CONCURRENCY} workers in one process (plainjob's unit of concurrency), ` +
      "each polling every 1,000 ms (the default) when it finds no job",
  );
  const metrics: Record<string, number | null> = {};
  if (task.kind === "w1") {
    let start = performance.now();
    if (task.mode === "bulk") {
      queue.addMany("noop", Array.from({ length: task.count }, (_, i) => ({ i })));
    } else {
      for (let i = 0; i < task.count; i++) queue.add("noop", { i });
    }
    metrics.enqueue = perSecond(task.count, performance.now() - start);
    if (task.process) {
      const done = new Counter();
      start = performance.now();
      startWorkers(() => {}, () => done.add());
      await done.reach(task.count, 600_000, "completed jobs");
      metrics.process = perSecond(task.count, performance.now() - start);
    }
  } else if (task.kind === "w2") {
    const log = new LatencyLog(task);
    startWorkers((job) => log.record(JSON.parse(job.data) as Stamp));
    await atSteadyRate(task.rate, task.seconds, (i) => {
      queue.add("noop", { i, t: performance.now() });
    });
    await log.done.reach(log.expected, 60_000, "started jobs");
    Object.assign(metrics, latencyMetrics(log.values));
  } else if (task.kind === "w3") {
    const lateness: number[] = [];
    const done = new Counter();
    startWorkers((job) => {
      lateness.push(Date.now() - (JSON.parse(job.data) as { due: number }).due);
      done.add();
    });
    for (const delay of delays(task)) {
      const due = Date.now() + delay;
      queue.add("noop", { due }, { delay });
    }
    await done.reach(task.count, 60_000, "started jobs");
    Object.assign(metrics, latenessMetrics(lateness));
  }
  await Promise.all(workers.map((worker) => worker.stop()));
  queue.close();
  return { metrics, notes, errors: [] };
}

// ---------------------------------------------------------------------------
// BullMQ on a local Redis

interface BullQueue {
  add(name: string, data: unknown, options?: Record<string, unknown>): Promise<unknown>;
  addBulk(
    jobs: { name: string; data: unknown; opts?: Record<string, unknown> }[],
  ): Promise<unknown>;
  obliterate(options: { force: boolean }): Promise<void>;
  close(): Promise<void>;
}

interface BullWorker {
  on(event: "completed", listener: () => void): void;
  run(): Promise<void>;
  close(): Promise<void>;
}

interface BullModule {
  Queue: new (name: string, options: Record<string, unknown>) => BullQueue;
  Worker: new (
    name: string,
    processor: () => Promise<void>,
    options: Record<string, unknown>,
  ) => BullWorker;
}

async function bullmq(task: Task): Promise<TaskResult> {
  const bull = await import(task.peerModule) as BullModule;
  const connection = { host: "127.0.0.1", port: 6379 };
  const name = `jobq-bench-${process.pid}-${Date.now()}`;
  const queue = new bull.Queue(name, { connection });
  const options = { removeOnComplete: true };
  const metrics: Record<string, number | null> = {};
  let start = performance.now();
  if (task.mode === "bulk") {
    for (let first = 0; first < task.count; first += 1000) {
      const last = Math.min(task.count, first + 1000);
      await queue.addBulk(
        Array.from({ length: last - first }, (_, k) => ({
          name: "noop",
          data: { i: first + k },
          opts: options,
        })),
      );
    }
  } else {
    for (let i = 0; i < task.count; i++) await queue.add("noop", { i }, options);
  }
  metrics.enqueue = perSecond(task.count, performance.now() - start);
  if (task.process) {
    const done = new Counter();
    const worker = new bull.Worker(name, () => Promise.resolve(), {
      connection,
      concurrency: CONCURRENCY,
      autorun: false,
    });
    worker.on("completed", () => done.add());
    start = performance.now();
    void worker.run();
    await done.reach(task.count, 600_000, "completed jobs");
    metrics.process = perSecond(task.count, performance.now() - start);
    await worker.close();
  }
  await queue.obliterate({ force: true });
  await queue.close();
  return { metrics, notes: ["Redis on 127.0.0.1:6379, removeOnComplete"], errors: [] };
}

// ---------------------------------------------------------------------------
// Queues on PostgreSQL: jobq's PostgresJobStore, pg-boss, graphile-worker.
// Each measurement gets a fresh schema, made by the system's own migration
// and dropped at its end; the measurement's own connection (left out of the
// connection count) inserts the backlog and counts the connections.

/** The params of a job of the PostgreSQL measurements; `t` is W2's stamp. */
interface Payload {
  i: number;
  t?: number;
}

/** What the PostgreSQL measurements do with each system, through its own API. */
interface PostgresQueue {
  /** Creates the schema's tables, with the system's own migration. */
  prepare(): Promise<void>;
  /** Statements that insert `$1` waiting jobs due in a day into the schema, and the tables to ANALYZE then. */
  backlog: { statements: string[]; tables: string[] };
  enqueue(payload: Payload): Promise<void>;
  enqueueMany(payloads: Payload[]): Promise<void>;
  /**
   * Starts handling jobs, 8 at a time: `started` when a handler starts,
   * `completed` when the system has recorded its outcome.
   */
  process(started: (payload: Payload) => void, completed: () => void): Promise<void>;
  /** Stops processing and closes the system's connections. */
  close(): Promise<void>;
  notes: string[];
  errors: string[];
}

/** A connection of the measurement's own. */
interface SqlConnection {
  query(statement: string, parameters?: unknown[]): Promise<unknown[][]>;
  end(): Promise<void>;
}

/** postgres.js (jobq's client) or `pg` (the peers'), from a URL whose `host` parameter may name a socket directory. */
async function sqlConnection(task: Task): Promise<SqlConnection> {
  if (task.system === "jobq-postgres") {
    const specifier = "postgres";
    const { default: postgres } = await import(specifier) as {
      default: (url: string, options: Record<string, unknown>) => {
        unsafe(query: string, parameters?: unknown[]): { values(): Promise<unknown[][]> };
        end(): Promise<void>;
      };
    };
    const url = new URL(task.postgresUrl);
    const host = url.searchParams.get("host");
    url.searchParams.delete("host");
    const sql = postgres(url.href, {
      max: 1,
      onnotice: () => {},
      ...(host === null ? {} : { host }),
    });
    return {
      query: (statement, parameters = []) => sql.unsafe(statement, parameters).values(),
      end: () => sql.end(),
    };
  }
  const pg = await importPg(task);
  const client = new pg.Client({ connectionString: task.postgresUrl });
  await client.connect();
  return {
    query: async (statement, parameters = []) =>
      (await client.query({ text: statement, values: parameters, rowMode: "array" })).rows,
    end: () => client.end(),
  };
}

interface PgModule {
  Client: new (options: { connectionString: string }) => {
    connect(): Promise<void>;
    query(query: { text: string; values: unknown[]; rowMode: "array" }): Promise<{
      rows: unknown[][];
    }>;
    end(): Promise<void>;
  };
  Pool: new (options: { connectionString: string; max: number }) => {
    end(): Promise<void>;
  };
}

/** `pg`, which both peers use, installed beside them in `.bench/node_modules`. */
async function importPg(task: Task): Promise<PgModule> {
  const module = await import(new URL("../../pg/lib/index.js", task.peerModule).href);
  return (module.default ?? module) as PgModule;
}

/** A CommonJS peer's exports, as `import()` gives them in any runtime. */
async function importPeer<T>(task: Task): Promise<T> {
  const module = await import(task.peerModule);
  return (module.default ?? module) as T;
}

const DAY_SQL = "interval '1 day'";

async function jobqPostgresQueue(task: Task): Promise<PostgresQueue> {
  const jobq = await importJobq(task);
  const { PostgresJobStore } = await import(
    new URL("./src/store/postgres/mod.ts", task.jobqModule).href
  ) as typeof import("../src/store/postgres/mod.ts");
  const queue = new jobq.JobQueue({
    store: new PostgresJobStore({ url: task.postgresUrl, schema: task.schema }),
    maxConcurrency: CONCURRENCY,
  });
  const errors: string[] = [];
  queue.on("error", (error) => {
    if (errors.length < 5) errors.push(error.message);
  });
  let started: (payload: Payload) => void = () => {};
  queue.registerJobHandler("noop", (payload: Payload) => started(payload));
  const s = `"${task.schema}"`;
  return {
    prepare: () => queue.engine.load(),
    backlog: {
      // Ids as jobq makes them: the execution date, then a creation stamp.
      statements: [
        `INSERT INTO ${s}.jobs (id, method_name, state, execution_date, created_at, params)
        SELECT to_char(to_timestamp(due / 1000.0) AT TIME ZONE 'UTC',
            'YYYY-MM-DD"T"HH24-MI-SS-MS"Z"') || '-' || lpad(to_hex(g), 13, '0') || '-00000000',
          'noop', 'NOT_STARTED', due, due - 86400000, json_build_object('i', g)
        FROM (SELECT g, floor(extract(epoch FROM now() + ${DAY_SQL}) * 1000)::bigint + g AS due
          FROM generate_series(1, $1::integer) g) jobs`,
      ],
      tables: [`${s}.jobs`],
    },
    enqueue: async (params) => {
      await queue.scheduleJob({ methodName: "noop", params });
    },
    enqueueMany: async (payloads) => {
      await queue.scheduleJobs(payloads.map((params) => ({ methodName: "noop", params })));
    },
    process: async (onStarted, completed) => {
      started = onStarted;
      queue.on("completed", completed);
      await queue.start();
    },
    close: () => queue.dispose(),
    notes: ["PostgresJobStore's defaults: at most 4 connections for queries, and 1 for LISTEN"],
    errors,
  };
}

interface PgBossJob {
  data: Payload;
}

interface PgBoss {
  on(event: "error", listener: (error: Error) => void): void;
  start(): Promise<unknown>;
  createQueue(name: string): Promise<void>;
  send(name: string, data: unknown): Promise<string | null>;
  insert(jobs: { name: string; data: unknown }[]): Promise<unknown>;
  work(
    name: string,
    options: Record<string, unknown>,
    handler: (jobs: PgBossJob[]) => Promise<void>,
  ): Promise<string>;
  notifyWorker(id: string): void;
  stop(options: Record<string, unknown>): Promise<void>;
}

async function pgBossQueue(task: Task): Promise<PostgresQueue> {
  const PgBoss = await importPeer<new (options: Record<string, unknown>) => PgBoss>(task);
  const boss = new PgBoss({ connectionString: task.postgresUrl, schema: task.schema });
  const errors: string[] = [];
  boss.on("error", (error) => {
    if (errors.length < 5) errors.push(error.message);
  });
  const s = `"${task.schema}"`;
  return {
    prepare: async () => {
      await boss.start();
      await boss.createQueue("noop");
    },
    backlog: {
      statements: [`INSERT INTO ${s}.job (name, data, start_after)
        SELECT 'noop', jsonb_build_object('i', g), now() + ${DAY_SQL}
        FROM generate_series(1, $1::integer) g`],
      tables: [`${s}.job`],
    },
    enqueue: async (payload) => {
      await boss.send("noop", payload);
    },
    enqueueMany: async (payloads) => {
      await boss.insert(payloads.map((data) => ({ name: "noop", data })));
    },
    process: async (started, completed) => {
      for (let n = 0; n < CONCURRENCY; n++) {
        let id = "";
        id = await boss.work(
          "noop",
          { batchSize: 1, pollingIntervalSeconds: 0.5 },
          ([job]) => {
            started(job!.data);
            // Fetch again at once after a job, not after the polling interval.
            boss.notifyWorker(id);
            completed();
            return Promise.resolve();
          },
        );
      }
    },
    close: () => boss.stop({ graceful: false, wait: true, timeout: 5000 }),
    notes: [
      `${CONCURRENCY} workers (work()) of batchSize 1, each notified (notifyWorker) to fetch ` +
      "again at once after a job, else polling every 500 ms (pg-boss's least); no LISTEN. " +
      "A job counts as completed when its handler returns: pg-boss then records it " +
      "without awaiting it. Pool of 10 connections (its default)",
    ],
    errors,
  };
}

interface GraphileRunner {
  events: { on(event: "job:success", listener: () => void): void };
  stop(): Promise<void>;
}

interface GraphileWorkerUtils {
  migrate(): Promise<void>;
  addJob(identifier: string, payload: unknown): Promise<unknown>;
  addJobs(specs: { identifier: string; payload: unknown }[]): Promise<unknown>;
  release(): Promise<void>;
}

interface GraphileModule {
  run(options: Record<string, unknown>): Promise<GraphileRunner>;
  makeWorkerUtils(options: Record<string, unknown>): Promise<GraphileWorkerUtils>;
  Logger: new (factory: () => () => void) => unknown;
}

async function graphileQueue(task: Task): Promise<PostgresQueue> {
  const graphile = await importPeer<GraphileModule>(task);
  const pg = await importPg(task);
  // One pool for enqueueing and processing, of graphile-worker's default size.
  const pgPool = new pg.Pool({ connectionString: task.postgresUrl, max: 10 });
  const common = {
    pgPool,
    schema: task.schema,
    logger: new graphile.Logger(() => () => {}),
  };
  let utils: GraphileWorkerUtils | undefined;
  let runner: GraphileRunner | undefined;
  const s = `"${task.schema}"`;
  return {
    prepare: async () => {
      utils = await graphile.makeWorkerUtils(common);
      await utils.migrate();
    },
    backlog: {
      statements: [
        `INSERT INTO ${s}._private_tasks (identifier) VALUES ('noop') ON CONFLICT DO NOTHING`,
        `INSERT INTO ${s}._private_jobs (task_id, payload, run_at)
          SELECT t.id, json_build_object('i', g), now() + ${DAY_SQL}
          FROM generate_series(1, $1::integer) g, ${s}._private_tasks t
          WHERE t.identifier = 'noop'`,
      ],
      tables: [`${s}._private_jobs`, `${s}._private_tasks`],
    },
    enqueue: async (payload) => {
      await utils!.addJob("noop", payload);
    },
    enqueueMany: async (payloads) => {
      await utils!.addJobs(payloads.map((payload) => ({ identifier: "noop", payload })));
    },
    process: async (started, completed) => {
      runner = await graphile.run({
        ...common,
        concurrency: CONCURRENCY,
        noHandleSignals: true,
        taskList: { noop: (payload: Payload) => started(payload) },
      });
      runner.events.on("job:success", completed);
    },
    close: async () => {
      await runner?.stop();
      await utils?.release();
      await pgPool.end();
    },
    notes: [
      `concurrency ${CONCURRENCY}, LISTEN for new jobs, polling every 2 s (its default); ` +
      "one pg pool of 10 connections (its default size) for enqueueing and processing",
    ],
    errors: [],
  };
}

/** Connections to the measurement's database but the measurement's own. */
async function connectionCount(connection: SqlConnection): Promise<number> {
  const [[count]] = await connection.query(
    `SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND backend_type = 'client backend'
      AND pid <> pg_backend_pid()`,
  ) as [[unknown]];
  return Number(count);
}

/**
 * Writes every changed page to the disk now, so that no checkpoint does it
 * during a measurement (a note says so when the server's user may not).
 */
async function checkpoint(connection: SqlConnection, notes: string[]): Promise<void> {
  try {
    await connection.query("CHECKPOINT");
  } catch (error) {
    const note = `no CHECKPOINT before the measurements: ${messageOf(error)}`;
    if (!notes.includes(note)) notes.push(note);
  }
}

/** W1 (with a backlog: W5) and W2 on PostgreSQL, for any of the three systems. */
async function postgresTask(task: Task): Promise<TaskResult> {
  const connection = await sqlConnection(task);
  const queue = task.system === "jobq-postgres"
    ? await jobqPostgresQueue(task)
    : task.system === "pgboss"
    ? await pgBossQueue(task)
    : await graphileQueue(task);
  const metrics: Record<string, number | null> = {};
  try {
    const [[version, fsync, synchronousCommit]] = await connection.query(
      "SELECT current_setting('server_version'), current_setting('fsync'), " +
        "current_setting('synchronous_commit')",
    ) as [[string, string, string]];
    queue.notes.push(
      `PostgreSQL ${version}, fsync ${fsync}, synchronous_commit ${synchronousCommit}`,
    );
    // Not during this measurement: a checkpoint that an earlier one's writes started.
    await checkpoint(connection, queue.notes);
    await queue.prepare();
    if (task.backlog > 0) {
      const start = performance.now();
      for (const statement of queue.backlog.statements) {
        await connection.query(statement, statement.includes("$1") ? [task.backlog] : []);
      }
      // VACUUM too: autovacuum would otherwise visit the new rows during the
      // measurement, as it does soon after any large insert.
      for (const table of queue.backlog.tables) {
        await connection.query(`VACUUM ANALYZE ${table}`);
      }
      // And a checkpoint: the backlog wrote about 540 MB of WAL, which starts
      // one on its own (max_wal_size is 1 GB); it then wrote the backlog's
      // pages to the disk for 15-25 s, during the measurement.
      await checkpoint(connection, queue.notes);
      metrics.backlogMs = performance.now() - start;
    }
    if (task.kind === "w1") {
      const payloads = Array.from({ length: task.count }, (_, i) => ({ i }));
      let start = performance.now();
      if (task.mode === "bulk") await queue.enqueueMany(payloads);
      else for (const payload of payloads) await queue.enqueue(payload);
      metrics.enqueue = perSecond(task.count, performance.now() - start);
      if (task.process) {
        const done = new Counter();
        start = performance.now();
        await queue.process(() => {}, () => done.add());
        await done.reach(task.count, 600_000, "completed jobs");
        metrics.process = perSecond(task.count, performance.now() - start);
        metrics.connections = await connectionCount(connection);
      }
    } else {
      const log = new LatencyLog(task);
      await queue.process((payload) => log.record(payload as Stamp), () => {});
      await atSteadyRate(task.rate, task.seconds, (i) => {
        queue.enqueue({ i, t: performance.now() }).catch((error) => {
          if (queue.errors.length < 5) queue.errors.push(messageOf(error));
        });
      });
      await log.done.reach(log.expected, 60_000, "started jobs");
      metrics.connections = await connectionCount(connection);
      Object.assign(metrics, latencyMetrics(log.values));
    }
  } finally {
    await queue.close();
    await connection.query(`DROP SCHEMA IF EXISTS "${task.schema}" CASCADE`);
    await connection.end();
  }
  return { metrics, notes: queue.notes, errors: queue.errors };
}

// ---------------------------------------------------------------------------

/** Runs one task. */
export function runTask(task: Task): Promise<TaskResult> {
  switch (task.system) {
    case "probe":
      return probe(task);
    case "denokv":
      return denoKv(task);
    case "plainjob":
      return plainjob(task);
    case "bullmq":
      return bullmq(task);
    case "jobq-postgres":
    case "pgboss":
    case "graphile":
      return postgresTask(task);
    case "jobq":
      switch (task.kind) {
        case "setup":
          return setup(task);
        case "w1":
          return jobqW1(task);
        case "w2":
          return jobqW2(task);
        case "w3":
          return jobqW3(task);
        case "w4":
          return jobqW4(task);
      }
  }
  return Promise.reject(new Error(`no such task: ${task.system} ${task.kind}`));
}

async function main(): Promise<void> {
  let result: TaskResult;
  let code = 0;
  try {
    result = await runTask(JSON.parse(process.argv[2] ?? "") as Task);
  } catch (error) {
    result = { metrics: {}, notes: [], errors: [messageOf(error)] };
    code = 1;
  }
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`, () => process.exit(code));
}

if (process.argv[1]?.includes("_bench_worker")) await main();
