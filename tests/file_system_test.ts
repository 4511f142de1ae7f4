import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { chmod, symlink, writeFile } from "node:fs/promises";
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
import { modeOf, unblockFifo, underUsualUmask } from "./_file_helpers.ts";
import { runtime, withTempDir } from "./_helpers.ts";
import { withDeadline } from "./_process_helpers.ts";

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

underUsualUmask();

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

    test("writeTextFile() with createNew creates a file, and fails with EEXIST when the name exists", async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, "new.txt");
        await fs.writeTextFile(path, TEXT, { createNew: true });
        assert.equal(await fs.readTextFile(path), TEXT);
        await assertCode(fs.writeTextFile(path, "again", { createNew: true }), "EEXIST");
        assert.equal(await fs.readTextFile(path), TEXT);
      });
    });

    test("writeTextFile() with createNew never writes through a symbolic link", async () => {
      await withTempDir(async (dir) => {
        const target = join(dir, "target.txt");
        await writeFile(target, "target");
        const link = join(dir, "link.tmp");
        await symlink(target, link);
        await assertCode(fs.writeTextFile(link, TEXT, { createNew: true }), "EEXIST");
        const dangling = join(dir, "dangling.tmp");
        await symlink(join(dir, "missing.txt"), dangling);
        await assertCode(fs.writeTextFile(dangling, TEXT, { createNew: true }), "EEXIST");
        assert.equal(await fs.readTextFile(target), "target");
        assert.deepEqual((await fs.readDir(dir)).sort(), [
          "dangling.tmp",
          "link.tmp",
          "target.txt",
        ]);
      });
    });

    test("writeTextFile() creates a file with the mode given, synced or not", async () => {
      await withTempDir(async (dir) => {
        await fs.writeTextFile(join(dir, "a"), TEXT, { createNew: true, mode: 0o600 });
        await fs.writeTextFile(join(dir, "b"), TEXT, { createNew: true, mode: 0o640, sync: true });
        await fs.writeTextFile(join(dir, "c"), TEXT, { mode: 0o600 });
        assert.equal(await modeOf(join(dir, "a")), 0o600);
        assert.equal(await modeOf(join(dir, "b")), 0o640);
        assert.equal(await modeOf(join(dir, "c")), 0o600);
      });
    });

    test("mkdir() creates every missing folder with the mode given", async () => {
      await withTempDir(async (dir) => {
        await fs.mkdir(join(dir, "a", "b"), { mode: 0o700 });
        assert.equal(await modeOf(join(dir, "a")), 0o700);
        assert.equal(await modeOf(join(dir, "a", "b")), 0o700);
      });
    });

    test("lstat() tells files, folders, links (not followed) and FIFOs apart, with size and mode", async () => {
      await withTempDir(async (dir) => {
        const file = join(dir, "file.txt");
        await writeFile(file, "12345");
        await chmod(file, 0o640);
        await symlink(file, join(dir, "link"));
        execFileSync("mkfifo", [join(dir, "fifo")]);
        assert.deepEqual(await fs.lstat(file), { kind: "file", size: 5, mode: 0o640 });
        assert.equal((await fs.lstat(dir)).kind, "directory");
        assert.equal((await fs.lstat(join(dir, "link"))).kind, "symlink");
        assert.equal((await fs.lstat(join(dir, "fifo"))).kind, "other");
        assert.equal((await fs.lstat("/dev/zero")).kind, "other");
        await assertCode(fs.lstat(join(dir, "missing")), "ENOENT");
      });
    });

    test("readTextFile() never follows a symbolic link: it fails with ELOOP", async () => {
      await withTempDir(async (dir) => {
        const target = join(dir, "target.txt");
        await writeFile(target, TEXT);
        await symlink(target, join(dir, "link.json"));
        await symlink("/dev/zero", join(dir, "zero.json"));
        await assertCode(fs.readTextFile(join(dir, "link.json")), "ELOOP");
        await assertCode(
          withDeadline(fs.readTextFile(join(dir, "zero.json")), 5_000, "reading the link"),
          "ELOOP",
        );
      });
    });

    test("readTextFile() of a FIFO, a device or a folder fails at once with EFTYPE or EISDIR", async () => {
      await withTempDir(async (dir) => {
        const fifo = join(dir, "fifo.json");
        execFileSync("mkfifo", [fifo]);
        try {
          await assertCode(
            withDeadline(fs.readTextFile(fifo), 5_000, "reading the FIFO"),
            "EFTYPE",
          );
        } finally {
          unblockFifo(fifo);
        }
        await assertCode(
          withDeadline(fs.readTextFile("/dev/zero"), 5_000, "reading /dev/zero"),
          "EFTYPE",
        );
        await assertCode(fs.readTextFile(dir), "EISDIR");
      });
    });

    test("readTextFile() with maxBytes fails with EFBIG for a larger file, and reads one that fits", async () => {
      await withTempDir(async (dir) => {
        const path = join(dir, "a.txt");
        const bytes = new TextEncoder().encode(TEXT).length;
        await writeFile(path, TEXT);
        assert.equal(await fs.readTextFile(path, { maxBytes: bytes }), TEXT);
        await assertCode(fs.readTextFile(path, { maxBytes: bytes - 1 }), "EFBIG");
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
        readTextFile: (path, options) => inner.readTextFile(path, options),
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
        mkdir: (path, options) => inner.mkdir(path, options),
        link: (existing, newPath) => inner.link(existing, newPath),
        syncDir: (path) => inner.syncDir(path),
        lstat: (path) => inner.lstat(path),
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
