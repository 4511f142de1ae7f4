/**
 * The jobq demo: the email queue of the README, made real.
 *
 * A queue in `./.jobs/demo` (or the directory given as the first argument)
 * sends a batch of emails through a fake email service that writes each email
 * as a line to `./.jobs/demo-outbox.log`:
 *
 * - 6 welcome emails now, and one to an address the service rejects (it fails);
 * - 3 password resets due in 1, 2 and 3 seconds;
 * - 1 follow-up due in 10 minutes, left for a later run.
 *
 * It prints a line per job as it starts, completes or fails, waits until every
 * job due in the next seconds has settled, prints a summary of the directory
 * and exits. Run it again: it finds the follow-ups the earlier runs left, and
 * any job an interrupted run (Ctrl-C) did not get to, and runs what is due.
 *
 * Run with `deno task demo [directory]` or `bun scripts/demo.ts [directory]`.
 */
import { appendFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import process from "node:process";
import { type Job, jobContext, JobQueue, JobState } from "../mod.ts";

const directory = process.argv[2] ?? join(".jobs", "demo");
const outbox = join(dirname(directory), `${basename(directory)}-outbox.log`);
const startTime = Date.now();

interface WelcomeParams {
  userId: string;
  email: string;
}

interface PasswordResetParams {
  email: string;
  resetToken: string;
}

/** A stand-in for a real email service: it takes a moment, then "sends" by appending to a file. */
const emailService = {
  async send(to: string, subject: string, idempotencyKey: string): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
    if (to.endsWith("@invalid.example")) throw new Error(`550 no such mailbox: ${to}`);
    // A real service would drop a second email with the same key: jobs run at
    // least once, so a job cut short by a crash may send again.
    await appendFile(
      outbox,
      `${new Date().toISOString()}  ${to}  "${subject}"  ${idempotencyKey}\n`,
    );
  },
};

// Completed jobs' files are removed by default; the demo keeps the newest 50
// so that its summary, and the next run's, show the jobs that ran.
const queue = new JobQueue({ directory, maxConcurrency: 2, keepCompleted: { count: 50 } });

// Handlers are registered before start(): a due job whose method has no
// handler fails.
queue.registerJobHandler("sendWelcomeEmail", async ({ email }: WelcomeParams) => {
  await emailService.send(email, "Welcome!", jobContext().job.id);
});
queue.registerJobHandler("sendPasswordReset", async (params: PasswordResetParams) => {
  const link = `https://example.com/reset/${params.resetToken}`;
  await emailService.send(params.email, `Reset your password: ${link}`, jobContext().job.id);
});
queue.registerJobHandler("sendFollowUp", async ({ email }: WelcomeParams) => {
  await emailService.send(email, "How are you getting on?", jobContext().job.id);
});

queue.on("started", (job) => {
  const attempt = job.attempts > 1
    ? ` (attempt ${job.attempts}: an earlier run was cut short)`
    : "";
  log(`started    ${describe(job)}${attempt}`);
});
queue.on("completed", (job) => log(`completed  ${describe(job)}  in ${runTime(job)}`));
queue.on("failed", (job) => {
  log(`failed     ${describe(job)}  in ${runTime(job)}: ${job.error?.message}`);
});
queue.on("error", (error) => {
  // A failed job also raises an error event; the "failed" listener shows it.
  if (error.info.job?.state !== JobState.FAILED) console.error(`error: ${error.message}`);
});

console.log(`jobq demo: jobs in ${directory}, emails in ${outbox}`);

// What earlier runs left: follow-ups not due yet, jobs an interrupted run did
// not start or finish. The queue runs them along with the new batch.
const earlier = await queue.getAllJobs();
const unfinished = earlier.filter((job) => !isSettled(job));
console.log(
  earlier.length === 0
    ? "Found no jobs from earlier runs in the directory."
    : `Found ${earlier.length} jobs from earlier runs in the directory, ` +
      `${earlier.length - unfinished.length} finished and ${unfinished.length} not run yet` +
      (unfinished.length > 0 ? ":" : "."),
);
for (const job of unfinished) console.log(`  ${describe(job)}  ${dueIn(job)}`);
if (unfinished.some((job) => job.state === JobState.IN_PROGRESS)) {
  console.log(
    "A job that was running when its process was killed starts again once jobq can tell that " +
      "the process is dead: at once if it may check processes on this host (under Deno: " +
      "--allow-sys and --allow-run), otherwise after claimTimeout (30 s).",
  );
}

