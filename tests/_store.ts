/**
 * The store the feature tests run on, chosen by the test set-up:
 * `JOBQ_TEST_STORE=postgres` (with `JOBQ_TEST_POSTGRES_URL`) runs them on
 * PostgresJobStore, one fresh schema per place; anything else (the default)
 * on a file store in a fresh temporary directory.
 *
 * A test speaks of a *place*: where a group of queues keeps its jobs — a
 * directory, or a schema. Queues built on one place share one queue, as
 * engines on one directory (or one schema) do. Tests about the file store
 * itself (its files, directory, file system, fsync) take
 * {@linkcode fileStoreOnly}.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Job, type JobQueueOptions } from "../mod.ts";
import { PostgresJobStore } from "../src/store/postgres/mod.ts";

/** The store of this run. */
export const testStore: "file" | "postgres" = process.env.JOBQ_TEST_STORE === "postgres"
  ? "postgres"
  : "file";

const postgresUrl = process.env.JOBQ_TEST_POSTGRES_URL || undefined;

if (testStore === "postgres" && postgresUrl === undefined) {
  throw new Error(
    "JOBQ_TEST_STORE=postgres needs JOBQ_TEST_POSTGRES_URL: run the tests with " +
      "`deno task test`, which starts a PostgreSQL server, or point it at one",
  );
}

/**
 * The options of a test that is about the file store itself (its files, its
 * directory, the file system, fsync): skipped when the run is on another
 * store. `test("…", fileStoreOnly, async () => …)`.
 */
export const fileStoreOnly: { skip: string | false } = {
  skip: testStore === "file" ? false : "about the file store; this run is on " + testStore,
};

/** Where a group of queues keeps its jobs: a directory, or a PostgreSQL schema. */
export type Place = string;

/**
 * The store options of one more queue on `place`: the directory (without
 * fsync: durability is rarely the point), or a new PostgresJobStore on the
 * schema (each engine has a store of its own).
 */
export function storeOptions(place: Place): Pick<JobQueueOptions, "directory" | "fsync" | "store"> {
  return testStore === "file"
    ? { directory: place, fsync: false }
    : { store: new PostgresJobStore({ url: postgresUrl!, schema: place, maxConnections: 2 }) };
}

/** A client of the test's own, for creating and dropping schemas. */
async function adminClient() {
  const { default: postgres } = await import("postgres");
  const address = new URL(postgresUrl!);
  const host = address.searchParams.get("host");
  address.searchParams.delete("host");
  return postgres(address.href, { max: 1, onnotice: () => {}, ...(host ? { host } : {}) });
}

function randomHex(): string {
  return [...crypto.getRandomValues(new Uint8Array(8))]
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Runs `body` with a fresh place, removed afterwards (the directory, or the schema). */
export async function withPlace<T>(body: (place: Place) => Promise<T>): Promise<T> {
  if (testStore === "file") {
    const directory = await mkdtemp(join(tmpdir(), "jobq-test-"));
    try {
      return await body(directory);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  }
  return await withSchema(body);
}

/** Runs `body` with a fresh PostgreSQL schema (whatever the run's store), dropped afterwards. */
export async function withSchema<T>(body: (schema: string) => Promise<T>): Promise<T> {
  const schema = `t_${randomHex()}`;
  try {
    return await body(schema);
  } finally {
    const sql = await adminClient();
    try {
      await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await sql.end();
    }
  }
}

/** Reads the stores' jobs of `place` without an engine of the test's: a short-lived store. */
async function withReader<T>(place: Place, read: (store: PostgresJobStore) => Promise<T>) {
  const store = new PostgresJobStore({ url: postgresUrl!, schema: place, maxConnections: 1 });
  await store.open({ engineId: randomHex(), claimTimeout: 30_000, report: () => {} });
  try {
    return await read(store);
  } finally {
    await store.close();
  }
}

/** The job as it is stored now on `place`; throws when it is not stored. */
export async function readStoredJob(place: Place, job: Job): Promise<Job> {
  const stored = testStore === "file"
    ? Job.fromJSON(JSON.parse(await readFile(join(place, `${job.key}.json`), "utf8")))
    : await withReader(place, (store) => store.get(job.id));
  if (stored === undefined) throw new Error(`Job ${job.id} is not stored`);
  return stored;
}

/** Every job stored on `place`, in id order. */
export async function storedJobs(place: Place): Promise<Job[]> {
  const jobs = testStore === "file"
    ? (await Promise.all(
      (await readdir(place)).filter((name) => name.endsWith(".json")).map(async (name) => {
        // A file removed between the listing and its reading is not stored any more.
        const text = await readFile(join(place, name), "utf8").catch((error) => {
          if ((error as { code?: string }).code === "ENOENT") return undefined;
          throw error;
        });
        return text === undefined ? [] : [Job.fromJSON(JSON.parse(text))];
      }),
    )).flat()
    : await withReader(place, (store) => store.list());
  return jobs.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The ids of every job stored on `place`, sorted. */
export async function storedIds(place: Place): Promise<string[]> {
  return (await storedJobs(place)).map((job) => job.id);
}

/** The ids of `jobs`, sorted: to compare with {@linkcode storedIds}. */
export function idsOf(jobs: readonly Job[]): string[] {
  return jobs.map((job) => job.id).sort();
}
