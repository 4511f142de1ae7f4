/**
 * The long soak: N jobs through P worker processes sharing one directory,
 * with random handler failures (retried), random timeouts and random
 * SIGKILLs of workers (each restarted at once), then a check that every job
 * is accounted for: completed, or FAILED after its attempts, exactly once;
 * that no job ran twice at once; that every rerun follows a run a kill cut
 * short; that no job file is corrupt and nothing is left running. Prints the
 * figures and exits with 1 on any violation.
 *
 * Usage: `deno run -A scripts/soak.ts [--jobs 100000] [--processes 4]
 * [--seconds S] [--kills K] [--concurrency 8] [--keep]`
 *
 * - `--seconds S`: stop scheduling after S seconds; the jobs scheduled by
 *   then are run and checked.
 * - `--kills K`: how many workers to SIGKILL (default: one per 2,500 jobs).
 * - `--keep`: keep the job directory and the run log (kept anyway on failure).
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { formatFigures, runSoak } from "../tests/_soak.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string", default: "100000" },
    processes: { type: "string", default: "4" },
    seconds: { type: "string" },
    kills: { type: "string" },
    concurrency: { type: "string", default: "8" },
    keep: { type: "boolean", default: false },
  },
});

/** Reads a positive integer option, or stops with a usage message. */
function positive(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    console.error(`--${name} must be a non-negative integer: it is ${text}`);
    process.exit(2);
  }
  return value;
}

const jobs = positive("jobs", values.jobs)!;
const seconds = positive("seconds", values.seconds);
const root = await mkdtemp(join(tmpdir(), "jobq-soak-"));
console.log(`Soak in ${root}`);
const { figures, violations } = await runSoak({
  root,
  jobs,
  processes: positive("processes", values.processes)!,
  kills: positive("kills", values.kills) ?? Math.max(2, Math.round(jobs / 2500)),
  restart: true,
  maxConcurrency: positive("concurrency", values.concurrency)!,
  // Polls read the whole directory: with 100,000 files, not too often.
  pollInterval: 250,
  // Only empty claims (a kill between creating and writing one) wait this long.
  claimTimeout: 10_000,
  maxAttempts: 3,
  backoff: 10,
  timeout: 100,
  failRate: 0.1,
  timeoutRate: 0.02,
  workMs: 2,
  ...(seconds === undefined ? {} : { scheduleSeconds: seconds }),
  deadlineSeconds: (seconds ?? 3600) + 600,
  progress: (line) => console.log(line),
});
console.log(formatFigures(figures));
if (violations.length > 0) {
  console.log(`\n${violations.length} violation(s):`);
  for (const violation of violations.slice(0, 50)) console.log(`- ${violation}`);
  console.log(`The directory and the run log are kept in ${root}`);
  process.exit(1);
}
console.log("\nNo violation: every job is accounted for.");
if (values.keep) console.log(`The directory and the run log are kept in ${root}`);
else await rm(root, { recursive: true, force: true });
