import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Job, type JobRecord, type JobSpec, JobState } from "../mod.ts";

/** The latest execution date jobq accepts: ids sort as text only up to year 9999. */
const MAX_DATE = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** What an id may contain so that it is safe in a file name everywhere. */
const SAFE_ID = /^[0-9A-Za-z-]+$/;

/** Asserts that `Job.fromSpec(spec)` throws `type` with a message matching `message`. */
function assertRefused(
  spec: unknown,
  type: typeof TypeError | typeof RangeError,
  message: RegExp,
): void {
  assert.throws(() => Job.fromSpec(spec as JobSpec), (error: unknown) => {
    assert.ok(error instanceof type, `expected a ${type.name}, got ${String(error)}`);
    assert.equal((error as Error).constructor, type);
    assert.match((error as Error).message, message);
    return true;
  });
}

/** Asserts that `params` are refused with a TypeError naming `path` and what to do. */
function assertParamsRefused(params: unknown, path: string, remedy: RegExp): void {
  const escaped = path.replace(/[.[\]]/g, "\\$&");
  assertRefused(
    { methodName: "work", params },
    TypeError,
    new RegExp(`^Cannot store ${escaped}: it .*; ${remedy.source}`),
  );
}

/** The stored form of a valid job, to break one field at a time. */
function validRecord(): Record<string, unknown> {
  return { ...Job.fromSpec({ methodName: "work", params: { n: 1 } }, 1_000).toJSON() };
}

/** Asserts that `Job.fromJSON` refuses `record` with a TypeError matching `message`. */
function assertRecordRefused(record: unknown, message: RegExp): void {
  assert.throws(() => Job.fromJSON(record), (error: unknown) => {
    assert.equal((error as Error).constructor, TypeError, `got ${String(error)}`);
    assert.match((error as Error).message, message);
    return true;
  });
}

describe("JobState", () => {
  test("JobState has the four states, each value equal to its name", () => {
    assert.deepEqual(Object.keys(JobState).sort(), [
      "COMPLETED",
      "FAILED",
      "IN_PROGRESS",
      "NOT_STARTED",
    ]);
    for (const [name, value] of Object.entries(JobState)) assert.equal(value, name);
  });
});

