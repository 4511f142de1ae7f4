/**
 * Installs the npm package the way a user does, and uses it: packs `npm/`
 * (written by `deno task build:npm`) into a tarball, installs it into a fresh
 * project in a temporary directory (with TypeScript and Node's types from the
 * npm registry), then
 *
 * 1. runs an ESM program under Node that imports `@x/jobq`, schedules a job,
 *    processes it and checks the outcome;
 * 2. when the package has the `jobq` command, runs it from `node_modules/.bin/`
 *    to count the job the program left;
 * 3. type-checks a TypeScript file that uses the package's types (and those
 *    of `@x/jobq/cli`, when it is exported), strictly and with the package's
 *    declarations checked too, with `tsc --noEmit` under
 *    `moduleResolution: "node16"` (with Node's types) and `"bundler"` (with
 *    the DOM library instead).
 *
 * Exits with 1 on the first failure. Needs only Node and npm besides Deno;
 * npm's cache makes repeated runs fast.
 *
 * Usage: `deno run -A scripts/smoke_npm.ts [--keep]` after
 * `deno task build:npm`; `--keep` leaves the temporary project in place.
 *
 * @module
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const npmDir = join(root, "npm");
/** A step that takes longer than this is hung, or the registry is unreachable. */
const STEP_TIMEOUT_MS = 3 * 60_000;

/** A failure whose message says everything; printed without a stack. */
class SmokeFailure extends Error {
  override name = "SmokeFailure";
}

/**
 * Runs `command` in `cwd` and returns its stdout, shown unless `echo` is
 * false; throws with its output unless it exits with 0.
 */
async function run(
  label: string,
  command: string,
  args: string[],
  cwd: string,
  echo = true,
): Promise<string> {
  console.log(`--- ${label}`);
  const started = performance.now();
  const output = await new Deno.Command(command, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  }).output();
  const decoder = new TextDecoder();
  const stdout = decoder.decode(output.stdout);
  const stderr = decoder.decode(output.stderr);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (!output.success) {
    throw new SmokeFailure(
      `${label} failed (${output.signal ?? `exit code ${output.code}`}) after ${seconds} s:\n` +
        `${stdout}${stderr}`,
    );
  }
  if (echo && stdout.trim() !== "") console.log(stdout.trimEnd());
  console.log(`    ok in ${seconds} s`);
  return stdout;
}

/** The ESM program a Node user could write: schedule a job, run it, check what happened. */
const PROGRAM = `\
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { JobQueue, JobQueueError, JobState } from "@x/jobq";

// The installed package, not a copy elsewhere.
assert.match(import.meta.resolve("@x/jobq"), /\\/project\\/node_modules\\/@x\\/jobq\\/esm\\/mod\\.js$/);
assert.equal(new JobQueueError("x").name, "JobQueueError");

const directory = "jobs";
const queue = new JobQueue({ directory, keepCompleted: true });
try {
  const sums = [];
  queue.registerJobHandler("add", (a, b) => {
    sums.push(a + b);
  });
  const outcome = new Promise((resolve) => {
    queue.on("completed", resolve);
    queue.on("failed", resolve);
  });
  const job = await queue.scheduleJob({ methodName: "add", params: [2, 3] });
  await queue.start();
  const done = await outcome;
  assert.equal(done.id, job.id);
  assert.equal(done.state, JobState.COMPLETED, done.error?.message);
  assert.deepEqual(sums, [5]);
  const files = (await readdir(directory)).filter((name) => !name.startsWith("."));
  assert.deepEqual(files, [\`add__\${job.id}.json\`]);
  console.log(\`job \${job.id} ran add(2, 3) = \${sums[0]} and completed\`);
} finally {
  await queue.dispose();
}
`;

/** TypeScript using the package's types; the expected errors prove they are not \`any\`. */
const TYPED_SOURCE = `\
import {
  type Job,
  jobContext,
  JobQueue,
  JobQueueError,
  type JobQueueOptions,
  type JobSpec,
  JobState,
} from "@x/jobq";

interface Email {
  to: string;
  subject: string;
}

const options: JobQueueOptions = { directory: "./jobs", maxConcurrency: 2, fsync: false };
const queue = new JobQueue(options);
queue.registerJobHandler("sendEmail", async (params: Email): Promise<void> => {
  const { job, attempt, signal }: { job: Job; attempt: number; signal: AbortSignal } =
    jobContext();
  console.log(params.to, job.id, attempt, signal.aborted);
}, { maxAttempts: 3, backoff: { type: "exponential", delay: 1000 }, timeout: 10_000 });

const spec: JobSpec = {
  methodName: "sendEmail",
  params: { to: "user@example.com", subject: "Hello" },
  waitTime: 5000,
};
const job: Job = await queue.scheduleJob(spec);
const state: JobState = job.state;
const executionDate: number = job.executionDate;
const off: () => void = queue.on("failed", (failed: Job) => {
  const message: string | undefined = failed.error?.message;
  console.log(message);
});
queue.on("error", (error: JobQueueError) => console.log(error.info.job?.id, error.cause));
queue.addEventListener("completed", (event) => console.log(event.job.id));
off();
const jobs: Job[] = await queue.getAllJobs();
console.log(state, executionDate, jobs.length, JobState.FAILED satisfies "FAILED");

// @ts-expect-error methodName must be a string
await queue.scheduleJob({ methodName: 42 });
// @ts-expect-error there is no such event
queue.on("finished", () => {});
// @ts-expect-error a job is immutable
job.state = JobState.COMPLETED;

await queue.dispose({ timeout: 1000 });
`;

