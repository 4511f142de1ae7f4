import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { Job, jobContext, JobQueue, type JobQueueError, type JobRecord, JobState } from "../mod.ts";
import { withTempDir } from "./_helpers.ts";
import { withDeadline } from "./_process_helpers.ts";

/** The latest execution date a job id can carry. */
const MAX_DATE = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** The longest attempt timeout: what setTimeout can wait. */
const MAX_TIMEOUT = 2 ** 31 - 1;

/** The fields every record must have. */
const REQUIRED_FIELDS = ["id", "methodName", "executionDate", "state", "createdAt", "attempts"];

/** Every field a record may have. */
const ALL_FIELDS = [
  ...REQUIRED_FIELDS,
  "params",
  "startedAt",
  "finishedAt",
  "error",
  "maxAttempts",
  "backoff",
  "timeout",
];

/** `2024-01-01T12:00:00.000Z` as a job id spells it. */
function idDate(date: number): string {
  return new Date(date).toISOString().replace(/[:.]/g, "-");
}

/** Epoch milliseconds and counts: any safe non-negative integer. */
const timeArbitrary = fc.maxSafeNat();
/** Backoff delays: any number of milliseconds from 0 to one year. */
const millisecondsArbitrary = fc.double({ min: 0, max: 365 * 24 * 3_600_000, noNaN: true });

const backoffArbitrary = fc.oneof(
  fc.record({ type: fc.constant("fixed" as const), delay: millisecondsArbitrary }),
  fc.record(
    {
      type: fc.constant("exponential" as const),
      delay: millisecondsArbitrary,
      maxDelay: millisecondsArbitrary,
      jitter: fc.boolean(),
    },
    { requiredKeys: ["type", "delay"] },
  ),
);

/**
 * Records as a job file may hold them: every field valid, optional ones
 * present or not. Passed through JSON, as a file's content is.
 */
const recordArbitrary: fc.Arbitrary<JobRecord> = fc.record({
  // The parts of the id: execution date, creation stamp, random suffix.
  stamp: fc.stringMatching(/^[0-9a-z]{13}$/),
  random: fc.stringMatching(/^[0-9a-f]{8}$/),
  record: fc.record({
    methodName: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/),
    executionDate: fc.integer({ min: 0, max: MAX_DATE }),
    state: fc.constantFrom(...Object.values(JobState)),
    params: fc.jsonValue(),
    createdAt: timeArbitrary,
    attempts: timeArbitrary,
    startedAt: timeArbitrary,
    finishedAt: timeArbitrary,
    error: fc.record(
      { name: fc.string(), message: fc.string(), stack: fc.string() },
      { requiredKeys: ["name", "message"] },
    ),
    maxAttempts: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    backoff: backoffArbitrary,
    timeout: fc.double({ min: Number.MIN_VALUE, max: MAX_TIMEOUT, noNaN: true }),
  }, { requiredKeys: ["methodName", "executionDate", "state", "createdAt", "attempts"] }),
}).map(({ stamp, random, record }) => {
  const id = `${idDate(record.executionDate)}-${stamp}-${random}`;
  return JSON.parse(JSON.stringify({ id, ...record })) as JobRecord;
});

/** Values that no field accepts: negative, fractional, unsafe or non-finite numbers, wrong types. */
const outOfRangeNumbers = [-1, 0.5, Number.MAX_SAFE_INTEGER + 1, 1e308, null, "1", true];

/** A field changed to something it must not hold; the record is then refused. */
const refusedMutationArbitrary: fc.Arbitrary<[string, unknown]> = fc.oneof(
  fc.tuple(
    fc.constantFrom("executionDate", "createdAt", "attempts", "startedAt", "finishedAt"),
    fc.constantFrom(...outOfRangeNumbers),
  ),
  fc.tuple(fc.constant("maxAttempts"), fc.constantFrom(0, ...outOfRangeNumbers)),
  fc.tuple(fc.constant("timeout"), fc.constantFrom(0, -1, MAX_TIMEOUT + 1, null, "1", [])),
  fc.tuple(fc.constantFrom("id", "methodName", "state"), fc.constantFrom(null, 1, "", "../x", [])),
  fc.tuple(fc.constantFrom("error", "backoff"), fc.constantFrom(null, 1, "x", [], {})),
);

/** Applies one random change to a record: any field set to any JSON value or string, or dropped. */
const anyMutationArbitrary = fc.tuple(
  fc.constantFrom(...ALL_FIELDS),
  fc.option(fc.oneof(fc.jsonValue(), fc.string(), fc.double()), { nil: undefined }),
);

/** Calls `Job.fromJSON` and fails unless it returned a job or threw a TypeError. */
function parseOrTypeError(value: unknown): Job | TypeError {
  try {
    return Job.fromJSON(value);
  } catch (error) {
    assert.equal((error as Error)?.constructor, TypeError, `fromJSON threw ${String(error)}`);
    return error as TypeError;
  }
}

