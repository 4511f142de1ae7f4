/** The latest date an id can carry: ISO strings sort as text only up to year 9999. */
export const MAX_EXECUTION_DATE = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** How many ids the 4 base-36 digits of the sequence tell apart within one millisecond. */
const SEQUENCE_LIMIT = 36 ** 4;

let lastCreatedAt = 0;
let sequence = 0;

/**
 * Makes a job id: `<execution date>-<creation stamp>-<random>`, for example
 * `2024-01-01T12-00-00-000Z-m1x2y3z40000-9f3a61c2`.
 *
 * Sorting ids as text sorts jobs by execution date, then by creation order
 * (creation time in ms, then a per-process counter, both fixed-width base 36);
 * the random part keeps ids unique across processes. Only `[0-9A-Za-z-]` is
 * used, so an id is safe in a file name on every platform.
 */
export function createJobId(executionDate: number): string {
  // Never back in time: ids keep their creation order when the clock steps
  // back. Every id of this process may then share one millisecond until the
  // clock catches up: a full sequence moves on to the next one, so that an
  // id keeps its width (a longer one is refused on load).
  let now = Math.max(Date.now(), lastCreatedAt);
  sequence = now === lastCreatedAt ? sequence + 1 : 0;
  if (sequence === SEQUENCE_LIMIT) {
    now++;
    sequence = 0;
  }
  lastCreatedAt = now;
  const stamp = now.toString(36).padStart(9, "0") +
    sequence.toString(36).padStart(4, "0");
  const random = nextRandom().toString(16).padStart(8, "0");
  return `${formatDateForId(executionDate)}-${stamp}-${random}`;
}

// Random numbers are drawn 256 at a time, and the date's text is kept for the
// next id: making ids was a seventh of the process's own time when scheduling
// many jobs at once, half of it in these two.
const randoms = new Uint32Array(256);
let nextRandomIndex = randoms.length;

function nextRandom(): number {
  if (nextRandomIndex === randoms.length) {
    crypto.getRandomValues(randoms);
    nextRandomIndex = 0;
  }
  return randoms[nextRandomIndex++]!;
}

let lastDate = NaN;
let lastDateText = "";

/** `2024-01-01T12:00:00.000Z` becomes `2024-01-01T12-00-00-000Z`. */
function formatDateForId(date: number): string {
  if (date !== lastDate) {
    lastDateText = new Date(date).toISOString().replace(/[:.]/g, "-");
    lastDate = date;
  }
  return lastDateText;
}

/** Ids as {@linkcode createJobId} makes them; anything else is refused on load. */
export const JOB_ID_PATTERN: RegExp =
  /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-[0-9a-z]{13}-[0-9a-f]{8}$/;

/**
 * The execution date an id was made with, in epoch ms: the date a job was
 * first due (a retry can make it due later), read from its file name alone.
 */
export function executionDateOfId(id: string): number {
  const [, day, hours, minutes, seconds, ms] =
    /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})-(\d{3})Z/
      .exec(id) ?? [];
  return Date.parse(`${day}T${hours}:${minutes}:${seconds}.${ms}Z`);
}
