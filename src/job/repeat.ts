import { Cron } from "croner";
import { describe } from "./_validate.ts";

/**
 * How a recurring job repeats: on a cron expression (five fields, or six with
 * seconds first), in a time zone (the process's own when absent), or every
 * `every` milliseconds (at multiples of `every` since the epoch, so that every
 * process agrees on the dates).
 *
 * Each occurrence is a job of its own; when one starts, the next is
 * scheduled. Occurrences missed while no engine ran are run once, late, and
 * the schedule goes on from the present: they are not run once each. An
 * occurrence whose time comes while it is being stored may have run in
 * another process meanwhile: the next one is stored instead.
 *
 * @example
 * ```ts
 * import type { Repeat } from "@x/jobq";
 *
 * const nightly: Repeat = { cron: "0 2 * * *", timezone: "Europe/Berlin" };
 * const everyMinute: Repeat = { every: 60_000 };
 * ```
 */
export type Repeat =
  | {
    /** A cron expression, such as `"0 2 * * *"` for 2 AM daily. */
    cron: string;
    /** An IANA time zone, such as `"Europe/Berlin"`. */
    timezone?: string;
  }
  | {
    /** The interval between occurrences, in ms. */
    every: number;
  };

/**
 * Throws unless `repeat` is a valid {@linkcode Repeat}: a `TypeError` for a
 * wrong shape or a cron expression croner cannot parse, a `RangeError` for
 * an interval out of range.
 */
export function assertRepeat(repeat: unknown, context: string): asserts repeat is Repeat {
  if (typeof repeat !== "object" || repeat === null) {
    throw new TypeError(
      `${context} as 'repeat' must be { cron, timezone? } or { every }: it is ${describe(repeat)}`,
    );
  }
  const keys = Object.keys(repeat).sort().join(",");
  if (keys === "every") {
    const every = (repeat as { every: unknown }).every;
    if (typeof every !== "number") {
      throw new TypeError(`${context} as 'repeat.every' must be a number of milliseconds`);
    }
    if (!Number.isSafeInteger(every) || every < 1) {
      throw new RangeError(
        `${context} as 'repeat.every' must be a positive integer number of milliseconds: current value is ${every}`,
      );
    }
    return;
  }
  if (keys !== "cron" && keys !== "cron,timezone") {
    throw new TypeError(
      `${context} as 'repeat' must be { cron, timezone? } or { every }: it has ${
        keys === "" ? "no keys" : `keys ${keys}`
      }`,
    );
  }
  const { cron, timezone } = repeat as { cron: unknown; timezone?: unknown };
  if (typeof cron !== "string" || (timezone !== undefined && typeof timezone !== "string")) {
    throw new TypeError(`${context} as 'repeat.cron' and 'repeat.timezone' must be strings`);
  }
  try {
    cronOf(cron, timezone).nextRun();
  } catch (cause) {
    throw new TypeError(
      `${context} as 'repeat' is not a valid schedule (${(cause as Error).message}): ` +
        "use five cron fields such as '0 2 * * *' and an IANA time zone such as 'Europe/Berlin'",
      { cause },
    );
  }
}

/**
 * The first occurrence of `repeat` strictly after `after` (epoch ms), or
 * `undefined` when the schedule has none left (a cron date in the past).
 */
export function nextOccurrence(repeat: Repeat, after: number): number | undefined {
  // Aligned to multiples of the interval since the epoch, so that processes
  // started at different times agree on the occurrences.
  if ("every" in repeat) return (Math.floor(after / repeat.every) + 1) * repeat.every;
  return cronOf(repeat.cron, repeat.timezone).nextRun(new Date(after))?.getTime();
}

function cronOf(pattern: string, timezone: string | undefined): Cron {
  // Paused: croner only computes dates here; jobq's own timers run the jobs.
  return new Cron(pattern, { paused: true, ...(timezone === undefined ? {} : { timezone }) });
}
