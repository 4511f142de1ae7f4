/**
 * The one test command: static checks, the suite under Deno (with the JSDoc
 * examples), under Bun, and under Node against the npm build, then the npm
 * package's file list and a smoke test of the packed package installed into
 * a fresh project. Runs one step at a time and stops at the first failure;
 * ends with one line per runtime and the total.
 *
 * Needs only Node and npm besides Deno: Bun and TypeScript come from npm.
 * The dashboard's browser test needs Chromium and playwright-core: Chromium
 * comes from `apt-get install -y chromium` when missing and running as root
 * (`JOBQ_CHROMIUM` names another), playwright-core from npm into `.browser/`.
 * Without a browser the test is skipped with a warning, except under
 * `CI=true`, where that fails the run.
 *
 * The PostgreSQL store's tests get a throwaway server (`scripts/_postgres.ts`:
 * Debian's `postgresql`, installed with apt-get when missing and running as
 * root), started while the static checks run, named to every runtime's tests
 * by `JOBQ_TEST_POSTGRES_URL`, and stopped and removed at the end, on failure
 * and on Ctrl-C. When `JOBQ_TEST_POSTGRES_URL` is set, that server is used
 * instead. Without a server those tests skip with a warning, except under
 * `CI=true`, where that fails the run.
 *
 * With a server, each runtime then runs the feature tests
 * ({@linkcode POSTGRES_FEATURE_TESTS}) a second time on PostgresJobStore
 * (`JOBQ_TEST_STORE=postgres`: `tests/_store.ts`), one fresh schema per
 * queue group; the tests about the file store itself skip in that pass.
 *
 * Usage: `deno task test`
 *
 * @module
 */
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import ts from "typescript";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NoPostgresError, startTestPostgres, type TestPostgres } from "./_postgres.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const deno = Deno.execPath();
/** A step that runs this long is hung (a leaked timer or handle, most likely): stop it. */
const STEP_TIMEOUT_MS = 5 * 60_000;
/** How long a stopped step gets to exit after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 10_000;

/**
 * The feature tests that run a second time on PostgreSQL: about 40 s per
 * runtime here. The other test files are about the file store, the CLI, the
 * dashboard or the build, or have PostgreSQL tests of their own.
 */
const POSTGRES_FEATURE_TESTS = [
  "bulk",
  "hung_handlers",
  "job_queue",
  "job_queue_engine",
  "pause",
  "priorities",
  "recurring",
  "results",
  "retention",
  "retries",
  "timeouts",
  "types",
  "unique",
  "waiting",
].map((name) => `${name}_test`);

/** The environment of a PostgreSQL pass. */
const ON_POSTGRES = { JOBQ_TEST_STORE: "postgres" };

/** Whether there is a server for the PostgreSQL pass (after `preparePostgres()`). */
function hasPostgres(): boolean {
  return (Deno.env.get("JOBQ_TEST_POSTGRES_URL") ?? "") !== "";
}

/** Test counts of one run of a runtime's test runner. */
interface Counts {
  passed: number;
  failed: number;
  /** The runner's own summary, for the report. */
  summary: string;
}

/** Counts by runtime, in the order the runtimes ran. */
const results = new Map<string, Counts[]>();
/** Failed steps that report no test counts (a lint error, a crash): each counts as one failure. */
let uncountedFailures = 0;
const started = performance.now();

/** Ends the run: a failure message (when there is one), the summary, the exit code. */
class StepFailure extends Error {
  override name = "StepFailure";
}

interface RunOptions {
  /** Capture the output (still shown as it comes) to read the test counts from it. */
  capture?: boolean;
  /** Show the captured stdout. */
  echo?: boolean;
  cwd?: string;
  /** Environment variables to set for the step, beside the inherited ones. */
  env?: Record<string, string>;
}

interface RunResult {
  code: number;
  /** What the step printed on stdout, when captured. */
  stdout: string;
  /** Its stdout, then its stderr, when captured. */
  output: string;
  timedOut: boolean;
}

/** The step running now, stopped on Ctrl-C. */
let currentChild: Deno.ChildProcess | undefined;

