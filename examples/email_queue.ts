/**
 * An email queue: welcome emails and a password reset, sent in the background
 * by a queue that runs two jobs at once.
 *
 * The email service is a stand-in that appends each email as a line to
 * `<directory>-outbox.log`; the user service marks users as emailed in memory.
 * The program schedules the emails, runs them, waits until each has completed
 * or failed, prints what happened and exits.
 *
 * Run with `deno run -A examples/email_queue.ts [directory]` or
 * `bun examples/email_queue.ts [directory]`; the directory defaults to
 * `./.jobs/email_queue`.
 */
import { appendFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import process from "node:process";
import { type Job, jobContext, JobQueue, JobState } from "../mod.ts";

const directory = process.argv[2] ?? join(".jobs", "email_queue");
const outbox = `${directory}-outbox.log`;

/** A stand-in for an email service: it takes a moment, then appends the email to the outbox. */
const emailService = {
  sendWelcomeEmail(email: string): Promise<void> {
    return send(email, "Welcome!");
  },
  sendPasswordReset(email: string, resetToken: string): Promise<void> {
    return send(email, `Reset your password: https://example.com/reset/${resetToken}`);
  },
};

async function send(to: string, subject: string): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
  await mkdir(dirname(outbox), { recursive: true });
  // Jobs run at least once: the job id lets a real service drop a second copy.
  await appendFile(outbox, `${to}  "${subject}"  ${jobContext().job.id}\n`);
}

/** A stand-in for a user service. */
const userService = {
  emailed: new Set<string>(),
  markEmailSent(userId: string): Promise<void> {
    this.emailed.add(userId);
    return Promise.resolve();
  },
};

interface WelcomeParams {
  userId: string;
  email: string;
}

interface PasswordResetParams {
  email: string;
  resetToken: string;
}

const emailQueue = new JobQueue({ directory, maxConcurrency: 2 });

emailQueue.registerJobHandler("sendWelcomeEmail", async (params: WelcomeParams) => {
  const { userId, email } = params;
  await emailService.sendWelcomeEmail(email);
  await userService.markEmailSent(userId);
});

emailQueue.registerJobHandler("sendPasswordReset", async (params: PasswordResetParams) => {
  const { email, resetToken } = params;
  await emailService.sendPasswordReset(email, resetToken);
});

emailQueue.on("completed", (job) => console.log(`sent       ${describe(job)}`));
emailQueue.on("failed", (job) => console.log(`failed     ${describe(job)}: ${job.error?.message}`));
emailQueue.on("error", (error) => {
  // A failed job raises an error too; the "failed" listener reports it.
  if (error.info.job?.state !== JobState.FAILED) console.error(`error: ${error.message}`);
});

console.log(`Email queue in ${directory}, emails in ${outbox}`);

// Schedule welcome emails, and a password reset a moment later.
const jobs: Job[] = [];
for (const [userId, email] of [["123", "user@example.com"], ["124", "ada@example.com"]]) {
  jobs.push(
    await emailQueue.scheduleJob({ methodName: "sendWelcomeEmail", params: { userId, email } }),
  );
}
jobs.push(
  await emailQueue.scheduleJob({
    methodName: "sendPasswordReset",
    params: { email: "user@example.com", resetToken: crypto.randomUUID() },
    waitTime: 500,
  }),
);
for (const job of jobs) console.log(`scheduled  ${describe(job)}`);

// Wait for every job scheduled above to complete or fail, then let go of the directory.
const pending = new Set(jobs.map((job) => job.id));
const settled = new Promise<void>((resolve) => {
  const settle = (job: Job) => {
    pending.delete(job.id);
    if (pending.size === 0) resolve();
  };
  emailQueue.on("completed", settle);
  emailQueue.on("failed", settle);
});
await emailQueue.start();
await settled;
await emailQueue.dispose();

const left = await emailQueue.getAllJobs();
console.log(
  `\nDone: users marked as emailed: ${[...userService.emailed].join(", ")}; ` +
    `${left.length} job file(s) left in ${directory} (completed jobs' files are removed).`,
);

function describe(job: Job): string {
  const params = job.params as { email: string };
  return `${job.methodName.padEnd(17)} ${params.email}`;
}
