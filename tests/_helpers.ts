/**
 * Shared test helpers. Tests import jobq only through `../mod.ts`: under Node
 * they run compiled, against the npm build.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  type Job,
  JobQueue,
  type JobQueueEventName,
  type JobQueueOptions,
  type JobQueuePayloadMap,
  type JobSpec,
} from "../mod.ts";
import { type Place, storeOptions, withPlace } from "./_store.ts";

/** The runtime running the tests. */
export const runtime: "deno" | "bun" | "node" = "Deno" in globalThis
  ? "deno"
  : "Bun" in globalThis
  ? "bun"
  : "node";

/** A promise with its resolve function outside (Node 20 lacks `Promise.withResolvers`). */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
}

/** Creates a {@linkcode Deferred}. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => resolve = settle);
  return { promise, resolve };
}

/**
 * Runs `body` with one more queue on `place` (a directory, or a schema: see
 * `_store.ts`), disposed afterwards. Without fsync unless `options` asks for
 * it: durability is rarely the point.
 */
export async function withQueueOn(
  place: Place,
  options: Omit<JobQueueOptions, "directory" | "store">,
  body: (queue: JobQueue) => Promise<void>,
): Promise<void> {
  const queue = new JobQueue({ ...storeOptions(place), ...options });
  try {
    await body(queue);
  } finally {
    await queue.dispose();
  }
}

/** Runs `body` with a queue on a fresh place, as {@linkcode withQueueOn}. */
export function withQueue(
  options: Omit<JobQueueOptions, "directory" | "store">,
  body: (queue: JobQueue, place: Place) => Promise<void>,
): Promise<void> {
  return withPlace((place) => withQueueOn(place, options, (queue) => body(queue, place)));
}

/** Every payload of the `type` events of `queue` from now on. */
export function recordEvents<K extends JobQueueEventName>(
  queue: JobQueue,
  type: K,
): JobQueuePayloadMap[K][] {
  const payloads: JobQueuePayloadMap[K][] = [];
  queue.on(type, (payload) => payloads.push(payload));
  return payloads;
}

/**
 * Resolves with the job once it completes or fails for good, in any of
 * `queues`; rejects after `timeout` ms so that a broken test fails instead of
 * hanging.
 */
export function outcomeOf(
  queues: JobQueue | JobQueue[],
  id: string,
  timeout = 20_000,
): Promise<Job> {
  return new Promise((resolve, reject) => {
    const unsubscribe: (() => void)[] = [];
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      for (const off of unsubscribe) off();
      settle();
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`Job ${id} neither completed nor failed in time`))),
      timeout,
    );
    for (const queue of [queues].flat()) {
      for (const type of ["completed", "failed"] as const) {
        unsubscribe.push(queue.on(type, (job) => {
          if (job.id === id) finish(() => resolve(job));
        }));
      }
    }
  });
}

/** Schedules a job on a queue that has not started, starts it, and waits for its outcome. */
export async function runToEnd(queue: JobQueue, spec: JobSpec): Promise<Job> {
  const job = await queue.scheduleJob(spec);
  const outcome = outcomeOf(queue, job.id);
  await queue.start();
  return await outcome;
}

/**
 * Whether `promise` is still pending after a few turns of the event loop:
 * raced against an already resolved marker, which wins only if `promise`
 * has not settled by then.
 */
export async function isPending(promise: Promise<unknown>): Promise<boolean> {
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setTimeout(resolve, 0));
  const marker = Symbol("pending");
  return await Promise.race([promise, Promise.resolve(marker)]) === marker;
}

/** A job that holds a slot of its queue until released. */
export interface Blocker {
  readonly job: Job;
  release(): void;
}

/**
 * Starts `queue` (if it is not yet) with a "block" job that holds one slot
 * until `release()`, and resolves once that job runs.
 */
export async function startBlocker(queue: JobQueue): Promise<Blocker> {
  const gate = deferred<void>();
  queue.registerJobHandler("block", () => gate.promise);
  const started = nextEvent(queue, "started", (job) => job.methodName === "block");
  const job = await queue.scheduleJob({ methodName: "block" });
  await queue.start();
  await started;
  return { job, release: () => gate.resolve() };
}