/** Runs one step with no stdin, shows its output and how long it took. */
async function run(
  label: string,
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  console.log(`\n=== ${label}`);
  const stepStarted = performance.now();
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd ?? root,
    ...(options.env === undefined ? {} : { env: options.env }),
    stdin: "null",
    stdout: options.capture ? "piped" : "inherit",
    stderr: options.capture ? "piped" : "inherit",
  }).spawn();
  currentChild = child;
  let timedOut = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const stepTimer = setTimeout(() => {
    timedOut = true;
    kill(child, "SIGTERM");
    killTimer = setTimeout(() => kill(child, "SIGKILL"), KILL_GRACE_MS);
  }, STEP_TIMEOUT_MS);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const pumps = options.capture
    ? [
      tee(child.stdout, options.echo === false ? undefined : Deno.stdout, stdout),
      tee(child.stderr, Deno.stderr, stderr),
    ]
    : [];
  const [status] = await Promise.all([child.status, ...pumps]);
  clearTimeout(stepTimer);
  clearTimeout(killTimer);
  const seconds = ((performance.now() - stepStarted) / 1000).toFixed(1);
  console.log(`--- ${label}: exit code ${status.code} after ${seconds} s`);
  return {
    code: status.code,
    stdout: stdout.join(""),
    output: `${stdout.join("")}\n${stderr.join("")}`,
    timedOut,
  };
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // It has exited already.
  }
}

/** Copies `stream` to `sink` (if any) as it comes, and its text to `chunks`. */
async function tee(
  stream: ReadableStream<Uint8Array>,
  sink: { write(data: Uint8Array): Promise<number> } | undefined,
  chunks: string[],
): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    for (let written = 0; sink !== undefined && written < chunk.length;) {
      written += await sink.write(chunk.subarray(written));
    }
    chunks.push(decoder.decode(chunk, { stream: true }));
  }
}

function failureReason(label: string, result: RunResult): string {
  return result.timedOut
    ? `${label} was stopped after ${STEP_TIMEOUT_MS / 1000} s: something hung ` +
      "(a timer, a child process or a handle left open keeps a runner alive)"
    : `${label} failed with exit code ${result.code}; its output is above`;
}

/** Runs a step that must exit with 0. */
async function check(label: string, command: string, args: string[]): Promise<void> {
  const result = await run(label, command, args);
  if (result.code !== 0) {
    uncountedFailures++;
    throw new StepFailure(failureReason(label, result));
  }
}

