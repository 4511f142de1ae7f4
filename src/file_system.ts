/** Options for {@linkcode FileSystemAdapter.writeTextFile}. */
export interface WriteTextFileOptions {
  /**
   * Flush the file's data to the disk (`fsync`) before resolving.
   *
   * @default {false}
   */
  sync?: boolean;
}

/**
 * The few file-system primitives jobq needs, and two optional questions about
 * processes on this host. Everything runtime-specific lives behind this
 * interface; jobq picks the implementation for the running
 * runtime ({@linkcode DenoFileSystem}, {@linkcode BunFileSystem} or
 * {@linkcode NodeFileSystem}), and the `fs` option of the queue takes any
 * other, for example a wrapper that injects faults in tests.
 *
 * Errors must carry the POSIX `code` of the failure (`"ENOENT"`,
 * `"EEXIST"`, `"ENOSPC"`, …), as Node's, Bun's and Deno's own errors do.
 *
 * @example A wrapper that counts writes
 * ```ts
 * import { type FileSystemAdapter, NodeFileSystem } from "@x/jobq";
 *
 * const inner = new NodeFileSystem();
 * let writes = 0;
 * const counting: FileSystemAdapter = {
 *   readTextFile: (path) => inner.readTextFile(path),
 *   writeTextFile: (path, data, options) => {
 *     writes++;
 *     return inner.writeTextFile(path, data, options);
 *   },
 *   rename: (from, to) => inner.rename(from, to),
 *   remove: (path) => inner.remove(path),
 *   readDir: (path) => inner.readDir(path),
 *   mkdir: (path) => inner.mkdir(path),
 *   link: (existing, newPath) => inner.link(existing, newPath),
 *   syncDir: (path) => inner.syncDir(path),
 * };
 * ```
 */
export interface FileSystemAdapter {
  /** Reads a whole file as UTF-8 text. */
  readTextFile(path: string): Promise<string>;
  /** Creates or replaces a file with UTF-8 text. */
  writeTextFile(
    path: string,
    data: string,
    options?: WriteTextFileOptions,
  ): Promise<void>;
  /** Renames a file atomically, replacing the target if it exists. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file. */
  remove(path: string): Promise<void>;
  /** Lists the names of the entries of a directory. */
  readDir(path: string): Promise<string[]>;
  /** Creates a directory and its parents; succeeds if it exists. */
  mkdir(path: string): Promise<void>;
  /** Creates a hard link; fails with `"EEXIST"` if `newPath` exists. */
  link(existing: string, newPath: string): Promise<void>;
  /** Flushes a directory's entries (creations, renames) to the disk. */
  syncDir(path: string): Promise<void>;
  /**
   * What identifies the set of processes this one can check with
   * {@linkcode isProcessAlive}: the host name and, where the system tells it,
   * the pid namespace (containers on one host can share a host name but not
   * their pids). `undefined` when the runtime may not read it, or cannot
   * tell the pid namespace where there are such things (Linux): a host name
   * alone would take the pids of another container for this one's. With it,
   * an engine recovers the claims of a crashed process on the same host at
   * once instead of after `claimTimeout`; without it, by lease only.
   */
  hostId?(): string | undefined;
  /**
   * Whether the process `pid` on this host may be alive: `false` only when
   * it surely is not. Must not prompt or throw; answer `true` when unsure.
   * An engine on this host (same {@linkcode hostId}) whose pid is alive is
   * never taken for dead, however long its heartbeat is silent: give no
   * `hostId` where this cannot be asked.
   */
  isProcessAlive?(pid: number): boolean;
  /**
   * Sets a file's modification time to `date` without writing to it, so that
   * it needs no free space: heartbeats go on when the disk is full. Without
   * it, a full disk stops them, and other engines take this one's jobs after
   * `claimTimeout`.
   */
  touch?(path: string, date: Date): Promise<void>;
  /**
   * A file's modification time, in ms since the epoch; fails with `"ENOENT"`
   * if it is missing. Without it, an engine that refreshes its heartbeat by
   * {@linkcode touch} alone (on a full disk) is taken for silent.
   */
  modifiedAt?(path: string): Promise<number>;
}
