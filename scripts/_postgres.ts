/**
 * A throwaway PostgreSQL server for the test run: Debian's `postgresql`
 * package (installed with apt-get when missing and running as root), a
 * cluster made by `initdb` in a temporary directory and started with
 * `pg_ctl`, listening on a unix socket in that directory only, without
 * fsync unless asked to be durable. `restart()` restarts it as an operator
 * would (`-m fast`: the connections are cut); `stop()` stops it
 * (`-m immediate`) and removes the directory.
 *
 * Run on its own (`deno run -A scripts/_postgres.ts [--durable]`), it starts
 * a server, prints its URL for `JOBQ_TEST_POSTGRES_URL`, and stops it on
 * Ctrl-C or SIGTERM. `--durable` keeps PostgreSQL's own settings (fsync,
 * synchronous commit, full-page writes), as the benchmark needs.
 *
 * @module
 */
import { chown, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A running server. */
export interface TestPostgres {
  /** A connection URL: the `postgres` superuser over the unix socket, no password. */
  readonly url: string;
  /**
   * Restarts the server with the same settings (`pg_ctl restart -m fast`):
   * its connections are cut and its data kept. Resolves once it accepts
   * connections again.
   */
  restart(): Promise<void>;
  /** Stops the server and removes its files; safe to call twice. */
  stop(): Promise<void>;
}

/** Why no server could be started: the reason says what to do. */
export class NoPostgresError extends Error {
  override name = "NoPostgresError";
}

const isRoot = Deno.uid?.() === 0;

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}

/** Runs a command; throws with its output when it fails. */
async function exec(command: string, args: string[], what: string): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, { args, stdin: "null" }).output();
  } catch (cause) {
    throw new NoPostgresError(`Cannot ${what}: ${(cause as Error).message}`);
  }
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  if (!output.success) throw new NoPostgresError(`Cannot ${what}:\n${text.trim()}`);
  return text;
}

/** As the `postgres` user when root (initdb and postgres refuse to run as root). */
function asServerUser(program: string, args: string[]): [string, string[]] {
  return isRoot ? ["runuser", ["-u", "postgres", "--", program, ...args]] : [program, args];
}

/** The folder of the server programs (initdb, pg_ctl), when they are installed. */
export async function findServerPrograms(): Promise<string | undefined> {
  const bin = (await exec("pg_config", ["--bindir"], "run pg_config").catch(() => "")).trim();
  if (bin !== "" && await exists(join(bin, "initdb"))) return bin;
  // pg_config may come from libpq-dev alone: look where Debian puts servers.
  for (const version of await readdir("/usr/lib/postgresql").catch(() => [])) {
    const candidate = join("/usr/lib/postgresql", version, "bin");
    if (await exists(join(candidate, "initdb"))) return candidate;
  }
  return undefined;
}

/** The folder of the server programs; installs the package first when missing and allowed. */
async function serverBinDir(): Promise<string> {
  let bin = await findServerPrograms();
  if (bin === undefined && isRoot && await exists("/usr/bin/apt-get")) {
    console.log("Installing PostgreSQL: apt-get install -y --no-install-recommends postgresql");
    await exec("apt-get", ["update", "-qq"], "run apt-get update");
    await exec(
      "apt-get",
      ["install", "-y", "-qq", "--no-install-recommends", "postgresql"],
      "install postgresql with apt-get",
    );
    bin = await findServerPrograms();
  }
  if (bin === undefined) {
    throw new NoPostgresError(
      "No PostgreSQL server programs (initdb, pg_ctl): install Debian's 'postgresql' package " +
        "(apt-get install postgresql) or point JOBQ_TEST_POSTGRES_URL at a server",
    );
  }
  return bin;
}

/** How to start a server. */
export interface TestPostgresOptions {
  /**
   * Keep PostgreSQL's durable defaults (fsync, synchronous commit, full-page
   * writes) instead of turning them off for speed: for figures that speak
   * of a real server.
   */
  durable?: boolean;
}

/** Starts a server in a new temporary directory; about 1–3 s. */
export async function startTestPostgres(
  { durable = false }: TestPostgresOptions = {},
): Promise<TestPostgres> {
  const bin = await serverBinDir();
  const dir = await mkdtemp(join(tmpdir(), "jobq-pg-"));
  const data = join(dir, "data");
  const log = join(dir, "server.log");
  const options = [
    "-c listen_addresses=''",
    `-k ${dir}`,
    ...(durable ? [] : ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]),
    "-c max_connections=200",
  ].join(" ");
  /** Runs pg_ctl on the cluster, with the server's log and settings, waiting for the server. */
  const pgCtl = (command: string[], what: string) =>
    exec(
      ...asServerUser(join(bin, "pg_ctl"), [
        ...command,
        "-w",
        "-D",
        data,
        "-l",
        log,
        "-o",
        options,
      ]),
      what,
    );
  let started = false;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      if (started) {
        const [program, args] = asServerUser(join(bin, "pg_ctl"), [
          "stop",
          "-D",
          data,
          "-m",
          "immediate",
        ]);
        await exec(program, args, "stop the test server").catch(() => {});
      }
      await rm(dir, { recursive: true, force: true });
    })();
  try {
    if (isRoot) {
      const { uid, gid } = await lookupUser("postgres");
      await chown(dir, uid, gid);
    }
    const initdb = asServerUser(join(bin, "initdb"), [
      "-D",
      data,
      "-U",
      "postgres",
      "-A",
      "trust",
      "-E",
      "UTF8",
      "--locale=C",
      "--no-sync",
      "--no-instructions",
    ]);
    await exec(...initdb, "create the test cluster with initdb");
    started = true;
    await pgCtl(["start"], "start the test server with pg_ctl");
  } catch (error) {
    const text = await Deno.readTextFile(log).catch(() => "");
    await stop();
    if (text !== "" && error instanceof NoPostgresError) error.message += `\n${text}`;
    throw error;
  }
  return {
    url: `postgres://postgres@localhost/postgres?host=${encodeURIComponent(dir)}`,
    restart: async () => {
      await pgCtl(["restart", "-m", "fast"], "restart the test server with pg_ctl");
    },
    stop,
  };
}

/** The uid and gid of a user, from /etc/passwd. */
async function lookupUser(name: string): Promise<{ uid: number; gid: number }> {
  const line = (await Deno.readTextFile("/etc/passwd")).split("\n")
    .find((line) => line.startsWith(`${name}:`));
  if (line === undefined) {
    throw new NoPostgresError(`No '${name}' user to run the test server as`);
  }
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

if (import.meta.main) {
  const server = await startTestPostgres({ durable: Deno.args.includes("--durable") });
  console.log(`JOBQ_TEST_POSTGRES_URL=${server.url}`);
  console.log("Stop with Ctrl-C.");
  // Signal listeners alone do not keep Deno running: this timer does.
  const alive = setInterval(() => {}, 1 << 30);
  const stopAndExit = async () => {
    clearInterval(alive);
    await server.stop();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stopAndExit);
  Deno.addSignalListener("SIGTERM", stopAndExit);
}