/** Runs a test runner, records its counts, and fails the run when it failed. */
async function testRun(
  runtime: string,
  label: string,
  command: string,
  args: string[],
  parse: (output: string) => Counts | undefined,
  options: RunOptions = {},
): Promise<void> {
  const result = await run(label, command, args, { ...options, capture: true });
  // Colors are off when the output is piped, unless FORCE_COLOR asks for them.
  // deno-lint-ignore no-control-regex -- ESC starts the color codes to strip
  const counts = parse(result.output.replace(/\x1b\[[0-9;]*m/g, ""));
  if (counts !== undefined) results.set(runtime, [...results.get(runtime) ?? [], counts]);
  if (result.code === 0 && counts === undefined) {
    uncountedFailures++;
    throw new StepFailure(
      `${label} passed but printed no test counts: is the runner's output new?`,
    );
  }
  if (result.code !== 0) {
    if (counts === undefined || counts.failed === 0) uncountedFailures++;
    throw new StepFailure(failureReason(label, result));
  }
}

/** The last match of `pattern` (global) in `text`. */
function lastMatch(text: string, pattern: RegExp): RegExpMatchArray | undefined {
  return [...text.matchAll(pattern)].at(-1);
}

/**
 * Deno runs each node:test `describe()` as a test and the tests inside it as
 * steps, and reports both ("3 passed (12 steps)"): both are counted.
 */
function parseDeno(output: string): Counts | undefined {
  const match = lastMatch(
    output,
    /^(?:ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?.*$/gm,
  );
  if (match === undefined) return undefined;
  const [summary, passed, passedSteps, failed, failedSteps] = match;
  return {
    passed: Number(passed) + Number(passedSteps ?? 0),
    failed: Number(failed) + Number(failedSteps ?? 0),
    summary,
  };
}

function parseBun(output: string): Counts | undefined {
  const passed = lastMatch(output, /^\s*(\d+) pass$/gm)?.[1];
  const failed = lastMatch(output, /^\s*(\d+) fail$/gm)?.[1];
  const ran = lastMatch(output, /^Ran \d+ tests? across \d+ files?\..*$/gm)?.[0];
  if (passed === undefined || failed === undefined) return undefined;
  return { passed: Number(passed), failed: Number(failed), summary: ran ?? "" };
}

/** Node's spec reporter ends with "ℹ pass N", "ℹ fail N", "ℹ cancelled N" lines. */
function parseNode(output: string): Counts | undefined {
  const count = (name: string) => lastMatch(output, new RegExp(`^ℹ ${name} (\\d+)$`, "gm"))?.[1];
  const [tests, passed, failed, cancelled] = ["tests", "pass", "fail", "cancelled"].map(count);
  if (passed === undefined || failed === undefined) return undefined;
  return {
    passed: Number(passed),
    failed: Number(failed) + Number(cancelled ?? 0),
    summary: `tests ${tests}, pass ${passed}, fail ${failed}, cancelled ${cancelled ?? 0}`,
  };
}

/** `npm pack --dry-run` must list the package's JavaScript, declarations and documents only. */
async function checkPackContents(): Promise<void> {
  const label = "npm pack --dry-run (in npm/)";
  const result = await run(label, "npm", ["pack", "--dry-run", "--json"], {
    capture: true,
    echo: false,
    cwd: join(root, "npm"),
  });
  if (result.code !== 0) {
    uncountedFailures++;
    throw new StepFailure(failureReason(label, result));
  }
  const [pack] = JSON.parse(result.stdout) as [{ files: { path: string }[]; size: number }];
  const paths = pack.files.map((file) => file.path).sort();
  console.log(paths.join("\n"));
  const allowed = /^(?:package\.json|README\.md|LICENSE|esm\/.+\.(?:js|d\.ts))$/;
  const testFile = /(?:^|\/)(?:tests?|fixtures)\/|[._]test\./;
  const problems = [
    ...paths.filter((path) => testFile.test(path) || !allowed.test(path))
      .map((path) => `${testFile.test(path) ? "test file" : "not needed by users"}: ${path}`),
    ...["package.json", "README.md", "LICENSE", "esm/mod.js", "esm/mod.d.ts"]
      .filter((path) => !paths.includes(path)).map((path) => `missing: ${path}`),
  ];
  if (problems.length > 0) {
    uncountedFailures++;
    throw new StepFailure(`The npm package's file list is wrong:\n  ${problems.join("\n  ")}`);
  }
  console.log(
    `npm pack lists ${paths.length} files (${(pack.size / 1024).toFixed(1)} kB packed), ` +
      "no test files",
  );
}

/**
 * The npm package as users get it (`scripts/smoke_npm.ts`): packed, installed
 * into a fresh project, imported by a Node program and type-checked by tsc.
 * Counts as one check.
 */
async function smokeTest(): Promise<void> {
  const label = "npm package smoke test: deno run -A scripts/smoke_npm.ts";
  const result = await run(label, deno, ["run", "-A", "scripts/smoke_npm.ts"]);
  const passed = result.code === 0;
  results.set("npm package", [{
    passed: passed ? 1 : 0,
    failed: passed ? 0 : 1,
    summary: "packed, installed, run under Node, type-checked with node16 and bundler resolution",
  }]);
  if (!passed) throw new StepFailure(failureReason(label, result));
}

/** The version of playwright-core the browser test installs. */
const PLAYWRIGHT_VERSION = "1.57.0";

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}

/** Chromium's path, installed with apt-get when missing and possible; `undefined` if none. */
async function findChromium(): Promise<string | undefined> {
  const given = Deno.env.get("JOBQ_CHROMIUM");
  if (given !== undefined) return given;
  const path = "/usr/bin/chromium";
  if (await exists(path)) return path;
  if (Deno.uid?.() === 0 && await exists("/usr/bin/apt-get")) {
    await check("apt-get update", "apt-get", ["update", "-qq"]);
    await check("apt-get install -y chromium", "apt-get", ["install", "-y", "-qq", "chromium"]);
    if (await exists(path)) return path;
  }
  return undefined;
}

/**
 * The dashboard in Chromium (`scripts/browser_test.ts`), under Node against
 * the npm build: playwright-core is installed into `.browser/`, the test
 * compiled there, and the npm build linked there as `@x/jobq`.
 */
async function browserTest(): Promise<void> {
  const chromium = await findChromium();
  if (chromium === undefined) {
    const message = "No Chromium for the browser test: install it (apt-get install chromium) " +
      "or name it with JOBQ_CHROMIUM";
    if (Deno.env.get("CI") === "true") {
      uncountedFailures++;
      throw new StepFailure(message);
    }
    console.warn(`\nWARNING: ${message}; the browser test is skipped`);
    results.set("Browser", [{ passed: 0, failed: 0, summary: "SKIPPED: no Chromium" }]);
    return;
  }
  const folder = join(root, ".browser");
  const installed = join(folder, "node_modules", "playwright-core", "package.json");
  const version = await readFile(installed, "utf8").then(
    (text) => JSON.parse(text).version,
    () => "",
  );
  if (version !== PLAYWRIGHT_VERSION) {
    await mkdir(folder, { recursive: true });
    await check(`npm install playwright-core@${PLAYWRIGHT_VERSION} (into .browser/)`, "npm", [
      "install",
      "--no-save",
      "--no-audit",
      "--no-fund",
      "--prefix",
      folder,
      `playwright-core@${PLAYWRIGHT_VERSION}`,
    ]);
  }
  const link = join(folder, "node_modules", "@x", "jobq");
  await rm(link, { force: true, recursive: true });
  await mkdir(join(folder, "node_modules", "@x"), { recursive: true });
  await symlink(join(root, "npm"), link, "dir");
  const source = await readFile(join(root, "scripts", "browser_test.ts"), "utf8");
  const compiled = ts.transpileModule(source, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 },
  }).outputText;
  const script = join(folder, "browser_test.mjs");
  await writeFile(script, compiled);
  const env = { JOBQ_ROOT: root, JOBQ_CHROMIUM: chromium, JOBQ_DENO: deno };
  for (const [name, value] of Object.entries(env)) Deno.env.set(name, value);
  await testRun(
    "Browser",
    "node --test (scripts/browser_test.ts: Chromium on Deno, Bun, Node)",
    "node",
    [
      "--test",
      "--test-reporter=spec",
      script,
    ],
    parseNode,
  );
}

