/**
 * Promises of the contract that other tests leave open: timer-driven starts
 * without rescans, shutdown, defaults, misuse, atomic writes of every job
 * file, and what the package may depend on.
 */
import assert from "node:assert/strict";
import { access, readdir, readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import {
  type Job,
  type JobHandler,
  JobQueue,
  JobQueueEngine,
  JobQueueError,
  JobState,
  NodeFileSystem,
} from "../mod.ts";
import { FaultyFileSystem } from "./_faulty_fs.ts";
import { collectEvents, deferred, nextEvent, runtime, withTempDir } from "./_helpers.ts";
import { delay, readJobFile, scheduleWork, withDeadline } from "./_process_helpers.ts";

/** What a concurrency check needs of a queue or an engine. */
interface Runner {
  registerJobHandler(methodName: string, handler: JobHandler): void;
  scheduleJob(spec: { methodName: string }): Promise<Job>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

function engineRunner(engine: JobQueueEngine): Runner {
  return {
    registerJobHandler: (methodName, handler) => engine.registerJobHandler(methodName, handler),
    scheduleJob: (spec) => engine.scheduleJob(spec),
    start: () => engine.startNextJob(),
    dispose: () => engine.dispose(),
  };
}

/**
 * Schedules `count` immediate jobs whose handlers block until released, and
 * tells how many ran at once: once `expected` handlers are running, a
 * bounded wait gives any extra start the time to happen, then all are
 * released and run to the end.
 */
async function handlersAtOnce(
  runner: Runner,
  count: number,
  expected: number,
): Promise<{ whileBlocked: number; peak: number }> {
  let running = 0;
  let peak = 0;
  let finished = 0;
  const reached = deferred<void>();
  const allFinished = deferred<void>();
  const release = deferred<void>();
  runner.registerJobHandler("block", async () => {
    running++;
    peak = Math.max(peak, running);
    if (running === expected) reached.resolve();
    await release.promise;
    running--;
    if (++finished === count) allFinished.resolve();
  });
  try {
    for (let n = 0; n < count; n++) await runner.scheduleJob({ methodName: "block" });
    await runner.start();
    await withDeadline(reached.promise, 10_000, `${expected} handlers running at once`);
    // Bounded: starting a job takes a claim file and a write, far less than
    // this; a runner ignoring its limit would have started more by now.
    await delay(300);
    const whileBlocked = running;
    release.resolve();
    await withDeadline(allFinished.promise, 10_000, "every handler finishing");
    return { whileBlocked, peak };
  } finally {
    release.resolve();
    await runner.dispose();
  }
}

/** Calls `call` and checks that it returns a promise that rejects with `errorClass`, without throwing. */
async function assertRejectsAsync(
  call: () => Promise<unknown>,
  errorClass: new (...args: never[]) => Error,
  what: string,
): Promise<void> {
  let result: unknown;
  try {
    result = call();
  } catch (error) {
    assert.fail(`${what} threw synchronously instead of returning a rejected promise: ${error}`);
  }
  assert.ok(result instanceof Promise, `${what} did not return a promise`);
  await assert.rejects(result, errorClass, what);
}

/** The entries of `directory` other than jobq's own folder. */
async function entriesBesideJobq(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => name !== ".jobq");
}

async function exists(path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false);
}

/** The repository root: the nearest directory above this file with a `deno.json`. */
async function repositoryRoot(): Promise<string> {
  let directory = dirname(fileURLToPath(import.meta.url));
  while (!await exists(join(directory, "deno.json"))) {
    const parent = dirname(directory);
    assert.notEqual(parent, directory, "no deno.json above the test file");
    directory = parent;
  }
  return directory;
}

/**
 * The code of each TypeScript file under the repository's `src/`, comments
 * stripped, by its path there (`job/repeat.ts`).
 */
