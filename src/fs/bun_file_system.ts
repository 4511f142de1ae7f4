import type { WriteTextFileOptions } from "./file_system.ts";
import { NodeFileSystem } from "./node_file_system.ts";

/** The part of the `Bun` namespace this adapter uses. */
interface BunApi {
  write(path: string, data: string, options: { createPath: boolean }): Promise<number>;
}

/** Reads `Bun` when a method runs, so that importing this file is safe anywhere. */
function bun(): BunApi {
  return (globalThis as unknown as { Bun: BunApi }).Bun;
}

/**
 * The {@linkcode FileSystemAdapter} for Bun, jobq's choice under Bun:
 * `Bun.write` for plain writes, where it is faster, and `node:fs` for the
 * rest: reads that must not follow links, and writes that create a file
 * exclusively, with a mode or synced, which is how jobq's own writes are
 * made.
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
  /** Writes with `Bun.write`, or through `node:fs` when exclusive, with a mode or synced. */
  override async writeTextFile(
    path: string,
    data: string,
    options: WriteTextFileOptions = {},
  ): Promise<void> {
    if (options.sync || options.createNew || options.mode !== undefined) {
      return super.writeTextFile(path, data, options);
    }
    // createPath: false, so that a deleted directory fails as on Node and Deno.
    await bun().write(path, data, { createPath: false });
  }
}
