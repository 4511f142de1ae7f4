import { constants } from "node:fs";
import * as fs from "node:fs/promises";
import { codedError } from "./_fs_errors.ts";
import type { FileInfo } from "./file_system.ts";

/**
 * Opened without following a link at the last step and without blocking on a
 * FIFO (whose open waits for a writer). Deno's `Deno.open` takes neither
 * flag, its `node:fs` does: every adapter reads through here.
 */
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Reads a regular file as UTF-8 text, as `FileSystemAdapter.readTextFile`
 * promises: a link fails with ELOOP, a FIFO or a device with EFTYPE, a
 * directory with EISDIR, a file over `maxBytes` with EFBIG, unread.
 */
export async function readRegularTextFile(path: string, maxBytes = Infinity): Promise<string> {
  const file = await fs.open(path, READ_FLAGS);
  try {
    const info = await file.stat();
    if (info.isDirectory()) {
      throw codedError("EISDIR", `illegal operation on a directory, read '${path}'`);
    }
    if (!info.isFile()) throw codedError("EFTYPE", `not a regular file, read '${path}'`);
    const tooLarge = () =>
      codedError("EFBIG", `file larger than ${maxBytes} bytes, read '${path}'`);
    if (info.size > maxBytes) throw tooLarge();
    // One byte more than the size, to see the end; grown if the file grows.
    let buffer = new Uint8Array(Math.min(info.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > maxBytes) throw tooLarge();
        const grown = new Uint8Array(Math.min(maxBytes + 1, buffer.length * 2));
        grown.set(buffer);
        buffer = grown;
      }
      const wanted = buffer.length - length;
      const { bytesRead } = await file.read(buffer, length, wanted, null);
      length += bytesRead;
      // A regular file reads short only at its end: no further read is needed to see it.
      if (bytesRead < wanted) break;
    }
    return decoder.decode(buffer.subarray(0, length));
  } finally {
    await file.close();
  }
}

/** The kind of file a `node:fs` stat describes. */
export function kindOf(
  stats: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean },
): FileInfo["kind"] {
  if (stats.isFile()) return "file";
  if (stats.isDirectory()) return "directory";
  return stats.isSymbolicLink() ? "symlink" : "other";
}
