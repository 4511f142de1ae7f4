import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { basename, join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import {
  BunFileSystem,
  DenoFileSystem,
  type FileSystemAdapter,
  JobQueue,
  NodeFileSystem,
} from "../mod.ts";
import { runtime, withTempDir } from "./_helpers.ts";

/**
 * The adapters this runtime can run: `node:fs` works everywhere, the Deno and
 * Bun adapters only on their own runtime.
 */
const adapters: Array<[name: string, create: () => FileSystemAdapter]> = [
  ["NodeFileSystem", () => new NodeFileSystem()],
];
if (runtime === "deno") adapters.push(["DenoFileSystem", () => new DenoFileSystem()]);
if (runtime === "bun") adapters.push(["BunFileSystem", () => new BunFileSystem()]);

/** Asserts that `promise` rejects with an error whose POSIX `code` is `code`. */
async function assertCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, code, `got ${String(error)}`);
    return true;
  });
}

const TEXT = "héllo wörld — 你好 🌍\nsecond line\n";

for (const [name, create] of adapters) {
  describe(`${name} (FileSystemAdapter conformance)`, () => {
    const fs = create();

    test("writeTextFile() then readTextFile() returns the same UTF-8 text", async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, "a.txt");
        await fs.writeTextFile(path, TEXT);
        assert.equal(await fs.readTextFile(path), TEXT);
      });
    });

    test("writeTextFile() writes large text completely", async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, "big.txt");
        const text = "ü€𝄞x".repeat(300_000);
        await fs.writeTextFile(path, text);
        assert.equal(await fs.readTextFile(path), text);
      });
    });

    test("writeTextFile() replaces a longer file entirely", async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, "a.txt");
        await fs.writeTextFile(path, "a much longer first version");
        await fs.writeTextFile(path, "short");
        assert.equal(await fs.readTextFile(path), "short");
      });
    });

    test("writeTextFile() into a missing directory fails with ENOENT and creates nothing", async () => {
      await withTempDir(async (dir) => {
        // A queue whose directory was removed must report it, not recreate
        // part of it behind the user's back.
        await assertCode(fs.writeTextFile(join(dir, "gone", "a.txt"), TEXT), "ENOENT");
        assert.deepEqual(await fs.readDir(dir), []);
      });
    });

    test("writeTextFile() with sync writes the content", async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, "synced.txt");
        await fs.writeTextFile(path, "old content, longer", { sync: true });
        await fs.writeTextFile(path, TEXT, { sync: true });
        assert.equal(await fs.readTextFile(path), TEXT);
        const created = join(dir, "created.txt");
        await fs.writeTextFile(created, TEXT, { sync: true });
        assert.equal(await fs.readTextFile(created), TEXT);
      });
    });

    test("readTextFile() of a missing file fails with ENOENT", async () => {
      await withTempDir(async (dir) => {
        await assertCode(fs.readTextFile(join(dir, "missing.txt")), "ENOENT");
      });
    });

    test("remove() deletes a file, and fails with ENOENT when it is missing", async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, "a.txt");
        await fs.writeTextFile(path, TEXT);
        await fs.remove(path);
        await assertCode(fs.readTextFile(path), "ENOENT");
        await assertCode(fs.remove(path), "ENOENT");
      });
    });

    test("rename() moves a file to a new name", async () => {
      await withTempDir(async (dir) => {
        const from = join(dir, "from.txt");
        const to = join(dir, "to.txt");
        await fs.writeTextFile(from, TEXT);
        await fs.rename(from, to);
        assert.equal(await fs.readTextFile(to), TEXT);
        await assertCode(fs.readTextFile(from), "ENOENT");
      });
    });

    test("rename() of a missing file fails with ENOENT", async () => {
      await withTempDir(async (dir) => {
        await assertCode(fs.rename(join(dir, "missing"), join(dir, "to")), "ENOENT");
      });
    });

    test("rename() replaces the target atomically: readers see the old or the new file whole", async () => {
      await withTempDir(async (dir) => {
        const target = join(dir, "job.json");
        // Large versions, so that a copy-based rename would be caught half-way.
        const versions = Array.from(
          { length: 20 },
          (_, index) => String(index % 10).repeat(200_000),
        );
        await fs.writeTextFile(target, versions[0]!);
        let writing = true;
        const reader = async () => {
          let reads = 0;
          while (writing || reads === 0) {
            const text = await fs.readTextFile(target);
            assert.ok(versions.includes(text), `read a partial file of ${text.length} chars`);
            reads++;
          }
        };
        const writer = async () => {
          try {
            for (const [index, version] of versions.entries()) {
              const temp = join(dir, `.job.json.${index}.tmp`);
              await fs.writeTextFile(temp, version);
              await fs.rename(temp, target);
            }
          } finally {
            writing = false;
          }
        };
        await Promise.all([reader(), writer()]);
        assert.equal(await fs.readTextFile(target), versions.at(-1));
        assert.deepEqual(await fs.readDir(dir), ["job.json"]);
      });
    });

    test("readDir() lists the names of files and directories", async () => {
      await withTempDir(async (dir) => {
        await fs.writeTextFile(join(dir, "a.json"), "{}");
        await fs.writeTextFile(join(dir, ".hidden.tmp"), "");
        await fs.writeTextFile(join(dir, "ü.txt"), "");
        await fs.mkdir(join(dir, "sub"));
        assert.deepEqual((await fs.readDir(dir)).sort(), [".hidden.tmp", "a.json", "sub", "ü.txt"]);
        assert.deepEqual(await fs.readDir(join(dir, "sub")), []);
      });
    });

    test("readDir() of a missing directory fails with ENOENT", async () => {
      await withTempDir(async (dir) => {
        await assertCode(fs.readDir(join(dir, "missing")), "ENOENT");
      });
    });

    test("mkdir() creates parent directories and succeeds when the directory exists", async () => {
      await withTempDir(async (dir) => {
        const deep = join(dir, "a", "b", "c");
        await fs.mkdir(deep);
        await fs.mkdir(deep);
        await fs.mkdir(join(dir, "a"));
        await fs.writeTextFile(join(deep, "file.txt"), TEXT);
        assert.deepEqual(await fs.readDir(join(dir, "a")), ["b"]);
        assert.deepEqual(await fs.readDir(deep), ["file.txt"]);
      });
    });

    test("link() gives a file a second name with the same content", async () => {
      await withTempDir(async (dir) => {
        const existing = join(dir, "original.txt");
        const second = join(dir, "second.txt");
        await fs.writeTextFile(existing, TEXT);
        await fs.link(existing, second);
        assert.equal(await fs.readTextFile(second), TEXT);
        // A hard link, not a copy: the content outlives the first name.
        await fs.remove(existing);
        assert.equal(await fs.readTextFile(second), TEXT);
      });
    });

    test("link() fails with EEXIST when the new name exists, leaving it unchanged", async () => {
      await withTempDir(async (dir) => {
        const existing = join(dir, "original.txt");
        const taken = join(dir, "taken.txt");
        await fs.writeTextFile(existing, TEXT);
        await fs.writeTextFile(taken, "taken");
        await assertCode(fs.link(existing, taken), "EEXIST");
        assert.equal(await fs.readTextFile(taken), "taken");
      });
    });

    test("syncDir() succeeds on a directory", async () => {
      await withTempDir(async (dir) => {
        await fs.writeTextFile(join(dir, "a.txt"), TEXT);
        await fs.syncDir(dir);
        assert.equal(await fs.readTextFile(join(dir, "a.txt")), TEXT);
      });
    });

    test("touch() sets the modification time modifiedAt() reads, and leaves the content alone", async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, "engine.json");
        await fs.writeTextFile(path, TEXT);
        for (const date of [Date.UTC(2030, 0, 1, 0, 0, 1), Date.UTC(2020, 5, 6, 7, 8, 9)]) {
          await fs.touch!(path, new Date(date));
          assert.equal(await fs.modifiedAt!(path), date);
        }
        assert.equal(await fs.readTextFile(path), TEXT);
      });
    });

    test("touch() and modifiedAt() of a missing file fail with ENOENT", async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, "missing.json");
        await assertCode(fs.touch!(path, new Date()), "ENOENT");
        await assertCode(fs.modifiedAt!(path), "ENOENT");
        assert.deepEqual(await fs.readDir(dir), []);
      });
    });

    test("hostId() names this host and, on Linux, its pid namespace", () => {
      const id = fs.hostId?.();
      assert.equal(typeof id, "string");
      assert.ok(id!.startsWith(hostname()), id);
      if (process.platform === "linux") assert.match(id!, / pid:\[\d+\]$/);
    });

    test("isProcessAlive() is true for this process and false for one that has exited", async () => {
      assert.equal(fs.isProcessAlive?.(process.pid), true);
      const child = spawn(process.execPath, ["--version"], { stdio: "ignore" });
      await new Promise((resolve) => child.on("exit", resolve));
      assert.equal(fs.isProcessAlive?.(child.pid!), false);
    });
  });
}

