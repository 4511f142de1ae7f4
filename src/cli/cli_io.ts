/**
 * Where `main` of `@x/jobq/cli` writes, and how.
 *
 * @example Capturing the output
 * ```ts
 * import type { CliIo } from "@x/jobq/cli";
 *
 * let stdout = "";
 * const io: CliIo = { stdout: (text) => stdout += text, stderr: () => {}, color: false };
 * ```
 */
export interface CliIo {
  /** Receives what the command prints: tables, records, JSON. */
  stdout(text: string): void;
  /** Receives error messages and warnings, one line each. */
  stderr(text: string): void;
  /**
   * Colour the state names.
   *
   * @default {false}
   */
  color?: boolean;
}
