/**
 * Text output of the `jobq` command: aligned tables, state colours, one-line
 * messages. Pure functions of their input, so the output is the same in
 * every runtime.
 */
import type { JobState } from "../job/job.ts";

/** One cell of a table: its text, and the ANSI colour it is painted in, if any. */
export interface Cell {
  readonly text: string;
  readonly color?: string | undefined;
}

/** A column of a table: its header and how its cells align. */
export interface Column {
  readonly header: string;
  readonly align?: "left" | "right";
}

/** ANSI foreground colours of the states, as SGR parameters. */
const STATE_COLORS: Readonly<Record<JobState, string>> = {
  NOT_STARTED: "36", // cyan
  IN_PROGRESS: "33", // yellow
  COMPLETED: "32", // green
  FAILED: "31", // red
};

/** A state name as a cell, in its colour when `color` is on. */
export function stateCell(state: JobState, color: boolean): Cell {
  return { text: state, color: color ? STATE_COLORS[state] : undefined };
}

/** `cell`'s text, wrapped in its colour's escape codes when it has one. */
export function paint(cell: Cell): string {
  return cell.color === undefined ? cell.text : `\x1b[${cell.color}m${cell.text}\x1b[39m`;
}

/** The number of characters a terminal shows for `text` (code points; no wide characters). */
function width(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/**
 * Renders rows under their headers, columns two spaces apart and padded to
 * their widest cell (colour codes do not count), without trailing spaces.
 */
export function renderTable(
  columns: readonly Column[],
  rows: readonly (readonly Cell[])[],
): string {
  const widths = columns.map((column, index) =>
    Math.max(width(column.header), ...rows.map((row) => width(row[index]?.text ?? "")))
  );
  const line = (cells: readonly Cell[]) =>
    columns.map((column, index) => {
      const cell = cells[index] ?? { text: "" };
      const padding = " ".repeat(widths[index]! - width(cell.text));
      return column.align === "right" ? padding + paint(cell) : paint(cell) + padding;
    }).join("  ").trimEnd() + "\n";
  return line(columns.map((column) => ({ text: column.header }))) + rows.map(line).join("");
}

/**
 * Makes `text` safe and short for one line of a terminal: control
 * characters (which could move the cursor or recolour the screen) and runs
 * of white space become one space, and text beyond `max` characters is cut
 * with an ellipsis.
 */
export function shorten(text: string, max: number = Infinity): string {
  const flat = sanitize(text).replace(/\s+/g, " ").trim();
  const characters = [...flat];
  return characters.length <= max ? flat : characters.slice(0, max - 1).join("") + "…";
}

/**
 * Removes the terminal escape sequences of `text` (colours, cursor moves)
 * and replaces its other control characters, line breaks included, with
 * spaces.
 */
export function sanitize(text: string): string {
  return text
    // deno-lint-ignore no-control-regex -- ESC and CSI start the sequences to remove
    .replace(/(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]/g, "")
    // deno-lint-ignore no-control-regex -- control characters are exactly what goes
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
}

/**
 * `value` as indented JSON, with DEL and the C1 control characters (CSI and
 * OSC among them), which `JSON.stringify` leaves raw, escaped as `\u…`: the
 * same value once parsed, and nothing a terminal acts on.
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f]/g,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** An epoch-milliseconds date as ISO 8601, or the number itself when no date can show it. */
export function isoDate(epochMs: number): string {
  const date = new Date(epochMs);
  return Number.isNaN(date.getTime()) ? String(epochMs) : date.toISOString();
}

/** `1 job`, `2 jobs`. */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/**
 * Label and value pairs, one per line, values aligned; a value of several
 * lines continues under the first.
 */
export function renderFields(fields: readonly (readonly [string, string | Cell])[]): string {
  const labelWidth = Math.max(...fields.map(([label]) => width(label))) + 2;
  return fields.map(([label, value]) => {
    const text = typeof value === "string" ? value : paint(value);
    const indent = "\n" + " ".repeat(labelWidth);
    return (label.padEnd(labelWidth) + text.split("\n").join(indent)).trimEnd() + "\n";
  }).join("");
}
