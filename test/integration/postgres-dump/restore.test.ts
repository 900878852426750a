/**
 * Disaster restore of a postgres-dump snapshot into a real PostgreSQL 17 server: dry-run plan,
 * restore into a new database, refusal of a non-empty target, --force.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../../src/errors.js";
import type { PgDumpJobInput } from "../../../src/kinds/postgres-dump/types.js";
import { PostgresContainer, type StartedPostgresContainer } from "../../support/containers/postgres.js";
import { seedTaskDb } from "../../support/seed-task-db.js";
import { dumpJob, runBackup, runRestore, type DirSnapshot } from "./harness.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

const PASSWORD = "restore-target-pw-51c2";
let server: StartedPostgresContainer;
let snapshot: DirSnapshot;
let facts: Record<string, unknown>;

function job(): PgDumpJobInput {
  return dumpJob(server.port, "PW");
}

function dsn(database: string): string {
  return `postgres://test:${PASSWORD}@127.0.0.1:${server.port}/${database}`;
}

async function query<T extends pg.QueryResultRow>(database: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: dsn(database) });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  server = await new PostgresContainer().withDatabase("task").withPassword(PASSWORD).start();
  await seedTaskDb(server.connectionUri);
  const backup = await runBackup(job(), { PW: PASSWORD });
  snapshot = backup.snapshot;
  facts = backup.outcome.facts;
});

afterAll(async () => {
  await snapshot?.remove();
  await server?.stop();
});

describe("postgres-dump restore", () => {
  it("plans without touching anything and never shows the password", async () => {
    const plan = await runRestore(
      job(),
      snapshot,
      facts,
      { to: dsn("task_copy"), force: false, flags: { database: "task" } },
      true,
    );
    const text = [...plan.steps, ...plan.warnings].join("\n");
    expect(text).not.toContain(PASSWORD);
    expect(text).toContain("postgres://test:***@127.0.0.1");
    // The database name goes in as a quoted conninfo, never as a bare (expandable) dbname.
    expect(text).toMatch(/pg_restore .*--dbname=dbname='task_copy'/);
    expect(text).toContain("task.dump");
    expect(text).toContain("globals.sql");
    const exists = await query("postgres", "SELECT 1 FROM pg_database WHERE datname = 'task_copy'");
    expect(exists).toEqual([]);
  });

  it("restores into a new database with the same row counts", async () => {
    await runRestore(job(), snapshot, facts, {
      to: dsn("task_copy"),
      force: false,
      flags: { database: "task" },
    });
    const [copy] = await query<{ n: string }>("task_copy", "SELECT count(*)::text AS n FROM app.tasks");
    const [original] = await query<{ n: string }>("task", "SELECT count(*)::text AS n FROM app.tasks");
    expect(copy?.n).toBe(original?.n);
    const [owner] = await query<{ owner: string }>(
      "task_copy",
      "SELECT tableowner AS owner FROM pg_tables WHERE schemaname = 'app' AND tablename = 'users'",
    );
    expect(owner?.owner).toBe("task_app");
  });

  it("refuses a target database that has tables, unless forced", async () => {
    const refused = runRestore(job(), snapshot, facts, {
      to: dsn("task_copy"),
      force: false,
      flags: { database: "task" },
    });
    await expect(refused).rejects.toBeInstanceOf(UsageError);
    await expect(refused).rejects.toThrow(/database task_copy .* already holds tables/);

    await query("task_copy", "DELETE FROM app.task_labels WHERE task_id < 100");
    await runRestore(job(), snapshot, facts, {
      to: dsn("task_copy"),
      force: true,
      flags: { database: "task" },
    });
    const [labels] = await query<{ n: string }>(
      "task_copy",
      "SELECT count(*)::text AS n FROM app.task_labels",
    );
    const [original] = await query<{ n: string }>("task", "SELECT count(*)::text AS n FROM app.task_labels");
    expect(labels?.n).toBe(original?.n);
  });

  it("asks which database when the snapshot has several and the URL names one", async () => {
    const many = structuredClone(facts) as { databases: Array<{ name: string }> };
    const copy = structuredClone(many.databases[0]);
    if (copy === undefined) throw new Error("no database in facts");
    copy.name = "other";
    (copy as { artifact?: string }).artifact = "other.dump";
    many.databases.push(copy);
    await expect(
      runRestore(
        job(),
        snapshot,
        many as unknown as Record<string, unknown>,
        { to: dsn("x"), force: false, flags: {} },
        true,
      ),
    ).rejects.toThrow(/pick one with --database/);
  });
});