/** Runs `test` with a fresh temporary directory, removed afterwards. */
export async function withTempDir<T>(test: (directory: string) => Promise<T>): Promise<T> {
  const directory = await mkdtemp(join(tmpdir(), "jobq-test-"));
  try {
    return await test(directory);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/**
 * Resolves with the payload of the next `type` event of `queue` for which
 * `predicate` holds; rejects after `timeout` ms so that a broken test fails
 * instead of hanging.
 */
export function nextEvent<K extends JobQueueEventName>(
  queue: JobQueue,
  type: K,
  predicate: (payload: JobQueuePayloadMap[K]) => boolean = () => true,
  timeout = 10_000,
): Promise<JobQueuePayloadMap[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`No '${type}' event within ${timeout} ms`));
    }, timeout);
    const off = queue.on(type, (payload) => {
      if (!predicate(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

/**
 * Resolves with the payloads of the next `count` `type` events of `queue`;
 * rejects after `timeout` ms.
 */
export function collectEvents<K extends JobQueueEventName>(
  queue: JobQueue,
  type: K,
  count: number,
  timeout = 10_000,
): Promise<JobQueuePayloadMap[K][]> {
  const payloads: JobQueuePayloadMap[K][] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(
        new Error(`Only ${payloads.length} of ${count} '${type}' events within ${timeout} ms`),
      );
    }, timeout);
    const off = queue.on(type, (payload) => {
      payloads.push(payload);
      if (payloads.length < count) return;
      clearTimeout(timer);
      off();
      resolve(payloads);
    });
  });
}

/** A script running in a child process, with its output. */
export interface Fixture {
  readonly child: ChildProcess;
  /** Everything the child printed on stdout so far. */
  readonly stdout: () => string;
  /** Everything the child printed on stderr so far. */
  readonly stderr: () => string;
  /** Resolves once stdout contains `text`; rejects if the child exits first or after `timeout` ms. */
  waitForOutput(text: string, timeout?: number): Promise<void>;
  /** Resolves with the exit code and signal once the child has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The extension of runnable scripts here: `.js` under Node (compiled), `.ts` elsewhere. */
export const scriptExtension: ".js" | ".ts" = import.meta.url.endsWith(".js") ? ".js" : ".ts";

/**
 * Starts `tests/fixtures/<name>` in a new process of the runtime running the
 * tests (the compiled `.js` under Node, the `.ts` source under Deno and Bun).
 */
export function spawnFixture(name: string, args: string[] = []): Fixture {
  return spawnScript(
    fileURLToPath(new URL(`./fixtures/${name}${scriptExtension}`, import.meta.url)),
    args,
  );
}

/** Where and how {@linkcode spawnScript} starts a script. */
export interface SpawnOptions {
  cwd?: string;
  /** Variables set for the script, beside those of this process. */
  env?: Record<string, string>;
  /** Another runtime to run it with, from npm (`npx -y deno@2`, `npx -y bun@1`). */
  using?: "deno" | "bun";
}

const otherRuntimes = new Map<string, string>();

/**
 * The executable of another runtime, from npm: asked of `npx` once, so that
 * the script runs as its child, and signals reach it (npx passes none on).
 */
function otherRuntimePath(using: "deno" | "bun"): string {
  let path = otherRuntimes.get(using);
  if (path === undefined) {
    const args = using === "deno"
      ? ["-y", "deno@2", "eval", "console.log(Deno.execPath())"]
      : ["-y", "bun@1", "-e", "console.log(process.execPath)"];
    path = execFileSync("npx", args, { encoding: "utf8" }).trim();
    otherRuntimes.set(using, path);
  }
  return path;
}

/**
 * Starts the script at `path` in a new process of the runtime running the
 * tests, or of `options.using`.
 */
export function spawnScript(
  path: string,
  args: string[] = [],
  options: SpawnOptions = {},
): Fixture {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const using = options.using ?? runtime;
  const runArgs = using === "deno" ? ["run", "-A", path, ...args] : [path, ...args];
  const command = using === runtime ? process.execPath : otherRuntimePath(using as "deno" | "bun");
  const commandArgs = runArgs;
  const child = spawn(command, commandArgs, {
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
  });
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    for (const listener of listeners) listener();
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve) => child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForOutput(text, timeout = 20_000) {
      return new Promise<void>((resolve, reject) => {
        const done = (error?: Error) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve();
        };
        const check = () => {
          if (stdout.includes(text)) done();
        };
        const timer = setTimeout(
          () =>
            done(new Error(`No '${text}' from ${name} within ${timeout} ms; stderr: ${stderr}`)),
          timeout,
        );
        listeners.add(check);
        exited.then(({ code, signal }) => {
          if (!stdout.includes(text)) {
            done(
              new Error(`${name} exited (${code ?? signal}) before '${text}'; stderr: ${stderr}`),
            );
          }
        });
        check();
      });
    },
  };
}
