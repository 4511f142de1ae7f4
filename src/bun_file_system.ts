import type { WriteTextFileOptions } from "./file_system.ts";
import { NodeFileSystem } from "./node_file_system.ts";

/** The part of the `Bun` namespace this adapter uses. */
interface BunApi {
  file(path: string): { text(): Promise<string> };
  write(path: string, data: string, options: { createPath: boolean }): Promise<number>;
}

/** Reads `Bun` when a method runs, so that importing this file is safe anywhere. */
function bun(): BunApi {
  return (globalThis as unknown as { Bun: BunApi }).Bun;
}

/**
 * The {@linkcode FileSystemAdapter} for Bun, jobq's choice under Bun:
 * `Bun.file` and `Bun.write` for plain reads and writes, where they are
 * faster, and `node:fs` for the rest (exclusive creation, fsync, links).
 *
 * @example Choosing the adapter explicitly (under Bun)
 * ```ts ignore
 * import { BunFileSystem, JobQueue } from "@x/jobq";
 *
 * const queue = new JobQueue({ directory: "./jobs", fs: new BunFileSystem() });
 * await queue.dispose();
 * ```
 */
export class BunFileSystem extends NodeFileSystem {
  /** Reads a whole file as UTF-8 text with `Bun.file`. */
  override readTextFile(path: string): Promise<string> {
    return bun().file(path).text();
  }

  /** Writes with `Bun.write`, or through `node:fs` when exclusive or synced. */
  override async writeTextFile(
    path: string,
    data: string,
    options: WriteTextFileOptions = {},
  ): Promise<void> {
    if (options.sync) {
      return super.writeTextFile(path, data, options);
    }
    // createPath: false, so that a deleted directory fails as on Node and Deno.
    await bun().write(path, data, { createPath: false });
  }
}
