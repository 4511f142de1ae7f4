/**
 * What the tests against a real PostgreSQL server share: the server's URL
 * (`JOBQ_TEST_POSTGRES_URL`; the test command starts a throwaway server), a
 * client of the tests' own, and the rule for a missing server: the tests
 * are skipped with a warning, except under `CI=true`, where that is a
 * failure.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import postgres from "postgres";

/** The test server's URL, when there is one. */
export const postgresUrl: string | undefined = process.env.JOBQ_TEST_POSTGRES_URL || undefined;

const NO_SERVER = "JOBQ_TEST_POSTGRES_URL is not set: run the tests with `deno task test`, " +
  "which starts a PostgreSQL server, or point it at one";

/**
 * Without a server, fails under `CI=true` and otherwise skips `what` with a
 * warning saying why; returns whether the tests may run.
 */
export function hasTestPostgres(what: string): boolean {
  if (postgresUrl !== undefined) return true;
  if (process.env.CI === "true") {
    test(`a PostgreSQL server is given to the ${what} tests under CI`, () => {
      assert.fail(NO_SERVER);
    });
  } else {
    console.warn(`WARNING: the ${what} tests are skipped: ${NO_SERVER}`);
    test.skip(`${what} (skipped: ${NO_SERVER})`, () => {});
  }
  return false;
}

/** A client of the tests' own on the test server, for setting up and inspecting. */
export function adminClient(): postgres.Sql {
  const address = new URL(postgresUrl!);
  // A `host` naming a directory is a unix socket, as libpq reads it.
  const host = address.searchParams.get("host");
  address.searchParams.delete("host");
  return postgres(address.href, { max: 2, onnotice: () => {}, ...(host ? { host } : {}) });
}

/** A schema name no other test uses. */
export function freshSchema(): string {
  return `t_${
    [...crypto.getRandomValues(new Uint8Array(8))]
      .map((byte) => byte.toString(16).padStart(2, "0")).join("")
  }`;
}
