import process from "node:process";

/**
 * Whether the process `pid` on this host may exist: signal 0 checks without
 * sending anything, and only "no such process" (`ESRCH`) says no. A refusal
 * (`EPERM`: another user's process) means it exists.
 */
export function processMayExist(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: unknown }).code !== "ESRCH";
  }
}
