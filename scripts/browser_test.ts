/**
 * The dashboard in a real browser: `jobq <directory> dashboard --port 0`
 * runs as a process of Deno, Bun and Node in turn, and Chromium, driven by
 * playwright-core, loads its page. A node:test file, run under Node by
 * `scripts/test.ts` (which installs Chromium and playwright-core, compiles
 * this file to `.browser/` and links the npm build there as `@x/jobq`).
 *
 * Environment: `JOBQ_ROOT` (the repository), `JOBQ_CHROMIUM` (the browser),
 * `JOBQ_DENO` (the Deno executable), and `JOBQ_SCREENSHOT` (a PNG path:
 * then it only takes the README's screenshot of a busy queue).
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { JobQueue } from "@x/jobq";

const root = process.env.JOBQ_ROOT ?? process.cwd();
const chromiumPath = process.env.JOBQ_CHROMIUM ?? "/usr/bin/chromium";
const TOKEN = "browser-test-token";
/** Job data that a page which parsed it as HTML would run. */
const IMG_ATTACK = "<img src=x onerror=alert(1)>";
const SCRIPT_ATTACK = "<script>alert(2)</script>";

/** How each runtime runs the `jobq` command. */
function commands(): Record<string, string[]> {
  const bun = execFileSync("npx", ["-y", "bun@1", "-e", "console.log(process.execPath)"], {
    encoding: "utf8",
  }).trim();
  return {
    Deno: [process.env.JOBQ_DENO ?? "deno", "run", "-A", join(root, "src", "cli", "cli.ts")],
    Bun: [bun, join(root, "src", "cli", "cli.ts")],
    Node: [process.execPath, join(root, "npm", "esm", "src", "cli", "_cli_bin.js")],
  };
}

/** A dashboard process and its address. */
interface Served {
  readonly child: ChildProcess;
  readonly url: string;
  stop(): Promise<void>;
}

async function serve(command: string[], directory: string, extra: string[]): Promise<Served> {
  const [executable, ...args] = command;
  const child = spawn(executable!, [...args, directory, "dashboard", "--port", "0", ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr!.on("data", (chunk) => output += chunk);
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`No address within 30 s: ${output}`)), 30_000);
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
      const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[0]);
      }
    });
    child.on("exit", () => reject(new Error(`The dashboard exited: ${output}`)));
  });
  return {
    child,
    url,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Fills a directory: two waiting jobs, a failed `charge` and a failed job of hostile text. */
async function populate(directory: string): Promise<void> {
  const queue = new JobQueue({ directory });
  let settled = 0;
  const both = new Promise<void>((resolve) => {
    queue.on("failed", () => ++settled === 2 && resolve());
  });
  queue.registerJobHandler("charge", () => {
    throw new Error("card declined");
  });
  queue.registerJobHandler("render", (params: { html: string }) => {
    throw new Error(params.html);
  });
  for (const to of ["a@example.com", "b@example.com"]) {
    await queue.scheduleJob({ methodName: "sendEmail", params: { to }, waitTime: 3_600_000 });
  }
  await queue.scheduleJob({ methodName: "charge", params: { order: 42 }, maxAttempts: 1 });
  await queue.scheduleJob({
    methodName: "render",
    params: { html: IMG_ATTACK, script: SCRIPT_ATTACK },
    maxAttempts: 1,
  });
  await queue.start();
  await both;
  await queue.dispose();
}

async function count(page: Page, key: string): Promise<string> {
  return (await page.locator(`[data-count="${key}"]`).textContent()) ?? "";
}

async function launch(): Promise<Browser> {
  return await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // playwright gives each launch a fresh temporary profile (--user-data-dir).
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/**
 * The README's screenshot: a queue of a few methods that a worker runs for
 * `JOBQ_SCREENSHOT_SECONDS` (150) while jobs keep coming, some failing.
 */
async function takeScreenshot(path: string): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), "jobq-demo-"));
  const seconds = Number(process.env.JOBQ_SCREENSHOT_SECONDS ?? 150);
  const worker = new JobQueue({ directory, maxConcurrency: 4, keepCompleted: { count: 40 } });
  const work = (ms: number, failRate: number, message: string) => async () => {
    await new Promise((resolve) => setTimeout(resolve, ms * (0.5 + Math.random())));
    if (Math.random() < failRate) throw new Error(message);
  };
  worker.registerJobHandler("sendEmail", work(120, 0.02, "550 5.1.1 mailbox unavailable"));
  worker.registerJobHandler("resizeImage", work(250, 0.02, "unsupported image format"));
  worker.registerJobHandler("chargeCard", work(300, 0.05, "card declined: insufficient funds"));
  worker.registerJobHandler("syncInventory", work(600, 0.03, "upstream timed out after 30 s"));
  worker.registerJobHandler("generateReport", work(800, 0, ""));
  const methods = ["sendEmail", "sendEmail", "resizeImage", "chargeCard", "syncInventory"];
  const schedule = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const methodName = methods[Math.floor(Math.random() * methods.length)]!;
      await worker.scheduleJob({ methodName, params: { n: i }, maxAttempts: 1 });
    }
  };
  for (let i = 0; i < 30; i++) {
    await worker.scheduleJob({
      methodName: i % 3 === 0 ? "generateReport" : "sendEmail",
      params: { customer: 1000 + i },
      waitTime: (i + 1) * 90_000,
    });
  }
  const served = await serve(commands().Node!, directory, []);
  await worker.start();
  const ends = Date.now() + seconds * 1000;
  while (Date.now() < ends) {
    const elapsed = 1 - (ends - Date.now()) / (seconds * 1000);
    await schedule(Math.round(6 + 10 * Math.sin(elapsed * Math.PI * 2) ** 2));
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1200, height: 980 } });
  await page.goto(served.url);
  await page.locator("body[data-loaded]").waitFor();
  await page.waitForTimeout(2000);
  await page.screenshot({ path });
  await browser.close();
  await served.stop();
  await worker.dispose();
  await rm(directory, { recursive: true, force: true });
}

