import { hostname } from "node:os";
import process from "node:process";

/** This process as a claim owner: its pid and its host. */
export interface ProcessIdentity {
  readonly pid: number;
  /** `undefined` when the runtime may not read it (Deno without `--allow-sys`). */
  readonly hostname: string | undefined;
}

let identity: ProcessIdentity | undefined;

/** The identity of this process, read once. */
export function processIdentity(): ProcessIdentity {
  identity ??= { pid: process.pid, hostname: readHostname() };
  return identity;
}

function readHostname(): string | undefined {
  try {
    return hostname();
  } catch {
    return undefined;
  }
}

/**
 * Tells whether a process on this host may be alive. Only "no such process"
 * counts as dead; when the runtime may not ask (Deno without `--allow-run`),
 * the answer is "maybe alive" and the claim's lease decides instead.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: unknown }).code !== "ESRCH";
  }
}
