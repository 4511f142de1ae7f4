/**
 * A data processing pipeline: each uploaded file is processed by one job,
 * which schedules a second job to notify its owner a second later. Three jobs
 * run at once; processing is retried when it fails.
 *
 * The file processor is a stand-in whose storage times out once; the
 * notification service appends each notification as a line to
 * `<directory>-notifications.log`. The program runs until every upload has
 * been notified (or has failed), prints what happened and exits.
 *
 * Run with `deno run -A examples/data_pipeline.ts [directory]` or
 * `bun examples/data_pipeline.ts [directory]`; the directory defaults to
 * `./.jobs/data_pipeline`.
 */
import { appendFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import process from "node:process";
import { type Job, jobContext, JobQueue, JobState } from "../mod.ts";

const directory = process.argv[2] ?? join(".jobs", "data_pipeline");
const notificationLog = `${directory}-notifications.log`;

interface ProcessingResult {
  rows: number;
  bytes: number;
}

/** A stand-in for a file processor: it reads for a moment; its storage times out once. */
const fileProcessor = {
  timeoutsLeft: new Set(["report-q3.csv"]),
  async process(fileId: string): Promise<ProcessingResult> {
    await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 100));
    if (this.timeoutsLeft.delete(fileId)) throw new Error(`storage timed out reading ${fileId}`);
    return { rows: fileId.length * 100, bytes: fileId.length * 4096 };
  },
};

/** A stand-in for a notification service: it appends each notification to a log file. */
const notificationService = {
  async notify(userId: string, message: string): Promise<void> {
    await mkdir(dirname(notificationLog), { recursive: true });
    await appendFile(notificationLog, `${userId}  ${message}\n`);
  },
};

const processingQueue = new JobQueue({ directory, maxConcurrency: 3 });

processingQueue.registerJobHandler("processUpload", async (params: UploadParams) => {
  const { fileId, userId } = params;
  console.log(`processing ${fileId} (attempt ${jobContext().attempt})`);
  // Process the uploaded file
  const result = await fileProcessor.process(fileId);
  // Schedule notification job
  await processingQueue.scheduleJob({
    methodName: "notifyCompletion",
    params: { userId, fileId, result },
    waitTime: 1000, // Small delay
  });
}, { maxAttempts: 3, backoff: { type: "fixed", delay: 300 } });

processingQueue.registerJobHandler("notifyCompletion", async (params: NotifyParams) => {
  const { userId, fileId, result } = params;
  await notificationService.notify(
    userId,
    `File ${fileId} processed successfully (${result.rows} rows, ${result.bytes} bytes)`,
  );
});

interface UploadParams {
  fileId: string;
  userId: string;
}

interface NotifyParams extends UploadParams {
  result: ProcessingResult;
}

processingQueue.on("retrying", (job) => {
  const { fileId } = job.params as UploadParams;
  const due = job.executionDate - Date.now();
  console.log(`retrying   ${fileId} in ${due} ms: ${job.error?.message}`);
});
processingQueue.on("error", (error) => {
  if (error.info.job?.state !== JobState.FAILED) console.error(`error: ${error.message}`);
});

const uploads: UploadParams[] = [
  { fileId: "photo-001.jpg", userId: "u1" },
  { fileId: "report-q3.csv", userId: "u2" },
  { fileId: "invoice-42.pdf", userId: "u1" },
  { fileId: "backup.tar", userId: "u3" },
];
console.log(`Processing queue in ${directory}, notifications in ${notificationLog}`);

// An upload is done once its notification is sent, or once its processing failed for good.
const pending = new Set(uploads.map((upload) => upload.fileId));
const done = new Promise<void>((resolve) => {
  const finish = (job: Job, outcome: string) => {
    const { fileId } = job.params as UploadParams;
    if (!pending.delete(fileId)) return;
    console.log(`${outcome.padEnd(10)} ${fileId}`);
    if (pending.size === 0) resolve();
  };
  processingQueue.on("completed", (job) => {
    if (job.methodName === "notifyCompletion") finish(job, "notified");
  });
  processingQueue.on("failed", (job) => finish(job, `failed: ${job.error?.message}`));
});

for (const upload of uploads) {
  await processingQueue.scheduleJob({ methodName: "processUpload", params: upload });
}
console.log(`Scheduled ${uploads.length} uploads.`);
await processingQueue.start();
await done;
await processingQueue.dispose();

const left = await processingQueue.getAllJobs();
console.log(`\nDone: ${uploads.length} uploads, ${left.length} job file(s) left in ${directory}.`);