/** The throwaway server, once started. */
let testPostgres: TestPostgres | undefined;

/**
 * Starts the throwaway PostgreSQL server, unless `JOBQ_TEST_POSTGRES_URL`
 * names one, and hands its URL to the test runs through the environment.
 */
async function preparePostgres(): Promise<void> {
  const given = Deno.env.get("JOBQ_TEST_POSTGRES_URL");
  if (given !== undefined && given !== "") {
    console.log("PostgreSQL tests use the server of JOBQ_TEST_POSTGRES_URL");
    return;
  }
  const started = performance.now();
  try {
    testPostgres = await startTestPostgres();
  } catch (error) {
    if (!(error instanceof NoPostgresError)) throw error;
    if (Deno.env.get("CI") === "true") {
      uncountedFailures++;
      throw new StepFailure(`No PostgreSQL for the tests: ${error.message}`);
    }
    console.warn(`\nWARNING: ${error.message}; the PostgreSQL tests are skipped`);
    return;
  }
  Deno.env.set("JOBQ_TEST_POSTGRES_URL", testPostgres.url);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`\nPostgreSQL for the tests started in ${seconds} s (${testPostgres.url})`);
}

/** The Markdown files whose TypeScript blocks are type-checked and run as doc tests. */
async function markdownDocs(): Promise<string[]> {
  const inDocs = (await readdir(join(root, "docs")))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", "CONTRIBUTING.md", ...inDocs];
}

/** Settles when the server is ready (or failed to start: then with the error). */
let postgresReady: Promise<unknown> = Promise.resolve();

