/**
 * One worker of the cluster demo (`scripts/demo_cluster.ts`): a queue on a
 * PostgreSQL schema that runs `resizeImage` jobs until SIGTERM. The same
 * file runs under Deno and Bun as it is, and under Node from the npm build
 * (`npm/scripts/_cluster_worker.js`).
 *
 * Arguments: `<name> <url> <schema>`. It prints `ready <runtime>` once
 * started, `started <id> <attempt>` and `completed <id>` per job, `error
 * <message>` per error, and `disposed` once stopped. Each job's result names
 * the worker that ran it, so that the database tells who completed what.
 *
 * Engines on PostgreSQL judge each other by leases on the server's clock,
 * never by process ids: each worker is as good as on a machine of its own.
 *
 * @module
 */
import process from "node:process";
import { JobQueue } from "../mod.ts";
import { PostgresJobStore } from "../src/store/postgres/mod.ts";

/** How long a worker may go silent before the others take its jobs: short, for a demo. */
const CLAIM_TIMEOUT_MS = 2000;

/** The params of a demo job: an image number and how long "resizing" it takes. */
interface ResizeParams {
  image: number;
  ms: number;
}

const [name, url, schema] = process.argv.slice(2);
if (name === undefined || url === undefined || schema === undefined) {
  throw new TypeError("usage: _cluster_worker <name> <url> <schema>");
}

const runtimeName = "Deno" in globalThis
  ? `Deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}`
  : "Bun" in globalThis
  ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : `Node ${process.versions.node}`;

const queue = new JobQueue({
  store: new PostgresJobStore({ url, schema }),
  maxConcurrency: 4,
  claimTimeout: CLAIM_TIMEOUT_MS,
  pollInterval: 250,
  // The demo's summary reads who completed each job from its result.
  keepCompleted: true,
});
queue.registerJobHandler("resizeImage", async ({ ms }: ResizeParams) => {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return { worker: name };
});
queue.on("started", (job) => print(`started ${job.id} ${job.attempts}`));
queue.on("completed", (job) => print(`completed ${job.id}`));
queue.on("error", (error) => print(`error ${error.message.replaceAll("\n", " ")}`));

function print(line: string): void {
  process.stdout.write(line + "\n");
}

const stop = async () => {
  await queue.dispose();
  print("disposed");
  process.exit(0);
};
process.once("SIGTERM", () => void stop());
process.once("SIGINT", () => void stop());
await queue.start();
print(`ready ${runtimeName}`);