async function sourceFiles(): Promise<Map<string, string>> {
  const src = join(await repositoryRoot(), "src");
  const names = (await readdir(src, { recursive: true })).filter((name) => name.endsWith(".ts"));
  assert.ok(names.length > 0, `no source files in ${src}`);
  const files = new Map<string, string>();
  for (const name of names.sort()) {
    const text = await readFile(join(src, name), "utf8");
    // Comments hold examples that use Deno and jobq's published name.
    files.set(name, text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:\\])\/\/.*$/gm, "$1"));
  }
  return files;
}

/** The module specifiers a source file imports or re-exports. */
function specifiersOf(code: string): string[] {
  return [...code.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*["']([^"']+)["']/g)].map((match) =>
    match[1]!
  );
}

describe("gaps", () => {
  test("a deferred job starts when due, driven by its timer, not by a poll", {
    timeout: 5_000,
  }, async () => {
    await withTempDir(async (directory) => {
      const queue = new JobQueue({ directory, fsync: false, pollInterval: 60_000 });
      try {
        queue.registerJobHandler("later", () => {});
        await queue.start();
        const completed = nextEvent(queue, "completed");
        const job = await queue.scheduleJob({ methodName: "later", waitTime: 150 });
        const done = await completed;
        assert.equal(done.id, job.id);
        assert.ok(done.startedAt! >= job.executionDate, "the job started before it was due");
      } finally {
        await queue.dispose();
      }
    });
  });

  test("running deferred jobs does not list the directory again for each job", {
    timeout: 15_000,
  }, async () => {
    await withTempDir(async (directory) => {
      const fs = new FaultyFileSystem();
      const queue = new JobQueue({ directory, fs, fsync: false, pollInterval: 60_000 });
      const listings = () => fs.callsOf("readDir").filter((call) => call.path === directory).length;
      try {
        queue.registerJobHandler("later", () => {});
        await queue.start();
        const afterStart = listings();
        const completed = collectEvents(queue, "completed", 20);
        // Due from 50 to 500 ms after start, each at its own time.
        for (let n = 0; n < 20; n++) {
          await queue.scheduleJob({ methodName: "later", waitTime: 50 + Math.round(n * 450 / 19) });
        }
        assert.equal((await completed).length, 20);
        assert.equal(listings(), afterStart);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("dispose() stops starting jobs at once, even while one runs", async () => {
    await withTempDir(async (directory) => {
      const queue = new JobQueue({ directory, fsync: false, maxConcurrency: 1 });
      const release = deferred<void>();
      const started: string[] = [];
      queue.on("started", (job) => started.push(job.id));
      queue.registerJobHandler("block", () => release.promise);
      queue.registerJobHandler("next", () => {});
      let disposed: Promise<void> | undefined;
      try {
        const running = nextEvent(queue, "started");
        const first = await queue.scheduleJob({ methodName: "block" });
        const second = await queue.scheduleJob({ methodName: "next" });
        await queue.start();
        assert.equal((await running).id, first.id);
        disposed = queue.dispose();
        release.resolve();
        await disposed;
        assert.deepEqual(started, [first.id]);
        assert.equal((await readJobFile(directory, second)).state, JobState.NOT_STARTED);
      } finally {
        release.resolve();
        await (disposed ?? queue.dispose());
      }
    });
  });

  describe("maxConcurrency", () => {
    test("a JobQueue runs one handler at a time by default", { timeout: 30_000 }, async () => {
      await withTempDir(async (directory) => {
        const queue = new JobQueue({ directory, fsync: false });
        assert.deepEqual(await handlersAtOnce(queue, 3, 1), { whileBlocked: 1, peak: 1 });
      });
    });

    test("a JobQueueEngine runs one handler at a time by default", {
      timeout: 30_000,
    }, async () => {
      await withTempDir(async (directory) => {
        const engine = new JobQueueEngine({ directory, fsync: false });
        assert.deepEqual(
          await handlersAtOnce(engineRunner(engine), 3, 1),
          { whileBlocked: 1, peak: 1 },
        );
      });
    });

    test("Infinity runs every due job at once", { timeout: 30_000 }, async () => {
      await withTempDir(async (directory) => {
        const queue = new JobQueue({ directory, fsync: false, maxConcurrency: Infinity });
        assert.deepEqual(await handlersAtOnce(queue, 5, 5), { whileBlocked: 5, peak: 5 });
      });
    });

    test("a string is refused with a RangeError by the queue and the engine", () => {
      // Constructors validate before touching the disk: no directory is needed.
      const directory = "never-created";
      const maxConcurrency = "2" as unknown as number;
      assert.throws(() => new JobQueue({ directory, maxConcurrency }), RangeError);
      assert.throws(() => new JobQueueEngine({ directory, maxConcurrency }), RangeError);
    });
  });

  test("scheduleJob() rejects a bad spec without throwing, and writes nothing", async () => {
    await withTempDir(async (directory) => {
      const queue = new JobQueue({ directory, fsync: false });
      const engine = new JobQueueEngine({ directory, fsync: false });
      try {
        const specs = [
          { methodName: "../x" },
          { methodName: "x", params: { n: 1n } },
          { methodName: "x", waittime: 5 },
        ];
        for (const spec of specs) {
          const what = `scheduleJob(${String(spec.methodName)}, ${Object.keys(spec)})`;
          // deno-lint-ignore no-explicit-any -- the specs are wrong on purpose
          await assertRejectsAsync(() => queue.scheduleJob(spec as any), TypeError, what);
          // deno-lint-ignore no-explicit-any -- the specs are wrong on purpose
          await assertRejectsAsync(() => engine.scheduleJob(spec as any), TypeError, what);
        }
        await assertRejectsAsync(
          () => queue.removeJobsByMethodName("../x"),
          TypeError,
          "removeJobsByMethodName('../x')",
        );
        assert.deepEqual(await entriesBesideJobq(directory), []);
      } finally {
        await queue.dispose();
        await engine.dispose();
      }
    });
  });

  describe("after dispose()", () => {
    /** Runs `body` with an engine that was started and disposed. */
    async function withDisposedEngine(
      body: (engine: JobQueueEngine) => Promise<void>,
    ): Promise<void> {
      await withTempDir(async (directory) => {
        const engine = new JobQueueEngine({ directory, fsync: false });
        await engine.startNextJob();
        await engine.dispose();
        await body(engine);
      });
    }

    /** Runs `body` with a queue that was started and disposed. */
    async function withDisposedQueue(body: (queue: JobQueue) => Promise<void>): Promise<void> {
      await withTempDir(async (directory) => {
        const queue = new JobQueue({ directory, fsync: false });
        await queue.start();
        await queue.dispose();
        await body(queue);
      });
    }

    const engineCalls: [string, (engine: JobQueueEngine) => Promise<unknown>][] = [
      ["load()", (engine) => engine.load()],
      ["removeJobsByMethodName()", (engine) => engine.removeJobsByMethodName("work")],
      ["startNextJob()", (engine) => engine.startNextJob()],
    ];
    for (const [name, call] of engineCalls) {
      test(`the engine's ${name} rejects with JobQueueError`, async () => {
        await withDisposedEngine(async (engine) => {
          await assertRejectsAsync(() => call(engine), JobQueueError, `engine.${name}`);
        });
      });
    }

    const queueCalls: [string, (queue: JobQueue) => Promise<unknown>][] = [
      ["scheduleJob()", (queue) => queue.scheduleJob({ methodName: "work" })],
      ["start()", (queue) => queue.start()],
    ];
    for (const [name, call] of queueCalls) {
      test(`the queue's ${name} rejects with JobQueueError`, async () => {
        await withDisposedQueue(async (queue) => {
          await assertRejectsAsync(() => call(queue), JobQueueError, `queue.${name}`);
        });
      });
    }

    for (const opened of [true, false]) {
      test(
        `getAllJobs() still reads, without registering the engine again (${
          opened ? "opened" : "never opened"
        } before)`,
        async () => {
          await withTempDir(async (directory) => {
            await scheduleWork(directory, 1);
            const engine = new JobQueueEngine({ directory, fsync: false });
            if (opened) await engine.startNextJob();
            await engine.dispose();
            assert.equal((await engine.getAllJobs()).length, 1);
            assert.deepEqual(await readdir(join(directory, ".jobq", "engines")), []);
          });
        },
      );
    }
  });

  test("a queue given an engine refuses engine options, naming them", async () => {
    await withTempDir(async (directory) => {
      const engine = new JobQueueEngine({ directory });
      try {
        assert.throws(
          () => new JobQueue({ engine, fs: new NodeFileSystem() }),
          (error) => error instanceof TypeError && /'fs'/.test(error.message),
        );
        assert.throws(
          () => new JobQueue({ engine, pollInterval: 5 }),
          (error) => error instanceof TypeError && /'pollInterval'/.test(error.message),
        );
      } finally {
        await engine.dispose();
      }
    });
  });

  test("every write of a job file is atomic and flushed, not only scheduling", {
    timeout: 15_000,
  }, async () => {
    await withTempDir(async (directory) => {
      const fs = new FaultyFileSystem();
      const queue = new JobQueue({ directory, fs, fsync: true });
      try {
        queue.registerJobHandler("pass", () => {});
        queue.registerJobHandler("fail", () => {
          throw new Error("on purpose");
        });
        const completed = nextEvent(queue, "completed");
        const failed = nextEvent(queue, "failed");
        const passing = await queue.scheduleJob({ methodName: "pass" });
        const failing = await queue.scheduleJob({ methodName: "fail" });
        await queue.start();
        await completed;
        await failed;
        await queue.dispose();

        const jobFiles = new Set(
          [passing, failing].map((job) => join(directory, `${job.key}.json`)),
        );
        const writesByFile = new Map<string, number>();
        fs.calls.forEach((call, index) => {
          if (call.method !== "writeTextFile" || dirname(call.path) !== directory) return;
          assert.ok(!jobFiles.has(call.path), `${call.path} was written in place`);
          const target = [...jobFiles].find((file) =>
            basename(call.path).startsWith(`.${basename(file)}.`)
          );
          assert.ok(target !== undefined, `${call.path} is not a temporary job file`);
          assert.equal(call.options?.sync, true, `${call.path} was written without sync`);
          const renamed = fs.calls.findIndex((later, at) =>
            at > index && later.method === "rename" && later.path === call.path
          );
          assert.ok(renamed > index, `${call.path} was never renamed`);
          assert.equal(fs.calls[renamed]!.to, target);
          assert.ok(
            fs.calls.some((later, at) =>
              at > renamed && later.method === "syncDir" && later.path === directory
            ),
            `no syncDir(${directory}) after ${call.path} was renamed`,
          );
          writesByFile.set(target, (writesByFile.get(target) ?? 0) + 1);
        });
        // Scheduled, for both (a completed job's file is removed, not
        // written); failed, for the failing one.
        assert.equal(writesByFile.get(join(directory, `${passing.key}.json`)), 1);
        assert.equal(writesByFile.get(join(directory, `${failing.key}.json`)), 2);
      } finally {
        await queue.dispose();
      }
    });
  });

  test("an engine's eventListener hears of a corrupt job file, with the file it was moved to", async () => {
    await withTempDir(async (directory) => {
      const corrupt = "work__2024-01-01T00-00-00-000Z-corrupt.json";
      await writeFile(join(directory, corrupt), "{ not json");
      const errors: JobQueueError[] = [];
      const engine = new JobQueueEngine({
        directory,
        fsync: false,
        eventListener: (eventName, event) => {
          if (eventName === "error") errors.push(event as JobQueueError);
        },
      });
      try {
        await engine.load();
      } finally {
        await engine.dispose();
      }
      assert.equal(errors.length, 1);
      const file = errors[0]!.info.file;
      assert.ok(file !== undefined, "the error names no file");
      assert.ok(basename(file).startsWith(corrupt), `${file} is not the corrupt file`);
      assert.equal(errors[0]!.info.job, undefined);
      assert.equal(await readFile(file, "utf8"), "{ not json");
    });
  });

  describe("dependencies", () => {
    test("the package depends only on croner, and on postgres only for the PostgreSQL store", async () => {
      const root = await repositoryRoot();
      const packageJson = join(root, "npm", "package.json");
      if (await exists(packageJson)) {
        const manifest = JSON.parse(await readFile(packageJson, "utf8"));
        assert.deepEqual(Object.keys(manifest.dependencies ?? {}), ["croner"]);
        // Optional, exact: users of the file store install and load nothing more.
        assert.deepEqual(Object.keys(manifest.peerDependencies ?? {}), ["postgres"]);
        assert.match(manifest.peerDependencies.postgres, /^\d+\.\d+\.\d+$/);
        assert.deepEqual(manifest.peerDependenciesMeta, { postgres: { optional: true } });
        assert.deepEqual(Object.keys(manifest.optionalDependencies ?? {}), []);
      }
      for (const [name, code] of await sourceFiles()) {
        for (const specifier of specifiersOf(code)) {
          assert.ok(
            specifier.startsWith("./") || specifier.startsWith("../") ||
              specifier.startsWith("node:") ||
              (name === "job/repeat.ts" && specifier === "croner") ||
              (name.startsWith("store/postgres/") && specifier === "postgres"),
            `src/${name} imports '${specifier}'`,
          );
        }
      }
    });

    test("only the file-system adapters, under src/fs/, touch Deno, Bun or node:fs", async () => {
      for (const [name, code] of await sourceFiles()) {
        if (name.startsWith("fs/")) continue;
        assert.doesNotMatch(code, /\b(?:Deno|Bun)\./, `src/${name} uses Deno or Bun`);
        for (const specifier of specifiersOf(code)) {
          assert.ok(!/^node:fs(?:\/|$)/.test(specifier), `src/${name} imports ${specifier}`);
        }
      }
    });
  });

  // Node's adapter works everywhere, so only a spy on the runtime's own API
  // tells which one a queue picked. ESM `node:fs/promises` cannot be spied
  // on, so under Node there is nothing to check this way; nor under Bun,
  // whose own API cannot create a file exclusively, as every write of jobq
  // does, so that Bun's adapter writes through `node:fs` too.
  if (runtime === "deno") {
    test("a queue writes through Deno's own API by default", async () => {
      // Deno's node:fs goes through Deno.rename, but not Deno.open.
      const namespace = (globalThis as Record<string, unknown>).Deno as Record<string, unknown>;
      const method = "open";
      assert.equal(Object.getOwnPropertyDescriptor(namespace, method)?.writable, true);
      const callsDuringSchedule = async (fs: NodeFileSystem | undefined) => {
        return await withTempDir(async (directory) => {
          const queue = new JobQueue({ directory, fsync: false, ...(fs && { fs }) });
          const original = namespace[method] as (...args: unknown[]) => unknown;
          let calls = 0;
          try {
            await queue.getAllJobs(); // opens the directory first
            namespace[method] = function (this: unknown, ...args: unknown[]) {
              calls++;
              return original.apply(this, args);
            };
            await queue.scheduleJob({ methodName: "work" });
          } finally {
            namespace[method] = original;
            await queue.dispose();
          }
          return calls;
        });
      };
      assert.ok(await callsDuringSchedule(undefined) > 0, `${method} was not called`);
      assert.equal(await callsDuringSchedule(new NodeFileSystem()), 0);
    });
  }
});
