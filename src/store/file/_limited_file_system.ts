import { Limiter } from "../../_async.ts";
import type { FileSystemAdapter } from "../../fs/file_system.ts";

/** `fs` with at most `limit` of its operations in flight; the others wait. */
export function limitOperations(fs: FileSystemAdapter, limit: number): FileSystemAdapter {
  const limiter = new Limiter(limit);
  return {
    readTextFile: (path, options) => limiter.run(() => fs.readTextFile(path, options)),
    writeTextFile: (path, data, options) =>
      limiter.run(() => fs.writeTextFile(path, data, options)),
    rename: (from, to) => limiter.run(() => fs.rename(from, to)),
    remove: (path) => limiter.run(() => fs.remove(path)),
    readDir: (path) => limiter.run(() => fs.readDir(path)),
    mkdir: (path, options) => limiter.run(() => fs.mkdir(path, options)),
    link: (existing, newPath) => limiter.run(() => fs.link(existing, newPath)),
    syncDir: (path) => limiter.run(() => fs.syncDir(path)),
    lstat: (path) => limiter.run(() => fs.lstat(path)),
    ...(fs.touch &&
      { touch: (path: string, date: Date) => limiter.run(() => fs.touch!(path, date)) }),
    ...(fs.modifiedAt &&
      { modifiedAt: (path: string) => limiter.run(() => fs.modifiedAt!(path)) }),
    // Questions about processes open no file.
    ...(fs.hostId && { hostId: () => fs.hostId!() }),
    ...(fs.isProcessAlive && { isProcessAlive: (pid: number) => fs.isProcessAlive!(pid) }),
  };
}
