/** Options for {@linkcode FileSystemAdapter.writeTextFile}. */
export interface WriteTextFileOptions {
  /**
   * Flush the file's data to the disk (`fsync`) before resolving.
   *
   * @default {false}
   */
  sync?: boolean;
  /**
   * Create the file, failing with `"EEXIST"` if the name exists, even as a
   * symbolic link (`O_CREAT | O_EXCL`): nothing is written through a link
   * someone planted at the name.
   *
   * @default {false}
   */
  createNew?: boolean;
  /**
   * The permission bits of a file this call creates; the process umask
   * applies. A file that exists keeps its own.
   *
   * @default {0o666}
   */
  mode?: number;
}

/**
 * Options for {@linkcode FileSystemAdapter.readTextFile}.
 *
 * @example
 * ```ts
 * import type { ReadTextFileOptions } from "@x/jobq";
 *
 * const options: ReadTextFileOptions = { maxBytes: 1024 * 1024 };
 * ```
 */
export interface ReadTextFileOptions {
  /**
   * Fail with `"EFBIG"` rather than read a file larger than this, in bytes.
   *
   * @default {Infinity}
   */
  maxBytes?: number;
}

/**
 * Options for {@linkcode FileSystemAdapter.mkdir}.
 *
 * @example
 * ```ts
 * import type { MkdirOptions } from "@x/jobq";
 *
 * const options: MkdirOptions = { mode: 0o700 };
 * ```
 */
export interface MkdirOptions {
  /**
   * The permission bits of every directory this call creates; the process
   * umask applies. Directories that exist keep their own.
   *
   * @default {0o777}
   */
  mode?: number;
}

/**
 * What {@linkcode FileSystemAdapter.lstat} tells about a path: of a symbolic
 * link, the link itself.
 *
 * @example
 * ```ts
 * import type { FileInfo } from "@x/jobq";
 *
 * const info: FileInfo = { kind: "file", size: 42, mode: 0o600 };
 * ```
 */
export interface FileInfo {
  /**
   * `"file"` for a regular file, `"directory"`, `"symlink"`, or `"other"`
   * (a FIFO, a socket, a device).
   */
  kind: "file" | "directory" | "symlink" | "other";
  /** The size in bytes. */
  size: number;
  /** The permission bits (`0o777` and the setuid, setgid and sticky bits), where the system has them. */
  mode?: number;
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
 *   readTextFile: (path, options) => inner.readTextFile(path, options),
 *   writeTextFile: (path, data, options) => {
 *     writes++;
 *     return inner.writeTextFile(path, data, options);
 *   },
 *   rename: (from, to) => inner.rename(from, to),
 *   remove: (path) => inner.remove(path),
 *   readDir: (path) => inner.readDir(path),
 *   mkdir: (path, options) => inner.mkdir(path, options),
 *   link: (existing, newPath) => inner.link(existing, newPath),
 *   syncDir: (path) => inner.syncDir(path),
 *   lstat: (path) => inner.lstat(path),
 * };
 * ```
 */
export interface FileSystemAdapter {
  /**
   * Reads a whole regular file as UTF-8 text, without following a symbolic
   * link (fails with `"ELOOP"`) and without waiting on a FIFO or reading a
   * device (fails with `"EFTYPE"`; a directory with `"EISDIR"`).
   */
  readTextFile(path: string, options?: ReadTextFileOptions): Promise<string>;
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
  mkdir(path: string, options?: MkdirOptions): Promise<void>;
  /** Creates a hard link; fails with `"EEXIST"` if `newPath` exists. */
  link(existing: string, newPath: string): Promise<void>;
  /** Flushes a directory's entries (creations, renames) to the disk. */
  syncDir(path: string): Promise<void>;
  /** Tells what a path is, its size and mode, without following a symbolic link. */
  lstat(path: string): Promise<FileInfo>;
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
