import { readlinkSync } from "node:fs";
import * as fs from "node:fs/promises";
import { hostname } from "node:os";
import { PID_NAMESPACE_LINK, processMayExist, withPidNamespace } from "./_host.ts";
import { kindOf, readRegularTextFile } from "./_read_text_file.ts";
import type {
  FileInfo,
  FileSystemAdapter,
  MkdirOptions,
  ReadTextFileOptions,
  WriteTextFileOptions,
} from "./file_system.ts";

/**
 * The {@linkcode FileSystemAdapter} on `node:fs/promises`, jobq's choice under
 * Node. It works under Deno and Bun too, through their Node compatibility.
 *
 * @example Choosing the adapter explicitly
 * ```ts
 * import { JobQueue, NodeFileSystem } from "@x/jobq";
 *
 * const queue = new JobQueue({
 *   directory: await Deno.makeTempDir(),
 *   fs: new NodeFileSystem(),
 * });
 * await queue.dispose();
 * ```
 */
export class NodeFileSystem implements FileSystemAdapter {
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
    const file = await fs.open(path, options.createNew ? "wx" : "w", options.mode ?? 0o666);
    try {
      await file.writeFile(data, "utf8");
      if (options.sync) await file.datasync();
    } finally {
      await file.close();
    }
  }

  /** Renames a file atomically, replacing the target if it exists. */
  rename(from: string, to: string): Promise<void> {
    return fs.rename(from, to);
  }

  /** Removes a file. */
  remove(path: string): Promise<void> {
    return fs.unlink(path);
  }

  /** Lists the names of the entries of a directory. */
  readDir(path: string): Promise<string[]> {
    return fs.readdir(path);
  }

  /** Creates a directory and its parents; succeeds if it exists. */
  async mkdir(path: string, options: MkdirOptions = {}): Promise<void> {
    await fs.mkdir(path, { recursive: true, mode: options.mode ?? 0o777 });
  }

  /** Creates a hard link; fails with `"EEXIST"` if `newPath` exists. */
  link(existing: string, newPath: string): Promise<void> {
    return fs.link(existing, newPath);
  }

  /** Flushes a directory's entries to the disk. */
  async syncDir(path: string): Promise<void> {
    const directory = await fs.open(path, "r");
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  /** Tells what a path is, its size and mode, without following a link. */
  async lstat(path: string): Promise<FileInfo> {
    const stats = await fs.lstat(path);
    return { kind: kindOf(stats), size: stats.size, mode: stats.mode & 0o7777 };
  }

  /** This host's name, and its pid namespace on Linux. */
  hostId(): string | undefined {
    return withPidNamespace(hostname(), () => readlinkSync(PID_NAMESPACE_LINK));
  }

  /** Whether a process may be alive: only "no such process" (`ESRCH`) says no. */
  isProcessAlive(pid: number): boolean {
    return processMayExist(pid);
  }

  /** Sets a file's modification time (and access time) without writing to it. */
  touch(path: string, date: Date): Promise<void> {
    return fs.lutimes(path, date, date);
  }

  /** A file's modification time, in ms since the epoch. */
  async modifiedAt(path: string): Promise<number> {
    return (await fs.lstat(path)).mtimeMs;
  }
}
