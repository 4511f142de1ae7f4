/**
 * FileJobStore against the store conformance suite: on a temporary
 * directory as it is, and through a file system that holds calls back and
 * loses removals of temporary files.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FileSystemAdapter, NodeFileSystem } from "../mod.ts";
import { FileJobStore } from "../src/store/mod.ts";
import { testJobStore } from "../src/store/testing.ts";
import { FaultyFileSystem } from "./_faulty_fs.ts";

/**
 * The adapter of the suite's other engines: they stand for engines on other
 * machines, which the store judges by their heartbeats. (On this host, a live
 * process is proof of life, and the suite's "dead" engines live in this one.)
 */
class OnAnotherHost extends NodeFileSystem {
  override hostId(): string {
    return "another-host.invalid";
  }
}

/** Fresh storage in a temporary directory, through `fs` for each instance. */
function onTempDirectory(fs: (host: FileSystemAdapter) => FileSystemAdapter) {
  return async () => {
    const directory = await mkdtemp(join(tmpdir(), "jobq-store-"));
    // A short pollInterval: watch() lists the directory that often.
    const store = (host: FileSystemAdapter) =>
      new FileJobStore({ directory, fsync: false, pollInterval: 20, fs: fs(host) });
    return {
      store: store(new NodeFileSystem()),
      another: () => store(new OnAnotherHost()),
      cleanUp: () => rm(directory, { recursive: true, force: true }),
    };
  };
}

testJobStore("FileJobStore", onTempDirectory((host) => host));

/**
 * A disk that is slow now and then, and that cannot always remove temporary
 * files: every third call is held back 1 to 6 ms, which reorders the calls of
 * operations that run at once (two engines claiming, a watch listing while
 * another engine adds); and every fifth removal of a temporary file fails
 * with EIO. The store must survive both unseen: a slow call changes nothing
 * but timing, and a temporary file left behind is swept later. Faults that
 * fail a store operation (a write, a listing, a read) are left out: the
 * contract lets the operation reject, which the suite's assertions do not.
 */
function slowAndLeaky(host: FileSystemAdapter): FileSystemAdapter {
  const fs = new FaultyFileSystem(host);
  let count = 0;
  let removals = 0;
  fs.disturb((call) => {
    count++;
    if (call.method === "remove" && call.path.endsWith(".tmp") && ++removals % 5 === 0) {
      return { kind: "fail", code: "EIO" };
    }
    return count % 3 === 0 ? { kind: "slow", delay: 1 + count % 6 } : undefined;
  });
  return fs;
}

testJobStore(
  "FileJobStore on a slow disk that leaks temporary files",
  onTempDirectory(slowAndLeaky),
);
