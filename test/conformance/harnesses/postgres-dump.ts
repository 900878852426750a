/**
 * Conformance harness of the `postgres-dump` kind: a TasK-like database (schemas, pgvector with
 * an HNSW index, a partitioned table, roles) on PostgreSQL 17; restores go to a second, empty
 * server, where every table must hold the source's rows.
 */
import { PostgresContainer, type StartedPostgresContainer } from "../../support/containers/postgres.js";
import { postgresImage } from "../../support/images.js";
import { seedTaskDb } from "../../support/seed-task-db.js";
import type { KindHarness, RestoreTarget } from "../kind-conformance.js";
import { pgEnv, pgJobFields, tableCounts } from "./postgres.js";

export const postgresDumpHarness: KindHarness = {
  kind: "postgres-dump",
  async start() {
    const source = await new PostgresContainer()
      .withDatabase("task")
      .withPassword("conformance-pg-pw-6e2a")
      .start();
    await seedTaskDb(source.connectionUri);
    const expected = await tableCounts(source, "task");
    let target: StartedPostgresContainer | undefined;
    return {
      job: { ...pgJobFields(source), databases: ["task"] },
      env: pgEnv(source),
      wrongSecret: { env: { TASK_DB_PASSWORD: "not-the-password" }, check: "connection" },
      target: { image: postgresImage(), checks: { extensions: ["vector"] } },
      async restoreTarget(): Promise<RestoreTarget> {
        target ??= await new PostgresContainer().withPassword("conformance-target-pw-91b0").start();
        const server = target;
        // A fresh target: no database `task` (the roles of earlier restores may stay).
        await server.psql("DROP DATABASE IF EXISTS task WITH (FORCE)", "postgres");
        const databases = async () =>
          server.psql("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1", "postgres");
        return {
          to: `postgres://${server.user}:${server.password}@127.0.0.1:${server.port}`,
          state: async () => {
            const names = await databases();
            const counts = names.split("\n").includes("task") ? await tableCounts(server, "task") : [];
            return [names, ...counts].join("\n");
          },
          occupy: async () => {
            await server.psql("CREATE DATABASE task", "postgres");
            await server.psql(
              "CREATE TABLE someone_elses (id int); INSERT INTO someone_elses VALUES (1)",
              "task",
            );
          },
          verify: async () => {
            const restored = await tableCounts(server, "task");
            const missing = expected.filter((line) => !restored.includes(line));
            if (missing.length > 0) throw new Error(`row counts differ: ${missing.join(", ")}`);
          },
        };
      },
      async stop() {
        await target?.stop();
        await source.stop();
      },
    };
  },
};