if (process.env.JOBQ_SCREENSHOT !== undefined) {
  await takeScreenshot(process.env.JOBQ_SCREENSHOT);
} else {
  for (const [runtime, command] of Object.entries(commands())) {
    describe(`the dashboard served by ${runtime}`, () => {
      let browser: Browser;
      let directory: string;
      let served: Served;
      let page: Page;
      const dialogs: string[] = [];

      before(async () => {
        directory = await mkdtemp(join(tmpdir(), "jobq-browser-"));
        await populate(directory);
        browser = await launch();
        served = await serve(command, directory, []);
        page = await browser.newPage();
        page.on("dialog", (dialog) => {
          dialogs.push(dialog.message());
          void dialog.dismiss();
        });
        await page.goto(served.url);
        await page.locator("body[data-loaded]").waitFor();
      });

      after(async () => {
        await served?.stop();
        await browser?.close();
        await rm(directory, { recursive: true, force: true });
      });

      test(`${runtime}: the page shows the counts of a prepared directory`, async () => {
        assert.equal(await count(page, "NOT_STARTED"), "2");
        assert.equal(await count(page, "FAILED"), "2");
        assert.equal(await count(page, "total"), "4");
        assert.equal(await page.locator("#jobs tbody tr").count(), 4);
        assert.match(await page.locator("#location").textContent() ?? "", /jobq-browser-/);
      });

      test(`${runtime}: params and errors holding <img onerror> and <script> show as text and run nothing`, async () => {
        const row = page.locator("#jobs tbody tr", { hasText: "render" });
        assert.equal(await row.locator("td.error").textContent(), IMG_ATTACK);
        await row.click();
        const record = page.locator("#detail-record");
        await record.filter({ hasText: SCRIPT_ATTACK }).waitFor();
        assert.ok((await record.textContent())?.includes(IMG_ATTACK));
        assert.ok(await page.getByText(IMG_ATTACK).first().isVisible());
        assert.equal(await page.locator("main img, main script").count(), 0);
        assert.deepEqual(dialogs, []);
      });

      test(`${runtime}: clicking retry on a failed job makes a queue on the directory run it`, async () => {
        const worker = new JobQueue({ directory, pollInterval: 200 });
        const ran = new Promise<unknown>((resolve) =>
          worker.registerJobHandler("charge", (params: unknown) => resolve(params))
        );
        worker.registerJobHandler("render", () => {});
        worker.registerJobHandler("sendEmail", () => {});
        await worker.start();
        try {
          await page.locator("#jobs tbody tr", { hasText: "charge" }).locator("button.retry")
            .click();
          await page.locator("#message").filter({ hasText: "Retrying as job" }).waitFor();
          assert.deepEqual(await ran, { order: 42 });
          await page.locator('[data-count="FAILED"]').filter({ hasText: /^1$/ }).waitFor();
        } finally {
          await worker.dispose();
        }
        assert.deepEqual(dialogs, []);
      });

      test(`${runtime}: with a token, a request without it is refused and ?token= lets the page in`, async () => {
        const guarded = await serve(command, directory, ["--token", TOKEN]);
        const tab = await browser.newPage();
        try {
          const refused = await tab.goto(guarded.url);
          assert.equal(refused?.status(), 401);
          assert.match(await tab.locator("body").textContent() ?? "", /needs its token/);
          const api = await tab.goto(new URL("/api/overview", guarded.url).href);
          assert.equal(api?.status(), 401);
          await tab.goto(`${guarded.url}?token=${TOKEN}`);
          assert.equal(new URL(tab.url()).search, "");
          await tab.locator("body[data-loaded]").waitFor();
          // The retried job has completed and its file is gone (no keepCompleted).
          assert.equal(await count(tab, "total"), "3");
        } finally {
          await tab.close();
          await guarded.stop();
        }
      });
    });
  }
}
