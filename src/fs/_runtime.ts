/** The JavaScript runtimes jobq knows how to talk to. */
export type RuntimeName = "deno" | "bun" | "node" | "other";

/**
 * Tells which runtime this is, from its globals. Deno is checked first and
 * Bun second because both also define a Node-like `process`.
 */
export function detectRuntime(): RuntimeName {
  const globals = globalThis as {
    Deno?: unknown;
    Bun?: unknown;
    process?: { versions?: { node?: string } };
  };
  if (globals.Deno !== undefined) return "deno";
  if (globals.Bun !== undefined) return "bun";
  if (globals.process?.versions?.node !== undefined) return "node";
  return "other";
}
