/**
 * The `jobq` command as a process: standard output and error as its
 * {@linkcode CliIo}, and its exit status.
 */
import process from "node:process";
import type { CliIo } from "./cli_io.ts";

/**
 * The process's standard output and error; state names coloured only when
 * standard output is a terminal and `NO_COLOR` is not set. Output to a pipe
 * whose reader has gone (`jobq … list | head`) is dropped quietly; any other
 * failure to write is reported and makes the exit status 1.
 */
export function processIo(): CliIo {
  let stdoutOpen = true;
  process.stdout.on("error", (error: Error & { code?: unknown }) => {
    stdoutOpen = false;
    if (error.code === "EPIPE") return;
    process.stderr.write(`jobq: cannot write to standard output: ${error.message}\n`);
    process.exitCode = 1;
  });
  return {
    stdout: (text) => {
      if (stdoutOpen) process.stdout.write(text);
    },
    stderr: (text) => void process.stderr.write(text),
    color: process.stdout.isTTY === true && !noColor(),
  };
}

/** Whether `NO_COLOR` asks for no colour (https://no-color.org): set and not empty. */
function noColor(): boolean {
  try {
    const value = process.env.NO_COLOR;
    return value !== undefined && value !== "";
  } catch {
    // Not allowed to read the environment: plain text is the safe choice.
    return true;
  }
}

/**
 * Runs `main` on the process's arguments and standard streams and sets the
 * exit status, without exiting: pending output is written first.
 */
export async function runAsProgram(
  main: (args: string[], io: CliIo) => Promise<number>,
): Promise<void> {
  const status = await main(process.argv.slice(2), processIo());
  // A failed write may have set 1 already.
  process.exitCode = Math.max(Number(process.exitCode ?? 0) || 0, status);
}
