/** What both PostgreSQL harnesses share: the job's connection and reading a server's tables. */
import { PG_PASSWORD_ENV, pgConnection } from "../../faults/support/fault-config.js";
import type { StartedPostgresContainer } from "../../support/containers/postgres.js";
import { postgresImage } from "../../support/images.js";

export function pgJobFields(source: StartedPostgresContainer): Record<string, unknown> {
  return { connection: pgConnection(source), tools: { image: postgresImage() } };
}

export function pgEnv(source: StartedPostgresContainer): Record<string, string> {
  return { [PG_PASSWORD_ENV]: source.password };
}

/** `schema.table count` for every user table of a database, sorted. */
export async function tableCounts(server: StartedPostgresContainer, database: string): Promise<string[]> {
  const tables = await server.psql(
    "SELECT schemaname || '.' || relname FROM pg_stat_user_tables ORDER BY 1",
    database,
  );
  const lines: string[] = [];
  for (const table of tables.split("\n").filter((name) => name !== "")) {
    lines.push(`${table} ${await server.psql(`SELECT count(*) FROM ${table}`, database)}`);
  }
  return lines;
}
