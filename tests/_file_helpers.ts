/**
 * Helpers of the tests that look at files as the operating system sees
 * them: permission bits, and FIFOs that must not hang a test.
 */
import { closeSync, constants, openSync } from "node:fs";
import { stat } from "node:fs/promises";
import process from "node:process";
import { after, before } from "node:test";

/** Runs the tests of the calling file under umask 022, the usual one: modes are checked as created. */
export function underUsualUmask(): void {
  let umask: number;
  before(() => {
    umask = process.umask(0o022);
  });
  after(() => {
    process.umask(umask);
  });
}

/** The permission bits of a path. */
export async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** Lets a reader blocked on opening a FIFO go, so that a failing test cannot hang the run. */
export function unblockFifo(path: string): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // No reader waits (ENXIO), or the FIFO is gone: nothing to unblock.
  }
}
