import { PID_NAMESPACE_LINK, processMayExist, withPidNamespace } from "./_host.ts";
import { readRegularTextFile } from "./_read_text_file.ts";
import type {
  FileInfo,
  FileSystemAdapter,
  MkdirOptions,
  ReadTextFileOptions,
  WriteTextFileOptions,
} from "./file_system.ts";

/** The part of the `Deno` namespace this adapter uses. */
interface DenoFsApi {
  open(
    path: string,
    options: {
      read?: boolean;
      write?: boolean;
      create?: boolean;
      createNew?: boolean;
      truncate?: boolean;
      mode?: number;
    },
  ): Promise<DenoFile>;
  lstat(path: string): Promise<{
    isFile: boolean;
    isDirectory: boolean;
    isSymlink: boolean;
    size: number;
    mode: number | null;
    mtime: Date | null;
  }>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  readDir(path: string): AsyncIterable<{ name: string }>;
  mkdir(path: string, options: { recursive: boolean; mode?: number }): Promise<void>;
  link(existing: string, newPath: string): Promise<void>;
  utime(path: string, atime: Date, mtime: Date): Promise<void>;
  hostname(): string;
  readLinkSync(path: string): string;
  permissions: {
    querySync(
      descriptor: { name: "sys"; kind: "hostname" } | { name: "run" } | {
        name: "read";
        path: string;
      },
    ): { state: "granted" | "denied" | "prompt" };
  };
}

interface DenoFile {
  write(data: Uint8Array): Promise<number>;
  syncData(): Promise<void>;
  sync(): Promise<void>;
  close(): void;
}

/** Reads `Deno` when a method runs, so that importing this file is safe anywhere. */
function deno(): DenoFsApi {
  return (globalThis as unknown as { Deno: DenoFsApi }).Deno;
}

const encoder = new TextEncoder();

/**
 * The {@linkcode FileSystemAdapter} on the `Deno` namespace, jobq's choice
 * under Deno. Deno's errors already carry POSIX codes (`"ENOENT"`, …).
 * Reads go through Deno's `node:fs`, whose `open` can refuse links and
 * leave FIFOs alone (`O_NOFOLLOW`, `O_NONBLOCK`), which `Deno.open` cannot.
 *
 * @example Choosing the adapter explicitly
 * ```ts
 * import { DenoFileSystem, JobQueue } from "@x/jobq";
 *
 * const queue = new JobQueue({
 *   directory: await Deno.makeTempDir(),
 *   fs: new DenoFileSystem(),
 * });
 * await queue.dispose();
 * ```
 */
export class DenoFileSystem implements FileSystemAdapter {
  /** Reads a whole regular file as UTF-8 text, never through a link. */
  readTextFile(path: string, options: ReadTextFileOptions = {}): Promise<string> {
    return readRegularTextFile(path, options.maxBytes);
  }

  /** Creates or replaces a file, exclusively and synced when asked. */
  async writeTextFile(
    path: string,
    data: string,
    options: WriteTextFileOptions = {},
  ): Promise<void> {
    const file = await deno().open(path, {
      write: true,
      ...(options.createNew ? { createNew: true } : { create: true, truncate: true }),
      mode: options.mode ?? 0o666,
    });
    try {
      let bytes = encoder.encode(data);
      while (bytes.length > 0) bytes = bytes.subarray(await file.write(bytes));
      if (options.sync) await file.syncData();
    } finally {
      file.close();
    }
  }

  /** Renames a file atomically, replacing the target if it exists. */
  rename(from: string, to: string): Promise<void> {
    return deno().rename(from, to);
  }

  /** Removes a file. */
  remove(path: string): Promise<void> {
    return deno().remove(path);
  }

  /** Lists the names of the entries of a directory. */
  async readDir(path: string): Promise<string[]> {
    const names: string[] = [];
    for await (const entry of deno().readDir(path)) names.push(entry.name);
    return names;
  }

  /** Creates a directory and its parents; succeeds if it exists. */
  mkdir(path: string, options: MkdirOptions = {}): Promise<void> {
    return deno().mkdir(path, { recursive: true, mode: options.mode ?? 0o777 });
  }

  /** Creates a hard link; fails with `"EEXIST"` if `newPath` exists. */
  link(existing: string, newPath: string): Promise<void> {
    return deno().link(existing, newPath);
  }

  /** Flushes a directory's entries to the disk. */
  async syncDir(path: string): Promise<void> {
    const directory = await deno().open(path, { read: true });
    try {
      await directory.sync();
    } finally {
      directory.close();
    }
  }

  /** Tells what a path is, its size and mode, without following a link. */
  async lstat(path: string): Promise<FileInfo> {
    const info = await deno().lstat(path);
    const kind = info.isFile
      ? "file"
      : info.isDirectory
      ? "directory"
      : info.isSymlink
      ? "symlink"
      : "other";
    return { kind, size: info.size, ...(info.mode === null ? {} : { mode: info.mode & 0o7777 }) };
  }

  /**
   * This host's name, when `--allow-sys` grants it, and its pid namespace
   * where `--allow-read` reaches it; `undefined` without them, or without
   * `--allow-run` (pids cannot be checked then). Permissions are queried
   * first: a library must never make Deno prompt.
   */
  hostId(): string | undefined {
    const { permissions } = deno();
    if (
      permissions.querySync({ name: "sys", kind: "hostname" }).state !== "granted" ||
      permissions.querySync({ name: "run" }).state !== "granted"
    ) {
      return undefined;
    }
    const readable = permissions.querySync({ name: "read", path: PID_NAMESPACE_LINK });
    return withPidNamespace(deno().hostname(), () => {
      if (readable.state !== "granted") throw new Error("not readable");
      return deno().readLinkSync(PID_NAMESPACE_LINK);
    });
  }

  /**
   * Whether a process may be alive. Asking needs `--allow-run`; without it
   * the answer is "maybe", and claims are recovered by lease instead.
   */
  isProcessAlive(pid: number): boolean {
    if (deno().permissions.querySync({ name: "run" }).state !== "granted") return true;
    return processMayExist(pid);
  }

  /** Sets a file's modification time (and access time) without writing to it. */
  touch(path: string, date: Date): Promise<void> {
    return deno().utime(path, date, date);
  }

  /** A file's modification time, in ms since the epoch. */
  async modifiedAt(path: string): Promise<number> {
    const { mtime } = await deno().lstat(path);
    if (mtime === null) throw new Error(`Cannot read the modification time of ${path}`);
    return mtime.getTime();
  }
}