async function main(): Promise<void> {
  // The server starts while the static checks run.
  postgresReady = preparePostgres().then(() => undefined, (error: unknown) => error);
  // (a) Static checks and JSR readiness.
  await check("deno fmt --check", deno, ["fmt", "--check"]);
  await check("deno lint", deno, ["lint"]);
  // Every entry point the package exports is documented in full.
  const entryPoints = Object.values(
    JSON.parse(await readFile(join(root, "deno.json"), "utf8")).exports as Record<string, string>,
  );
  await check(`deno doc --lint ${entryPoints.join(" ")}`, deno, ["doc", "--lint", ...entryPoints]);
  await check("deno check (the entry points) tests/ scripts/ examples/", deno, [
    "check",
    ...entryPoints,
    "tests/",
    "scripts/",
    "examples/",
  ]);
  // The docs' examples are code users copy: they must compile.
  const docs = await markdownDocs();
  await check(`deno check --doc-only ${docs.join(" ")}`, deno, ["check", "--doc-only", ...docs]);
  await check("deno publish --dry-run --allow-dirty", deno, [
    "publish",
    "--dry-run",
    "--allow-dirty",
  ]);

  const postgresError = await postgresReady;
  if (postgresError !== undefined) throw postgresError;

  // (b) Deno: the suite, then the JSDoc examples.
  await testRun("Deno", "deno test -A tests/", deno, ["test", "-A", "tests/"], parseDeno);
  if (hasPostgres()) {
    await testRun(
      "Deno",
      "deno test -A (feature tests on PostgreSQL: JOBQ_TEST_STORE=postgres)",
      deno,
      ["test", "-A", ...POSTGRES_FEATURE_TESTS.map((name) => `tests/${name}.ts`)],
      parseDeno,
      { env: ON_POSTGRES },
    );
  }
  await testRun("Deno", "deno test -A --doc mod.ts src/ (JSDoc examples)", deno, [
    "test",
    "-A",
    "--doc",
    "mod.ts",
    "src/",
  ], parseDeno);
  // The docs' snippets run as written, in a scratch directory: some use ./jobs.
  const scratch = await Deno.makeTempDir({ prefix: "jobq-docs-" });
  try {
    await testRun(
      "Deno",
      `deno test -A --doc ${docs.join(" ")} (the docs' snippets)`,
      deno,
      [
        "test",
        "-A",
        "--config",
        join(root, "deno.json"),
        "--doc",
        ...docs.map((path) => join(root, path)),
      ],
      parseDeno,
      { cwd: scratch },
    );
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }

  // (c) Bun, from npm.
  await testRun(
    "Bun",
    "npx -y bun@1 test tests/",
    "npx",
    ["-y", "bun@1", "test", "tests/"],
    parseBun,
  );
  if (hasPostgres()) {
    await testRun(
      "Bun",
      "npx -y bun@1 test (feature tests on PostgreSQL: JOBQ_TEST_STORE=postgres)",
      "npx",
      ["-y", "bun@1", "test", ...POSTGRES_FEATURE_TESTS.map((name) => `tests/${name}.ts`)],
      parseBun,
      { env: ON_POSTGRES },
    );
  }

  // (d) Node, against the npm build.
  await check("npm build: deno run -A scripts/build_npm.ts --tests", deno, [
    "run",
    "-A",
    "scripts/build_npm.ts",
    "--tests",
  ]);
  const nodeTests = (await readdir(join(root, "npm", "test"), { recursive: true }))
    .filter((path) => /[._]test\.js$/.test(path))
    .map((path) => join("npm", "test", path))
    .sort();
  if (nodeTests.length === 0) {
    uncountedFailures++;
    throw new StepFailure("The npm build wrote no test files to npm/test/");
  }
  // Node 20 does not expand globs: every file is named.
  await testRun("Node", "node --test (npm/test/, against npm/esm/)", "node", [
    "--test",
    "--test-reporter=spec",
    ...nodeTests,
  ], parseNode);
  if (hasPostgres()) {
    await testRun(
      "Node",
      "node --test (feature tests on PostgreSQL: JOBQ_TEST_STORE=postgres)",
      "node",
      [
        "--test",
        "--test-reporter=spec",
        ...POSTGRES_FEATURE_TESTS.map((name) => join("npm", "test", `${name}.js`)),
      ],
      parseNode,
      { env: ON_POSTGRES },
    );
  }
  await browserTest();
  await checkPackContents();
  await smokeTest();
}

function printSummary(): void {
  console.log("\n=== Summary");
  let passed = 0;
  let failed = uncountedFailures;
  for (const [runtime, runs] of results) {
    const runtimePassed = runs.reduce((sum, counts) => sum + counts.passed, 0);
    const runtimeFailed = runs.reduce((sum, counts) => sum + counts.failed, 0);
    passed += runtimePassed;
    failed += runtimeFailed;
    const summaries = runs.map((counts) => counts.summary).filter((summary) => summary !== "");
    console.log(
      `${runtime}: ${runtimePassed} passed, ${runtimeFailed} failed (${summaries.join("; ")})`,
    );
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  console.log(`Total time: ${seconds} s`);
  console.log(`${passed} passed, ${failed} failed`);
}

/** Stops the throwaway server, once it has started. */
async function stopPostgres(): Promise<void> {
  await postgresReady;
  await testPostgres?.stop();
}

// On Ctrl-C (or a SIGINT to this process alone) the step and the server stop too.
Deno.addSignalListener("SIGINT", () => {
  console.error("\nInterrupted: stopping the running step and the PostgreSQL server");
  if (currentChild !== undefined) kill(currentChild, "SIGTERM");
  stopPostgres().finally(() => Deno.exit(130));
});

let exitCode = 0;
try {
  await main();
  printSummary();
} catch (error) {
  if (!(error instanceof StepFailure)) uncountedFailures++;
  console.error(`\nFAILED: ${error instanceof StepFailure ? error.message : error}`);
  printSummary();
  exitCode = 1;
} finally {
  await stopPostgres();
}
Deno.exit(exitCode);
