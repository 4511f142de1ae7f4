/**
 * What clock steps, stalls, full disks and containers do to a queue: no job
 * runs twice at once, none is lost, none is failed for a death that did not
 * happen. Clocks are replaced where the test needs them still or stepped
 * (`Date.now` is the wall clock, `performance.now` the monotonic one).
 */
import assert from "node:assert/strict";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { DenoFileSystem, Job, JobQueue, JobState, NodeFileSystem } from "../mod.ts";
import { runToEnd, withTempDir } from "./_helpers.ts";
import { readJobFile, withDeadline, writeCutShortJob } from "./_process_helpers.ts";

/** Ids as jobq makes them. */
const ID_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-[0-9a-z]{13}-[0-9a-f]{8}$/;

/** Runs `body` with `Date.now` replaced by `now`, restored afterwards. */
async function withWallClock<T>(now: () => number, body: () => Promise<T> | T): Promise<T> {
  const real = Date.now;
  Date.now = now;
  try {
    return await body();
  } finally {
    Date.now = real;
  }
}

describe("job ids", () => {
  test(
    "a job scheduled after the clock was set back by a day keeps an id in its pattern and runs",
    { timeout: 120_000 },
    async () => {
      const real = Date.now;
      // A job made while the clock was a day ahead: later ids may not sort before it.
      await withWallClock(() => real() + 86_400_000, () => Job.fromSpec({ methodName: "work" }));
      // Corrected, and still: the ids of the next day all share one creation
      // millisecond, more of them than the 4-digit sequence counts.
      const frozen = real();
      await withWallClock(() => frozen, async () => {
        let last = "";
        for (let n = 0; n < 36 ** 4; n++) last = Job.fromSpec({ methodName: "work" }).id;
        assert.match(last, ID_PATTERN);
        await withTempDir(async (directory) => {
          const queue = new JobQueue({ directory, fsync: false, pollInterval: 20 });
          try {
            queue.registerJobHandler("work", () => "done");
            const done = await runToEnd(queue, { methodName: "work" });
            assert.match(done.id, ID_PATTERN);
            assert.equal(done.state, JobState.COMPLETED);
          } finally {
            await queue.dispose();
          }
        });
      });
    },
  );
});

/** What a fake `Deno` namespace grants, for {@linkcode withFakeDeno}. */
interface FakeDeno {
  /** Whether `--allow-read` reaches `/proc/self/ns/pid`. */
  readonly namespaceReadable: boolean;
  /** Whether `--allow-run` is granted. */
  readonly run: boolean;
}

/**
 * Runs `body` (synchronously) with a `Deno` namespace that has a host name
 * shared by containers and the permissions `grants` says, under any runtime:
 * `DenoFileSystem` reads the namespace when a method runs.
 */
function withFakeDeno<T>(grants: FakeDeno, body: () => T): T {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, "Deno");
  const granted = (yes: boolean) => ({ state: yes ? "granted" : "denied" });
  Object.defineProperty(globalThis, "Deno", {
    configurable: true,
    value: {
      hostname: () => SHARED_HOST,
      readLinkSync: () => {
        if (!grants.namespaceReadable) throw new Error("Requires read access");
        return "pid:[4026532999]";
      },
      permissions: {
        querySync: (descriptor: { name: string }) =>
          granted(
            descriptor.name === "read"
              ? grants.namespaceReadable
              : descriptor.name === "run"
              ? grants.run
              : true,
          ),
      },
    },
  });
  try {
    return body();
  } finally {
    if (descriptor === undefined) delete (globalThis as { Deno?: unknown }).Deno;
    else Object.defineProperty(globalThis, "Deno", descriptor);
  }
}

/** The host name two containers share. */
const SHARED_HOST = "web-1";

describe("containers sharing a host name", () => {
  test("DenoFileSystem gives no host id where the pid namespace or pids cannot be checked", () => {
    const hostId = (grants: FakeDeno) => withFakeDeno(grants, () => new DenoFileSystem().hostId());
    assert.equal(
      hostId({ namespaceReadable: true, run: true }),
      `${SHARED_HOST} pid:[4026532999]`,
    );
    assert.equal(hostId({ namespaceReadable: true, run: false }), undefined);
    // Elsewhere there are no pid namespaces: the host name tells.
    const expected = process.platform === "linux" ? undefined : SHARED_HOST;
    assert.equal(hostId({ namespaceReadable: false, run: true }), expected);
  });

  test(
    "a queue that cannot read its pid namespace leaves alone the live claim of a pid it does not have",
    { timeout: 30_000 },
    async () => {
      await withTempDir(async (directory) => {
        // The engine of another container with the same host name, that
        // could not read its namespace either: its pid means nothing here.
        const job = await writeCutShortJob(directory);
        const engineId = "0123456789abcdef";
        await writeFile(
          join(directory, ".jobq", "claims", `${job.key}.json`),
          JSON.stringify({ engineId }),
        );
        await writeEngineFile(directory, {
          engineId,
          pid: 2 ** 22 + 1, // above any pid_max: no such process here
          hostId: SHARED_HOST,
          claimTimeout: 60_000,
        });
        /** Reads the pid namespace as DenoFileSystem does under narrow permissions. */
        class NarrowPermissions extends WatchedFileSystem {
          override hostId(): string | undefined {
            return withFakeDeno(
              { namespaceReadable: false, run: true },
              () => new DenoFileSystem().hostId(),
            );
          }
        }
        const fs = new NarrowPermissions();
        const queue = new JobQueue({ directory, fsync: false, pollInterval: 20, fs });
        const started: Job[] = [];
        queue.on("started", (job) => started.push(job));
        queue.registerJobHandler("work", () => {});
        try {
          await queue.start();
          await polls(fs, 10);
          assert.deepEqual(started, []);
          assert.equal((await readJobFile(directory, job)).state, JobState.IN_PROGRESS);
        } finally {
          await queue.dispose();
        }
      });
    },
  );
});

/**
 * A `NodeFileSystem` that tells when its queue looks at the engines: once
 * per recovery of claims.
 */
class WatchedFileSystem extends NodeFileSystem {
  readonly #waiters = new Set<() => void>();

  override async readDir(path: string): Promise<string[]> {
    const names = await super.readDir(path);
    if (path.endsWith(join(".jobq", "engines"))) for (const waiter of this.#waiters) waiter();
    return names;
  }

  /** Resolves once the engines have been listed `count` more times. */
  listings(count: number): Promise<void> {
    let left = count;
    return new Promise((resolve) => {
      const waiter = () => {
        if (--left > 0) return;
        this.#waiters.delete(waiter);
        resolve();
      };
      this.#waiters.add(waiter);
    });
  }
}

/** Resolves once the queue on `fs` has looked at the engines `count` more times. */
function polls(fs: WatchedFileSystem, count: number): Promise<void> {
  return withDeadline(fs.listings(count), 10_000, `${count} recoveries`);
}

/** An engine file as jobq writes them, written atomically. */
async function writeEngineFile(
  directory: string,
  record: { engineId: string; pid: number; hostId?: string; claimTimeout: number },
  heartbeatAt = Date.now(),
): Promise<void> {
  const engines = join(directory, ".jobq", "engines");
  await mkdir(engines, { recursive: true });
  const path = join(engines, `${record.engineId}.json`);
  await writeFile(`${path}.partial`, JSON.stringify({ ...record, startedAt: 0, heartbeatAt }));
  await rename(`${path}.partial`, path);
}
