/**
 * PostgresJobStore against the store conformance suite, on the server
 * `JOBQ_TEST_POSTGRES_URL` names: each test on a schema of its own, dropped
 * afterwards.
 */
import { PostgresJobStore } from "../src/store/postgres/mod.ts";
import { testJobStore } from "../src/store/testing.ts";
import { adminClient, withPostgres } from "./_postgres.ts";

withPostgres("PostgresJobStore conformance", (url) => {
  testJobStore("PostgresJobStore", () => {
    const schema = `t_${crypto.randomUUID().replaceAll("-", "")}`;
    const store = () => new PostgresJobStore({ url, schema });
    return Promise.resolve({
      store: store(),
      another: store,
      async cleanUp() {
        const sql = adminClient(url);
        try {
          await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        } finally {
          await sql.end();
        }
      },
    });
  });
});
