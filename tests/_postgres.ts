/**
 * What PostgreSQL tests share: the server `JOBQ_TEST_POSTGRES_URL` names
 * (the test command starts a throwaway one), a client of the tests' own for
 * setting up and inspecting, and the rule for a missing server: the tests
 * are skipped with a warning, except under `CI=true`, where that is a
 * failure.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import postgres from "postgres";

/** The server's URL, when one is given. */
export const postgresUrl: string | undefined = process.env.JOBQ_TEST_POSTGRES_URL || undefined;

const NO_SERVER = "JOBQ_TEST_POSTGRES_URL is not set: run the tests with `deno task test`, " +
  "which starts a PostgreSQL server, or point it at one";

/** A client of the tests' own, for setting up and inspecting what the stores do. */
export function adminClient(url: string = postgresUrl!): postgres.Sql {
  const address = new URL(url);
  const host = address.searchParams.get("host");
  address.searchParams.delete("host");
  return postgres(address.href, { max: 2, onnotice: () => {}, ...(host ? { host } : {}) });
}

/**
 * Declares the tests `define` declares when a server is given; otherwise
 * one test that fails under CI, or one skipped test that says why.
 */
export function withPostgres(name: string, define: (url: string) => void): void {
  if (postgresUrl !== undefined) return define(postgresUrl);
  withoutPostgres(name, NO_SERVER);
}

/**
 * Declares, in place of tests that get no server (`reason` says why and
 * what to do), one test that fails under CI, or one skipped test that says
 * why.
 */
export function withoutPostgres(name: string, reason: string): void {
  if (process.env.CI === "true") {
    test(`${name}: a PostgreSQL server is given to the tests under CI`, () => assert.fail(reason));
  } else {
    console.warn(`WARNING: the ${name} tests are skipped: ${reason}`);
    test.skip(`${name} (skipped: ${reason})`, () => {});
  }
}

/** A schema name no other test uses. */
export function freshSchema(): string {
  return `t_${
    [...crypto.getRandomValues(new Uint8Array(8))]
      .map((byte) => byte.toString(16).padStart(2, "0")).join("")
  }`;
}