/**
 * Asserts that a job read back from its JSON is the job that was written,
 * compared as JSON: a `-0` in a record reads as `0` once written, as JSON has it.
 */
function assertRoundTrip(job: Job): void {
  const text = JSON.stringify(job);
  assert.equal(JSON.stringify(Job.fromJSON(JSON.parse(text))), text);
}

// Run counts are modest: the suite runs under three runtimes, on every change.
describe("Job.fromJSON() on random input", () => {
  test("any JSON value is refused with a TypeError, never another error", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const parsed = parseOrTypeError(value);
        assert.ok(parsed instanceof TypeError, `accepted ${JSON.stringify(value)}`);
      }),
      { numRuns: 1000 },
    );
  });

  test("every valid record is accepted, unchanged, and survives JSON", () => {
    fc.assert(
      fc.property(recordArbitrary, (record) => {
        const job = Job.fromJSON(record);
        assert.deepEqual(job.toJSON(), record);
        assertRoundTrip(job);
      }),
      { numRuns: 1000 },
    );
  });

  test("a record without one of its required fields is refused with a TypeError", () => {
    fc.assert(
      fc.property(recordArbitrary, fc.constantFrom(...REQUIRED_FIELDS), (record, field) => {
        const broken: Record<string, unknown> = { ...record };
        delete broken[field];
        assert.ok(parseOrTypeError(broken) instanceof TypeError, `accepted without ${field}`);
      }),
      { numRuns: 500 },
    );
  });

  test("a record with a field out of range or of the wrong type is refused with a TypeError", () => {
    fc.assert(
      fc.property(recordArbitrary, refusedMutationArbitrary, (record, [field, value]) => {
        const parsed = parseOrTypeError({ ...record, [field]: value });
        assert.ok(parsed instanceof TypeError, `accepted ${field}: ${JSON.stringify(value)}`);
      }),
      { numRuns: 1000 },
    );
  });

  test("a record with any field changed or dropped is accepted and survives JSON, or refused with a TypeError", () => {
    fc.assert(
      fc.property(recordArbitrary, anyMutationArbitrary, (record, [field, value]) => {
        const mutated: Record<string, unknown> = { ...record, [field]: value };
        if (value === undefined) delete mutated[field];
        const parsed = parseOrTypeError(mutated);
        if (parsed instanceof Job) assertRoundTrip(parsed);
      }),
      { numRuns: 1000 },
    );
  });
});

/** Nesting deeper than any runtime's stack allows a recursive walk to go. */
const TOO_DEEP = 100_000;

/** The record of `job` with params nested TOO_DEEP arrays deep, as JSON text. */
function deeplyNestedRecordText(job: Job): string {
  return JSON.stringify({ ...job.toJSON(), params: 0 })
    .replace('"params":0', `"params":${"[".repeat(TOO_DEEP)}${"]".repeat(TOO_DEEP)}`);
}

test("Job.fromJSON() refuses a record whose params nest deeper than the stack with a TypeError", () => {
  // Built directly: the runtime's JSON.parse may refuse such text itself.
  let params: unknown = [];
  for (let depth = 1; depth < TOO_DEEP; depth++) params = [params];
  const record = { ...Job.fromSpec({ methodName: "work" }).toJSON(), params };
  assert.ok(parseOrTypeError(record) instanceof TypeError);
});

/** The methods of the good jobs in a generated directory. */
const METHODS = ["alpha", "beta.v2", "gamma_3"];

/** A good job file: a runnable job (due, waiting or cut short by a crash) or a finished one. */
const goodJobArbitrary: fc.Arbitrary<Job> = fc.record({
  methodName: fc.constantFrom(...METHODS),
  params: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
  state: fc.constantFrom(...Object.values(JobState)),
  attempts: fc.nat(3),
}).map(({ methodName, params, state, attempts }) => {
  // Due in the past, so that it runs at once; params as a file holds them
  // (jsonValue() may give -0, which a job's params cannot hold).
  const created = Job.fromSpec({
    methodName,
    params: params === undefined ? undefined : JSON.parse(JSON.stringify(params)),
    executionDate: Date.now() - 1000,
  });
  return Job.fromJSON({ ...created.toJSON(), state, attempts });
});

/** Content that is not the job its file name promises. */
type BadContent =
  | { kind: "garbage"; bytes: Uint8Array }
  | { kind: "truncated"; job: Job; cut: number }
  | { kind: "not a job"; value: unknown }
  | { kind: "mutated"; job: Job; field: string; value: unknown }
  | { kind: "misnamed"; job: Job }
  | { kind: "too deep"; job: Job };

