import process from "node:process";

/** Where Linux tells a process which pid namespace it lives in. */
export const PID_NAMESPACE_LINK = "/proc/self/ns/pid";

/**
 * `host` and the pid namespace `readNamespace` reads, such as
 * `web-1 pid:[4026531836]`; `host` alone where there is no such thing (not
 * Linux). `undefined` on Linux when the namespace cannot be read (no
 * permission, no `/proc`): containers may share a host name, so pids are
 * then no proof of anything and claims are recovered by lease only.
 */
export function withPidNamespace(
  host: string,
  readNamespace: () => string,
): string | undefined {
  try {
    return `${host} ${readNamespace()}`;
  } catch {
    return process.platform === "linux" ? undefined : host;
  }
}

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