/** Appended to {@linkcode TYPED_SOURCE} when the package exports `@x/jobq/cli`. */
const TYPED_CLI_SOURCE = `
import { type CliIo, main } from "@x/jobq/cli";

const io: CliIo = { stdout: (text: string) => console.log(text), stderr: () => {} };
const status: number = await main(["./jobs", "stats", "--json"], io);
// @ts-expect-error the arguments are strings
await main([42]);
console.log(status);
`;

/**
 * Strict settings as a Node project (like @tsconfig/node20) and a bundled web
 * project have them. The package's declarations name `Symbol.asyncDispose`,
 * which Node's types declare, and otherwise the `ESNext.Disposable` library
 * (TypeScript 5.2 and later).
 */
const TSCONFIGS = {
  node16: {
    target: "ES2022",
    lib: ["ES2023"],
    module: "node16",
    moduleResolution: "node16",
    types: ["node"],
  },
  bundler: {
    target: "ES2022",
    lib: ["ES2022", "ESNext.Disposable", "DOM", "DOM.Iterable"],
    module: "esnext",
    moduleResolution: "bundler",
    types: [],
  },
} as const;

async function main(args: string[]): Promise<void> {
  const keep = args.includes("--keep");
  const unknown = args.filter((arg) => arg !== "--keep");
  if (unknown.length > 0) {
    throw new SmokeFailure(
      `Unknown argument(s) ${unknown.join(" ")}; usage: smoke_npm.ts [--keep]`,
    );
  }
  const packageJson = await readFile(join(npmDir, "package.json"), "utf8").catch(() => {
    throw new SmokeFailure(
      "npm/package.json is missing: build the package first (deno task build:npm)",
    );
  });
  const { name, version, bin, exports } = JSON.parse(packageJson) as {
    name: string;
    version: string;
    bin?: Record<string, string>;
    exports?: Record<string, unknown>;
  };
  const started = performance.now();
  const temp = await mkdtemp(join(tmpdir(), "jobq-smoke-"));
  try {
    const packed = await run(
      `npm pack (npm/ into ${temp})`,
      "npm",
      ["pack", "--json", "--pack-destination", temp],
      npmDir,
      false,
    );
    const [{ filename }] = JSON.parse(packed) as [{ filename: string }];
    const tarball = join(temp, filename);
    await stat(tarball);

    const project = join(temp, "project");
    await mkdir(project);
    await writeFile(
      join(project, "package.json"),
      JSON.stringify({ name: "jobq-smoke", private: true, type: "module" }, null, 2) + "\n",
    );
    await run(
      `npm install ${filename} typescript@5.9 @types/node@20`,
      "npm",
      [
        "install",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
        tarball,
        "typescript@5.9",
        "@types/node@20",
      ],
      project,
    );
    const installed = JSON.parse(
      await readFile(join(project, "node_modules", ...name.split("/"), "package.json"), "utf8"),
    ) as { version: string };
    if (installed.version !== version) {
      throw new SmokeFailure(
        `npm installed ${name}@${installed.version}, not the packed ${version}`,
      );
    }

    await writeFile(join(project, "program.mjs"), PROGRAM);
    await run(`node program.mjs (imports ${name})`, "node", ["program.mjs"], project);

    if (bin?.jobq !== undefined) {
      // The command npm links into node_modules/.bin/, on the job the program left.
      const stats = await run(
        "jobq jobs stats --json",
        join(project, "node_modules", ".bin", "jobq"),
        ["jobs", "stats", "--json"],
        project,
        false,
      );
      const { byState } = JSON.parse(stats) as { byState?: Record<string, number> };
      if (byState?.COMPLETED !== 1) {
        throw new SmokeFailure(
          `jobq stats counted ${JSON.stringify(byState)}, not 1 completed job`,
        );
      }
      console.log("    it counts the 1 completed job the program left");
    }

    const withCli = exports?.["./cli"] !== undefined;
    await writeFile(join(project, "check.ts"), TYPED_SOURCE + (withCli ? TYPED_CLI_SOURCE : ""));
    for (const [resolution, settings] of Object.entries(TSCONFIGS)) {
      const config = `tsconfig.${resolution}.json`;
      const tsconfig = {
        compilerOptions: { ...settings, strict: true, noEmit: true, skipLibCheck: false },
        files: ["check.ts"],
      };
      await writeFile(join(project, config), JSON.stringify(tsconfig, null, 2) + "\n");
      const tsc = join(project, "node_modules", "typescript", "bin", "tsc");
      await run(`tsc --noEmit -p ${config} (moduleResolution ${resolution})`, "node", [
        tsc,
        "--noEmit",
        "-p",
        config,
      ], project);
    }
  } finally {
    if (keep) console.log(`The temporary project is kept in ${temp}`);
    else await rm(temp, { recursive: true, force: true });
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `${name}@${version} from npm pack: installed, ran under Node` +
      `${bin?.jobq === undefined ? "" : " (and its jobq command)"}, and type-checked under ` +
      `moduleResolution node16 and bundler, in ${seconds} s`,
  );
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    console.error(
      error instanceof SmokeFailure ? `npm smoke test failed: ${error.message}` : error,
    );
    Deno.exit(1);
  }
}