describe("Job.fromSpec()", () => {
  test("a job without a date is due now", () => {
    const job = Job.fromSpec({ methodName: "work" }, 5_000);
    assert.equal(job.executionDate, 5_000);
    assert.equal(job.createdAt, 5_000);
    assert.equal(job.state, JobState.NOT_STARTED);
    assert.equal(job.attempts, 0);
    assert.equal(job.params, undefined);
    assert.equal(job.isReady(5_000), true);
  });

  test("a job without a date or clock is due at the current time", () => {
    const before = Date.now();
    const job = Job.fromSpec({ methodName: "work" });
    const after = Date.now();
    assert.ok(job.executionDate >= before && job.executionDate <= after);
    assert.equal(job.isReady(), true);
  });

  test("waitTime is counted in milliseconds from now", () => {
    assert.equal(Job.fromSpec({ methodName: "work", waitTime: 2_500 }, 1_000).executionDate, 3_500);
    assert.equal(Job.fromSpec({ methodName: "work", waitTime: 0 }, 1_000).executionDate, 1_000);
  });

  test("executionDate is taken as epoch milliseconds or as a Date", () => {
    const date = Date.UTC(2030, 0, 2, 3, 4, 5, 6);
    assert.equal(Job.fromSpec({ methodName: "work", executionDate: date }).executionDate, date);
    assert.equal(
      Job.fromSpec({ methodName: "work", executionDate: new Date(date) }).executionDate,
      date,
    );
  });

  test("an execution date in the past is allowed and the job is ready at once", () => {
    const job = Job.fromSpec({ methodName: "work", executionDate: 0 }, 1_000_000);
    assert.equal(job.executionDate, 0);
    assert.equal(job.isReady(1_000_000), true);
  });

  test("the latest accepted date is the end of year 9999", () => {
    const job = Job.fromSpec({ methodName: "work", executionDate: MAX_DATE });
    assert.equal(job.executionDateString, "9999-12-31T23:59:59.999Z");
  });

  test("executionDateString is the execution date in ISO 8601", () => {
    const date = Date.UTC(2024, 1, 29, 12, 30, 15, 250);
    const job = Job.fromSpec({ methodName: "work", executionDate: date });
    assert.equal(job.executionDateString, "2024-02-29T12:30:15.250Z");
  });

  test("key is the method name and the id joined by two underscores", () => {
    const job = Job.fromSpec({ methodName: "send.email-v2_x" });
    assert.equal(job.key, `send.email-v2_x__${job.id}`);
  });

  test("isReady() turns true exactly at the execution date", () => {
    const job = Job.fromSpec({ methodName: "work", waitTime: 1_000 }, 10_000);
    assert.equal(job.isReady(10_999), false);
    assert.equal(job.isReady(11_000), true);
    assert.equal(job.isReady(11_001), true);
  });

  test("isReady() is false for a job that is no longer waiting", () => {
    for (const state of [JobState.IN_PROGRESS, JobState.COMPLETED, JobState.FAILED]) {
      const job = Job.fromJSON({ ...validRecord(), state, executionDate: 0 });
      assert.equal(job.isReady(Date.now()), false, state);
    }
  });

  test("ids are unique and contain only letters, digits and '-'", () => {
    const ids = new Set<string>();
    for (let index = 0; index < 2_000; index++) {
      const id = Job.fromSpec({ methodName: "work" }).id;
      assert.match(id, SAFE_ID);
      ids.add(id);
    }
    assert.equal(ids.size, 2_000);
  });

  test("ids start with the execution date", () => {
    const job = Job.fromSpec({
      methodName: "work",
      executionDate: Date.UTC(2024, 0, 1, 12, 0, 0, 5),
    });
    assert.ok(job.id.startsWith("2024-01-01T12-00-00-005Z-"), job.id);
  });

  test("ids of jobs due at the same date sort in creation order, also within one millisecond", () => {
    // Thousands of jobs are created far faster than one per millisecond, so
    // most of them share their creation millisecond with others.
    const jobs = Array.from(
      { length: 5_000 },
      () => Job.fromSpec({ methodName: "work", executionDate: 1_700_000_000_000 }),
    );
    const ids = jobs.map((job) => job.id);
    assert.deepEqual([...ids].sort(), ids);
  });

  test("ids sort by execution date first, then by creation order", () => {
    const dates = [
      MAX_DATE,
      0,
      1_700_000_000_000,
      1,
      1_700_000_000_000,
      Date.UTC(2000, 0, 1),
      0,
      1_700_000_000_001,
      MAX_DATE,
      999,
      1_000,
    ];
    const jobs = dates.map((executionDate) => Job.fromSpec({ methodName: "work", executionDate }));
    // Array.prototype.sort is stable: equal dates keep their creation order.
    const expected = [...jobs].sort((a, b) => a.executionDate - b.executionDate);
    const byId = [...jobs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    assert.deepEqual(byId.map((job) => job.id), expected.map((job) => job.id));
  });

  test("params are copied: changing the caller's object later does not change the job", () => {
    const params = { user: { name: "Ada" }, tags: ["a", "b"] };
    const job = Job.fromSpec({ methodName: "work", params });
    params.user.name = "Grace";
    params.tags.push("c");
    assert.deepEqual(job.params, { user: { name: "Ada" }, tags: ["a", "b"] });
    assert.deepEqual(job.toJSON().params, { user: { name: "Ada" }, tags: ["a", "b"] });
  });

  test("params may be any JSON value, including shared (non-cyclic) references", () => {
    const shared = { x: 1 };
    const accepted: unknown[] = [
      null,
      0,
      -1.5,
      "text ✓",
      true,
      [],
      {},
      [1, "two", null, { three: [3] }],
      { a: shared, b: [shared, shared] },
    ];
    for (const params of accepted) {
      const job = Job.fromSpec({ methodName: "work", params });
      assert.deepEqual(job.params, params);
    }
  });

  test("an object property whose value is undefined is accepted and dropped", () => {
    const job = Job.fromSpec({
      methodName: "work",
      params: { kept: 1, dropped: undefined, nested: [{ gone: undefined }] },
    });
    assert.deepEqual(job.params, { kept: 1, nested: [{}] });
    assert.equal(Object.hasOwn(job.params as object, "dropped"), false);
  });

  test("toJSON() holds the job's fields", () => {
    const job = Job.fromSpec(
      { methodName: "work", params: { n: 1 }, executionDate: 123_456 },
      100_000,
    );
    const record: JobRecord = job.toJSON();
    assert.equal(record.id, job.id);
    assert.equal(record.methodName, "work");
    assert.equal(record.executionDate, 123_456);
    assert.equal(record.state, JobState.NOT_STARTED);
    assert.deepEqual(record.params, { n: 1 });
    assert.equal(record.createdAt, 100_000);
    assert.equal(record.attempts, 0);
  });

  test("a job survives JSON and Job.fromJSON() unchanged", () => {
    const specs: JobSpec[] = [
      { methodName: "work" },
      { methodName: "work", params: null },
      { methodName: "work", params: [1, "two", { three: [3.5] }], waitTime: 60_000 },
      { methodName: "work", params: { to: "ü@例え.jp" }, executionDate: new Date(0) },
    ];
    for (const spec of specs) {
      const job = Job.fromSpec(spec);
      const copy = Job.fromJSON(JSON.parse(JSON.stringify(job)));
      assert.ok(copy instanceof Job);
      assert.deepEqual(copy.toJSON(), job.toJSON());
      assert.equal(copy.key, job.key);
    }
  });

  test("a finished job's bookkeeping survives JSON and Job.fromJSON() unchanged", () => {
    const record = {
      ...validRecord(),
      state: JobState.FAILED,
      attempts: 2,
      startedAt: 2_000,
      finishedAt: 3_000,
      error: { name: "Error", message: "boom", stack: "Error: boom\n    at x" },
    };
    const job = Job.fromJSON(record);
    assert.deepEqual(job.toJSON(), record);
    assert.deepEqual(Job.fromJSON(JSON.parse(JSON.stringify(job))).toJSON(), record);
  });
});

describe("Job.fromSpec() refuses bad input", () => {
  test("a spec that is not an object is refused with a TypeError", () => {
    for (const spec of [undefined, null, "work", 42]) {
      assertRefused(spec, TypeError, /spec must be an object like \{ methodName, params \}/);
    }
  });

  test("an unknown option, such as the typo 'waittime', is refused and the options are named", () => {
    assertRefused(
      { methodName: "work", waittime: 1_000 },
      TypeError,
      /unknown option 'waittime'; the options are methodName, params, waitTime, executionDate/,
    );
  });

  test("a missing or non-string method name is refused with a TypeError", () => {
    for (const methodName of [undefined, null, 42, {}, ["work"]]) {
      assertRefused({ methodName }, TypeError, /method name: it must be a string/);
    }
    assertRefused({}, TypeError, /method name: it must be a string/);
  });

  test("a method name that is empty, escapes the directory or has unsafe characters is refused", () => {
    const unsafe = [
      "",
      "../x",
      "..",
      "a/b",
      "a\\b",
      ".hidden",
      "send email",
      " work",
      "work\n",
      "a:b",
      "x".repeat(129),
    ];
    for (const methodName of unsafe) {
      assertRefused(
        { methodName },
        TypeError,
        /use 1 to 128 letters, digits, '_', '\.' or '-', starting with a letter or digit/,
      );
    }
  });

  test("a method name of 128 characters is accepted", () => {
    const methodName = "x".repeat(128);
    assert.equal(Job.fromSpec({ methodName }).methodName, methodName);
  });

  test("params that JSON cannot carry are refused with a TypeError", () => {
    assertParamsRefused(10n, "params", /convert it to a string/);
    assertParamsRefused(() => {}, "params", /pass plain data instead/);
    assertParamsRefused(Symbol("s"), "params", /pass plain data instead/);
    assertParamsRefused({ value: Symbol("s") }, "params.value", /pass plain data instead/);
    assertParamsRefused({ [Symbol("key")]: 1 }, "params", /use string keys/);
  });

  test("params with a cycle are refused with a TypeError", () => {
    const object: Record<string, unknown> = { name: "loop" };
    object.self = object;
    assertParamsRefused(object, "params.self", /pass a tree of plain data/);
    const array: unknown[] = [1];
    array.push({ back: array });
    assertParamsRefused(array, "params[1].back", /pass a tree of plain data/);
  });

  test("undefined in an array and holes in a sparse array are refused with a TypeError", () => {
    assertParamsRefused([1, undefined], "params[1]", /use null/);
    const sparse: number[] = [];
    sparse[2] = 3;
    assertParamsRefused(sparse, "params[0]", /fill it with null/);
  });

  test("numbers JSON would change (NaN, Infinity, -0) are refused with a TypeError", () => {
    assertParamsRefused(NaN, "params", /use a finite number or a string/);
    assertParamsRefused({ n: Infinity }, "params.n", /use a finite number or a string/);
    assertParamsRefused([-Infinity], "params[0]", /use a finite number or a string/);
    assertParamsRefused(-0, "params", /use 0/);
    assertParamsRefused({ n: -0 }, "params.n", /use 0/);
  });

  test("class instances (Date, Map, user classes) are refused with a TypeError", () => {
    class Point {
      constructor(readonly x: number, readonly y: number) {}
    }
    const remedy = /convert it to plain data \(a Date to its getTime\(\) or toISOString\(\)\)/;
    assertParamsRefused(new Date(0), "params", remedy);
    assertParamsRefused({ when: new Date(0) }, "params.when", remedy);
    assertParamsRefused(new Map([["a", 1]]), "params", remedy);
    assertParamsRefused([new Point(1, 2)], "params[0]", remedy);
  });

  test("a bad value deep inside objects and arrays is refused and its path named", () => {
    assertParamsRefused(
      { a: [{ b: { c: [0, new Map()] } }] },
      "params.a[0].b.c[1]",
      /convert it to plain data/,
    );
    assertParamsRefused({ a: { b: [[1n]] } }, "params.a.b[0][0]", /convert it to a string/);
    assertParamsRefused({ a: [{ f() {} }] }, "params.a[0].f", /pass plain data instead/);
    assertParamsRefused({ a: [[1, undefined]] }, "params.a[0][1]", /use null/);
    assertParamsRefused({ a: { b: { [Symbol("k")]: 1 } } }, "params.a.b", /use string keys/);
  });

  test("waitTime and executionDate together are refused with a TypeError", () => {
    assertRefused(
      { methodName: "work", waitTime: 1, executionDate: Date.now() },
      TypeError,
      /both 'waitTime' and 'executionDate': pass only one of them/,
    );
  });

  test("a negative, NaN or infinite waitTime is refused with a RangeError", () => {
    for (const waitTime of [-1, -0.5, NaN, Infinity, -Infinity]) {
      assertRefused(
        { methodName: "work", waitTime },
        RangeError,
        /'waitTime' must be a non-negative number of milliseconds: current value is/,
      );
    }
  });

  test("a waitTime that is not a number is refused with a TypeError", () => {
    for (const waitTime of ["1000", null, {}]) {
      assertRefused(
        { methodName: "work", waitTime },
        TypeError,
        /'waitTime' must be a non-negative number of milliseconds/,
      );
    }
  });

  test("an executionDate that is neither a number nor a Date is refused with a TypeError", () => {
    for (const executionDate of ["2030-01-01", null, {}]) {
      assertRefused(
        { methodName: "work", executionDate },
        TypeError,
        /'executionDate' must be a valid Date or epoch milliseconds/,
      );
    }
  });

  test("an invalid Date or a NaN executionDate is refused with a RangeError", () => {
    for (const executionDate of [new Date("not a date"), NaN, Infinity]) {
      assertRefused(
        { methodName: "work", executionDate },
        RangeError,
        /'executionDate' must be a valid Date or epoch milliseconds: current value is/,
      );
    }
  });

  test("dates before 1970 or after year 9999 are refused with a RangeError", () => {
    const outOfRange = /use a date between 1970 and the end of 9999/;
    assertRefused({ methodName: "work", executionDate: -1 }, RangeError, outOfRange);
    assertRefused(
      { methodName: "work", executionDate: new Date("1969-12-31T23:59:59Z") },
      RangeError,
      outOfRange,
    );
    assertRefused({ methodName: "work", executionDate: MAX_DATE + 1 }, RangeError, outOfRange);
    assertRefused(
      { methodName: "work", executionDate: new Date("+010000-01-01T00:00:00Z") },
      RangeError,
      outOfRange,
    );
    assert.throws(
      () => Job.fromSpec({ methodName: "work", waitTime: 2 }, MAX_DATE - 1),
      RangeError,
    );
  });
});

describe("Job.fromJSON() refuses malformed records", () => {
  test("a record that is not an object is refused with a TypeError", () => {
    for (const record of [null, undefined, "job", 1, []]) {
      assertRecordRefused(record, /Invalid job record: expected an object/);
    }
  });

  test("a record with a missing or malformed id is refused with a TypeError", () => {
    const { id: _id, ...withoutId } = validRecord();
    assertRecordRefused(withoutId, /'id' is of type undefined, not a jobq id/);
    for (const id of [42, "", "../etc/passwd", "job-1", `${validRecord().id}/x`]) {
      assertRecordRefused({ ...validRecord(), id }, /'id' is .*, not a jobq id/);
    }
  });

  test("a record with an unknown or missing state is refused with a TypeError", () => {
    for (const state of ["DONE", "not_started", undefined, 1]) {
      assertRecordRefused(
        { ...validRecord(), state },
        /'state' is .*, not one of NOT_STARTED, IN_PROGRESS, COMPLETED, FAILED/,
      );
    }
  });

  test("a record with a missing or unsafe method name is refused with a TypeError", () => {
    assertRecordRefused({ ...validRecord(), methodName: undefined }, /must be a string/);
    assertRecordRefused({ ...validRecord(), methodName: "../x" }, /use 1 to 128 letters/);
  });

  test("a record whose dates or attempts are missing or of the wrong type is refused", () => {
    const broken: Record<string, unknown[]> = {
      executionDate: [undefined, "0", -1, 1.5, NaN],
      createdAt: [undefined, "0", -1],
      attempts: [undefined, "0", -1, 0.5],
      startedAt: ["0", -1, null],
      finishedAt: ["0", 2.5, null],
    };
    for (const [field, values] of Object.entries(broken)) {
      for (const value of values) {
        assertRecordRefused(
          { ...validRecord(), [field]: value },
          new RegExp(`'${field}' is .*, not (epoch milliseconds|a count)`),
        );
      }
    }
  });

  test("a record whose params JSON cannot carry is refused with a TypeError", () => {
    assertRecordRefused({ ...validRecord(), params: { n: NaN } }, /Cannot store params\.n/);
  });

  test("a record with a malformed error is refused with a TypeError", () => {
    const errors = [
      "boom",
      null,
      {},
      { name: "Error" },
      { message: "boom" },
      { name: 1, message: "boom" },
      { name: "Error", message: "boom", stack: 42 },
    ];
    for (const error of errors) {
      assertRecordRefused(
        { ...validRecord(), state: JobState.FAILED, error },
        /'error' must be \{ name, message, stack\? \} strings/,
      );
    }
  });
});