const batch = await scheduleBatch();
// Due long after this run ends: the next run finds it waiting.
await queue.scheduleJob({
  methodName: "sendFollowUp",
  params: { userId: "u1", email: "ada@example.com" },
  waitTime: 10 * 60 * 1000,
});
// Wait for every job due by the time the last password reset is, including
// those found above; later ones, such as the follow-ups, stay for a later run.
const lastDue = Math.max(...batch.map((job) => job.executionDate));
const awaited = [...unfinished, ...batch].filter((job) => job.executionDate <= lastDue);
console.log("Scheduled 7 welcome emails now, 3 password resets in 1-3 s, 1 follow-up in 10 min.");
console.log(`Waiting for the ${awaited.length} jobs due in the next ${secondsUntil(lastDue)} s.`);

// Ctrl-C stops the wait: dispose() then lets running jobs finish, and the
// jobs not started stay in the directory for the next run.
let interrupt = () => {};
const interrupted = new Promise<"interrupted">((resolve) => {
  interrupt = () => resolve("interrupted");
});
process.on("SIGINT", interrupt);
try {
  const settled = whenSettled(new Set(awaited.map((job) => job.id)));
  await queue.start();
  if (await Promise.race([settled, interrupted]) === "interrupted") {
    log("interrupted: letting running jobs finish; the rest stay for the next run");
  }
} finally {
  // Waits for running handlers and lets go of the directory; afterwards no
  // timer keeps the process alive.
  await queue.dispose();
  process.off("SIGINT", interrupt);
}
await printSummary();

/** Schedules the emails due in the next seconds. */
async function scheduleBatch(): Promise<Job[]> {
  const users = ["ada", "grace", "alan", "edsger", "barbara", "donald"];
  const jobs: Job[] = [];
  for (const [index, name] of users.entries()) {
    jobs.push(
      await queue.scheduleJob({
        methodName: "sendWelcomeEmail",
        params: { userId: `u${index + 1}`, email: `${name}@example.com` },
      }),
    );
  }
  jobs.push(
    await queue.scheduleJob({
      methodName: "sendWelcomeEmail",
      params: { userId: "u7", email: "nobody@invalid.example" },
    }),
  );
  for (const [index, name] of ["grace", "alan", "barbara"].entries()) {
    jobs.push(
      await queue.scheduleJob({
        methodName: "sendPasswordReset",
        params: { email: `${name}@example.com`, resetToken: crypto.randomUUID() },
        waitTime: (index + 1) * 1000,
      }),
    );
  }
  return jobs;
}

/** Resolves once every job in `ids` has completed or failed. */
function whenSettled(ids: Set<string>): Promise<"settled"> {
  return new Promise((resolve) => {
    const settle = (job: Job) => {
      ids.delete(job.id);
      if (ids.size === 0) resolve("settled");
    };
    queue.on("completed", settle);
    queue.on("failed", settle);
    if (ids.size === 0) resolve("settled");
  });
}

/** Prints how many jobs the directory holds in each state, and the failed and waiting ones. */
async function printSummary(): Promise<void> {
  const jobs = await queue.getAllJobs();
  console.log(`\nSummary of ${directory} (${jobs.length} jobs):`);
  for (const state of Object.values(JobState)) {
    console.log(`  ${state.padEnd(12)} ${jobs.filter((job) => job.state === state).length}`);
  }
  const failed = jobs.filter((job) => job.state === JobState.FAILED);
  if (failed.length > 0) console.log("Failed:");
  for (const job of failed) console.log(`  ${describe(job)}  ${job.error?.message}`);
  const waiting = jobs.filter((job) => !isSettled(job));
  if (waiting.length > 0) console.log("Not run yet:");
  for (const job of waiting) console.log(`  ${describe(job)}  ${dueIn(job)}`);
}

function isSettled(job: Job): boolean {
  return job.state === JobState.COMPLETED || job.state === JobState.FAILED;
}

function describe(job: Job): string {
  const params = job.params as { email?: string } | undefined;
  return `${job.methodName.padEnd(17)} ${params?.email ?? ""}`;
}

function dueIn(job: Job): string {
  if (job.state === JobState.IN_PROGRESS) return "was running when its process stopped: runs again";
  const seconds = secondsUntil(job.executionDate);
  if (seconds === 0) return "due now";
  if (seconds < 60) return `due in ${seconds} s`;
  return `due in ${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

function secondsUntil(date: number): number {
  return Math.max(0, Math.round((date - Date.now()) / 1000));
}

/** How long a finished job's handler ran. */
function runTime(job: Job): string {
  return `${job.finishedAt! - job.startedAt!} ms`;
}

function log(message: string): void {
  const elapsed = ((Date.now() - startTime) / 1000).toFixed(2).padStart(6);
  console.log(`[${elapsed} s] ${message}`);
}