const badContentArbitrary: fc.Arbitrary<BadContent> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ kind: "garbage" as const, bytes })),
  fc.tuple(goodJobArbitrary, fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }))
    .map(([job, cut]) => ({ kind: "truncated" as const, job, cut })),
  fc.jsonValue({ maxDepth: 3 }).map((value) => ({ kind: "not a job" as const, value })),
  fc.tuple(goodJobArbitrary, refusedMutationArbitrary)
    .map(([job, [field, value]]) => ({ kind: "mutated" as const, job, field, value })),
  goodJobArbitrary.map((job) => ({ kind: "misnamed" as const, job })),
  goodJobArbitrary.map((job) => ({ kind: "too deep" as const, job })),
);

/** The bytes of a bad file. */
function badBytes(content: BadContent): Uint8Array | string {
  switch (content.kind) {
    case "garbage":
      return content.bytes;
    case "truncated": {
      const text = JSON.stringify(content.job);
      return text.slice(0, Math.floor(content.cut * text.length));
    }
    case "not a job":
      return JSON.stringify(content.value);
    case "mutated":
      return JSON.stringify({ ...content.job.toJSON(), [content.field]: content.value });
    case "misnamed":
      // A valid job, in the file of another job that was never scheduled.
      return JSON.stringify(content.job);
    case "too deep":
      return deeplyNestedRecordText(content.job);
  }
}

/** Whether the engine starts a job found in this state. */
function isRunnable(job: Job): boolean {
  return job.state === JobState.NOT_STARTED || job.state === JobState.IN_PROGRESS;
}

/**
 * Writes the good and bad files into `directory`, loads it with a queue,
 * and checks what became of every file.
 */
async function checkLoader(directory: string, good: Job[], bad: BadContent[]): Promise<void> {
  const badNames = new Map<string, string | Uint8Array>();
  for (const job of good) await writeFile(join(directory, `${job.key}.json`), JSON.stringify(job));
  for (const content of bad) {
    // A name that looks like a job's, so that only the content gives the file away.
    const name = `${Job.fromSpec({ methodName: "alpha" }).key}.json`;
    badNames.set(name, badBytes(content));
    await writeFile(join(directory, name), badBytes(content));
  }
  const queue = new JobQueue({ directory, fsync: false, pollInterval: 20 });
  const errors: JobQueueError[] = [];
  queue.on("error", (error) => errors.push(error));
  const runnable = good.filter(isRunnable);
  const ran = new Map<string, number>();
  let allRan = () => {};
  const done = new Promise<void>((resolve) => allRan = resolve);
  if (runnable.length === 0) allRan();
  for (const methodName of METHODS) {
    queue.registerJobHandler(methodName, () => {
      const { id } = jobContext().job;
      ran.set(id, (ran.get(id) ?? 0) + 1);
    });
  }
  let completed = 0;
  queue.on("completed", () => {
    if (++completed === runnable.length) allRan();
  });
  try {
    // start() loads the directory: every file in it has been read, and every
    // bad one set aside, when it resolves.
    await queue.start();
    assert.equal(errors.length, badNames.size, errors.map((error) => error.message).join("\n"));
    const corruptFolder = join(directory, ".jobq", "corrupt");
    for (const [name, bytes] of badNames) {
      const reports = errors.filter((error) => error.message.includes(name));
      assert.equal(reports.length, 1, `${name} was reported ${reports.length} times`);
      const file = reports[0]!.info.file!;
      assert.equal(dirname(file), corruptFolder);
      assert.ok(basename(file).startsWith(`${name}.`), `${file} does not name ${name}`);
      assert.deepEqual(new Uint8Array(await readFile(file)), toBytes(bytes));
    }
    await withDeadline(done, 10_000, `${runnable.length} runs`);
  } finally {
    // dispose() waits for handlers still running: a second run would be counted.
    await queue.dispose();
  }
  assert.deepEqual(
    [...ran].sort(),
    runnable.map((job): [string, number] => [job.id, 1]).sort(),
  );
  // Finished jobs stay as they were; bad files are no longer among the jobs.
  const names = await readdir(directory);
  for (const job of good.filter((job) => !isRunnable(job))) {
    assert.ok(names.includes(`${job.key}.json`), `${job.key} (${job.state}) is gone`);
  }
  for (const name of badNames.keys()) assert.ok(!names.includes(name), `${name} is still there`);
}

function toBytes(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? new TextEncoder().encode(data) : data;
}

describe("loading a directory of random good and bad job files", () => {
  test(
    "start() never fails, sets aside and reports each bad file by name, and runs each good job once",
    { timeout: 60_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(goodJobArbitrary, { maxLength: 10 }),
          fc.array(badContentArbitrary, { maxLength: 10 }),
          (good, bad) => withTempDir((directory) => checkLoader(directory, good, bad)),
        ),
        { numRuns: 60 },
      );
    },
  );
});