describe("the fs option of JobQueue", () => {
  test("scheduleJob() writes through the adapter given as the fs option", async () => {
    await withTempDir(async (dir) => {
      const inner = new NodeFileSystem();
      const writes: string[] = [];
      const renames: Array<[from: string, to: string]> = [];
      const counting: FileSystemAdapter = {
        readTextFile: (path) => inner.readTextFile(path),
        writeTextFile: (path, data, options) => {
          writes.push(path);
          return inner.writeTextFile(path, data, options);
        },
        rename: (from, to) => {
          renames.push([from, to]);
          return inner.rename(from, to);
        },
        remove: (path) => inner.remove(path),
        readDir: (path) => inner.readDir(path),
        mkdir: (path) => inner.mkdir(path),
        link: (existing, newPath) => inner.link(existing, newPath),
        syncDir: (path) => inner.syncDir(path),
      };
      const queue = new JobQueue({ directory: dir, fs: counting, fsync: false });
      try {
        const job = await queue.scheduleJob({ methodName: "work", waitTime: 60_000 });
        const jobPath = join(dir, `${job.key}.json`);
        const intoPlace = renames.filter(([, to]) => to === jobPath);
        assert.equal(intoPlace.length, 1, `renames: ${JSON.stringify(renames)}`);
        const [temp] = intoPlace[0]!;
        assert.ok(writes.includes(temp), `${temp} was not written through the adapter`);
        assert.match(basename(temp), /^\..*\.tmp$/);
        assert.equal(JSON.parse(await inner.readTextFile(jobPath)).id, job.id);
      } finally {
        await queue.dispose();
      }
    });
  });
});
