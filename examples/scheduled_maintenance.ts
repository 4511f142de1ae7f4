/**
 * Scheduled maintenance: recurring jobs on a queue that runs one job at a
 * time. Old files are cleaned up every night at 2 AM (a cron schedule, local
 * time), and statistics are updated every second (an interval).
 *
 * A program cannot wait for 2 AM, so this one lets the statistics run three
 * times, then stops and leaves both schedules waiting in the directory: the
 * cleanup due at the next 2 AM, and the next statistics update. Run it again
 * and it carries on with the schedules it finds instead of adding new ones.
 * The services are stand-ins that append a line per run to
 * `<directory>-maintenance.log`.
 *
 * Run with `deno run -A examples/scheduled_maintenance.ts [directory]` or
 * `bun examples/scheduled_maintenance.ts [directory]`; the directory defaults
 * to `./.jobs/scheduled_maintenance`.
 */
import { appendFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import process from "node:process";
import { type Job, JobQueue, type JobSpec } from "../mod.ts";

const directory = process.argv[2] ?? join(".jobs", "scheduled_maintenance");
const log = `${directory}-maintenance.log`;
/** How many statistics updates this run waits for before it stops. */
const RUNS = 3;

async function record(line: string): Promise<void> {
  await mkdir(dirname(log), { recursive: true });
  await appendFile(log, `${new Date().toISOString()}  ${line}\n`);
}

/** Stand-ins for the services the jobs call. */
const fileService = { deleteOldFiles: () => record("deleted old files") };
const statsService = { updateDailyStats: () => record("updated daily statistics") };

const maintenanceQueue = new JobQueue({ directory, maxConcurrency: 1 });

maintenanceQueue.registerJobHandler("cleanupOldFiles", async () => {
  await fileService.deleteOldFiles();
});

maintenanceQueue.registerJobHandler("updateStatistics", async () => {
  await statsService.updateDailyStats();
});

maintenanceQueue.on("error", (error) => console.error(`error: ${error.message}`));

console.log(`Maintenance queue in ${directory}, log in ${log}`);

// Each occurrence of a recurring job is a job file; when one starts, the next
// is scheduled. Declared at every start: an occurrence already waiting in the
// directory is kept, not added again (an earlier run's occurrence that came
// due while nothing ran runs once, late).
const schedules: JobSpec[] = [
  // Daily cleanup at 2 AM; add `timezone: "Europe/Berlin"` for 2 AM in Berlin.
  { methodName: "cleanupOldFiles", repeat: { cron: "0 2 * * *" } },
  { methodName: "updateStatistics", repeat: { every: 1000 } },
];
for (const spec of schedules) {
  console.log(`scheduled  ${describe(await maintenanceQueue.scheduleJob(spec))}`);
}

let runs = 0;
const stopped = new Promise<void>((resolve) => {
  maintenanceQueue.on("completed", (job) => {
    console.log(`completed  ${job.methodName}`);
    if (job.methodName === "updateStatistics" && ++runs === RUNS) resolve();
  });
});
await maintenanceQueue.start();
await stopped;
// Lets a running job finish; the jobs not due yet stay in the directory.
await maintenanceQueue.dispose();

console.log(`\nStopped after ${RUNS} statistics updates. Waiting in ${directory}:`);
for (const job of await maintenanceQueue.getAllJobs()) console.log(`  ${describe(job)}`);

function describe(job: Job): string {
  const repeat = job.repeat === undefined
    ? "once"
    : "cron" in job.repeat
    ? `cron "${job.repeat.cron}"`
    : `every ${job.repeat.every} ms`;
  return `${job.methodName.padEnd(17)} ${repeat.padEnd(17)} next due ${dueIn(job.executionDate)}`;
}

function dueIn(date: number): string {
  const minutes = Math.max(0, Math.round((date - Date.now()) / 60_000));
  if (minutes === 0) return `in ${Math.max(0, Math.round((date - Date.now()) / 1000))} s`;
  const at = new Date(date).toISOString();
  return `at ${at} (in ${Math.floor(minutes / 60)} h ${minutes % 60} min)`;
}
