/**
 * postgres-dump against real PostgreSQL 17 + pgvector containers: backup of a TasK-like
 * database, drills into throwaway containers, facts under concurrent writes, failures.
 */
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OperationError } from "../../../src/errors.js";
import type { PgDumpFacts } from "../../../src/kinds/postgres-dump/facts.js";
import type { PostgresDumpTarget } from "../../../src/kinds/postgres-dump/target.js";
import type { PgDumpJobInput } from "../../../src/kinds/postgres-dump/types.js";
import { PostgresContainer, type StartedPostgresContainer } from "../../support/containers/postgres.js";
import { postgresImage } from "../../support/images.js";
import { SEEDED_TABLES, seedTaskDb } from "../../support/seed-task-db.js";
import { dumpJob, runBackup, runDrill, type DirSnapshot } from "./harness.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

const SOURCE_PASSWORD = "source-db-pw-7f3a9";
const ENV = { TASK_DB_PASSWORD: SOURCE_PASSWORD };

let source: StartedPostgresContainer;
const snapshots: DirSnapshot[] = [];

function job(overrides: Partial<PgDumpJobInput> = {}): PgDumpJobInput {
  return dumpJob(source.port, "TASK_DB_PASSWORD", { facts: { checksumMaxRows: 100_000 }, ...overrides });
}

const TARGET: Omit<PostgresDumpTarget, "snapshot"> = {
  job: "task-db",
  image: postgresImage(),
  checks: {
    rowCounts: true,
    amcheck: true,
    extensions: ["vector"],
    sql: [
      { name: "users present", database: "task", query: "select count(*) > 0 from app.users" },
      {
        name: "hnsw index rebuilt",
        database: "task",
        query: "select exists (select 1 from pg_indexes where indexname = 'tasks_embedding_hnsw')",
      },
      {
        name: "task_app kept its password",
        database: "task",
        query: "select rolpassword is not null from pg_authid where rolname = 'task_app'",
      },
      { name: "function works", database: "task", query: "select app.task_count(1) > 0" },
    ],
  },
};

async function sql<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: source.connectionUri });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

function factsOf(outcome: { facts: Record<string, unknown> }): PgDumpFacts {
  return outcome.facts as unknown as PgDumpFacts;
}

function rowsOf(facts: PgDumpFacts, table: string): number | undefined {
  return facts.databases[0]?.tables.find((t) => `${t.schema}.${t.name}` === table)?.rows;
}

function failed(outcome: { checks: Array<{ name: string; ok: boolean; detail: string }> }): string[] {
  return outcome.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
}

beforeAll(async () => {
  source = await new PostgresContainer().withDatabase("task").withPassword(SOURCE_PASSWORD).start();
  await seedTaskDb(source.connectionUri);
});

afterAll(async () => {
  await Promise.all(snapshots.map((s) => s.remove()));
  await source?.stop();
});

describe("postgres-dump backup and drill", () => {
  let first: { snapshot: DirSnapshot; facts: PgDumpFacts } | undefined;

  it("backs up a TasK-like database and the drill restores it with exact counts", async () => {
    const { outcome, snapshot } = await runBackup(job(), ENV);
    snapshots.push(snapshot);
    const facts = factsOf(outcome);
    first = { snapshot, facts };

    expect(snapshot.records.map((r) => r.name).sort()).toEqual(["globals.sql", "task.dump"]);
    expect(outcome.meta).toMatchObject({
      format: "custom",
      databases: 1,
      globals: true,
      rolePasswords: true,
    });
    expect(String(outcome.meta.serverVersion)).toMatch(/^17\./);
    const names = facts.databases[0]?.tables.map((t) => `${t.schema}.${t.name}`) ?? [];
    expect(names).toEqual(expect.arrayContaining([...SEEDED_TABLES]));
    expect(rowsOf(facts, "app.users")).toBe(500);
    expect(rowsOf(facts, "app.tasks")).toBe(2000);
    expect(rowsOf(facts, "billing.invoices")).toBe(1000);
    const events = facts.databases[0]?.tables.filter((t) => t.partitionOf === "audit.events") ?? [];
    expect(events.reduce((n, t) => n + t.rows, 0)).toBe(3000);
    expect(facts.databases[0]?.extensions.vector).toBeDefined();
    expect(facts.databases[0]?.tables.every((t) => t.checksum !== undefined)).toBe(true);

    const drill = await runDrill(job(), TARGET, snapshot, outcome.facts);
    expect(failed(drill)).toEqual([]);
    expect(drill.checks.map((c) => c.name)).toEqual([
      "restore",
      "row counts",
      "sequences",
      "checksums",
      "extensions",
      "amcheck",
      "sql: users present",
      "sql: hnsw index rebuilt",
      "sql: task_app kept its password",
      "sql: function works",
    ]);
    expect(drill.timings.restoreMs).toBeGreaterThan(0);
    expect(drill.details).toMatchObject({ databases: 1 });
  });

  it("fails the row-count check and names the table when the facts do not match", async () => {
    expect(first).toBeDefined();
    if (first === undefined) return;
    const doctored = structuredClone(first.facts);
    const users = doctored.databases[0]?.tables.find((t) => t.schema === "app" && t.name === "users");
    if (users === undefined) throw new Error("no app.users in facts");
    users.rows += 1;
    const drill = await runDrill(
      job(),
      { ...TARGET, checks: { rowCounts: true, amcheck: false, checksums: false } },
      first.snapshot,
      doctored as unknown as Record<string, unknown>,
    );
    const rowCounts = drill.checks.find((c) => c.name === "row counts");
    expect(rowCounts?.ok).toBe(false);
    expect(rowCounts?.detail).toContain("task: app.users backup 501, restored 500");
    expect(rowCounts?.detail).not.toContain("app.tasks");
    expect(drill.checks.find((c) => c.name === "restore")?.ok).toBe(true);
  });

  it("shows a row changed between two backups in the second backup's facts", async () => {
    const before = await runBackup(job({ globals: false }), ENV);
    snapshots.push(before.snapshot);
    await sql("UPDATE app.users SET display_name = 'Changed' WHERE id = 7");
    await sql(
      "INSERT INTO billing.invoices (user_id, amount, issued_on, lines) VALUES (1, 9.99, '2026-01-01', '[]')",
    );
    const after = await runBackup(job({ globals: false }), ENV);
    snapshots.push(after.snapshot);

    const table = (facts: PgDumpFacts, name: string) =>
      facts.databases[0]?.tables.find((t) => `${t.schema}.${t.name}` === name);
    const [a, b] = [factsOf(before.outcome), factsOf(after.outcome)];
    expect(table(b, "app.users")?.rows).toBe(table(a, "app.users")?.rows);
    expect(table(b, "app.users")?.checksum).not.toBe(table(a, "app.users")?.checksum);
    expect(table(b, "billing.invoices")?.rows).toBe((table(a, "billing.invoices")?.rows ?? 0) + 1);
    expect(table(b, "app.tasks")?.checksum).toBe(table(a, "app.tasks")?.checksum);
    expect(before.snapshot.records.map((r) => r.name)).toEqual(["task.dump"]);
  });

  it("records facts equal to what the dump holds while writes keep landing", async () => {
    let stop = false;
    let writes = 0;
    const loops = [0, 1].map(async () => {
      const client = new pg.Client({ connectionString: source.connectionUri });
      await client.connect();
      try {
        while (!stop) {
          await client.query(
            "INSERT INTO audit.events (created_at, actor, action) VALUES (now(), 1, 'concurrent')",
          );
          await client.query(
            "UPDATE app.users SET display_name = md5(random()::text) WHERE id = 1 + (random() * 400)::int",
          );
          writes += 1;
        }
      } finally {
        await client.end();
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    let backup: Awaited<ReturnType<typeof runBackup>>;
    try {
      backup = await runBackup(job(), ENV);
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    snapshots.push(backup.snapshot);
    const facts = factsOf(backup.outcome);
    const [{ n }] = (await sql<{ n: string }>("SELECT count(*)::text AS n FROM ONLY audit.events_2026")) as [
      { n: string },
    ];
    const recorded = rowsOf(facts, "audit.events_2026") ?? 0;
    expect(writes).toBeGreaterThan(10);
    // Writes went on after the snapshot: the live table has moved past what the facts say.
    expect(Number(n)).toBeGreaterThan(recorded);

    const drill = await runDrill(
      job(),
      { ...TARGET, checks: { rowCounts: true, amcheck: false } },
      backup.snapshot,
      backup.outcome.facts,
    );
    expect(failed(drill)).toEqual([]);
    expect(drill.checks.find((c) => c.name === "checksums")?.ok).toBe(true);
  });

  it("round-trips the directory format with two parallel jobs", async () => {
    const directoryJob = job({ format: "directory", parallel: 2 });
    const { outcome, snapshot } = await runBackup(directoryJob, ENV);
    snapshots.push(snapshot);
    expect(snapshot.records.map((r) => r.name).sort()).toEqual(["globals.sql", "task.tar"]);
    expect(outcome.meta).toMatchObject({ format: "directory", parallel: 2 });
    const drill = await runDrill(
      directoryJob,
      { ...TARGET, checks: { rowCounts: true, amcheck: true, extensions: ["vector"] } },
      snapshot,
      outcome.facts,
    );
    expect(failed(drill)).toEqual([]);
  });
});

describe("postgres-dump failures", () => {
  it("names the job and database on a wrong password, and never shows it", async () => {
    const wrong = "definitely-wrong-pw-123";
    const error = await runBackup(job(), { TASK_DB_PASSWORD: wrong }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OperationError);
    const message = (error as Error).message;
    expect(message).toContain("job task-db, database task");
    expect(message).toContain("password authentication failed");
    expect(message).not.toContain(wrong);
  });

  it("names the job and database when the server is unreachable", async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 1));
      });
    });
    const unreachable = job({
      connection: { host: "127.0.0.1", port, user: "test", passwordEnv: "TASK_DB_PASSWORD" },
    });
    await expect(runBackup(unreachable, ENV)).rejects.toThrow(
      /job task-db, database task: .*connection refused/,
    );
  });

  it("names the job and database when pg_dump fails mid-way", async () => {
    const admin = new pg.Client({ connectionString: source.connectionUri });
    await admin.connect();
    try {
      await admin.query("CREATE DATABASE big");
    } finally {
      await admin.end();
    }
    const bigUri = source.connectionUri.replace(/\/task$/, "/big");
    const big = new pg.Client({ connectionString: bigUri });
    await big.connect();
    try {
      await big.query(
        "CREATE TABLE filler AS SELECT g AS id, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 1500000) AS g",
      );
    } finally {
      await big.end();
    }
    // Kill pg_dump's session as soon as it is copying table data.
    let killed = false;
    const killer = (async () => {
      const client = new pg.Client({ connectionString: source.connectionUri });
      await client.connect();
      try {
        for (let i = 0; i < 600 && !killed; i += 1) {
          const result = await client.query(
            "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = 'big' AND query LIKE 'COPY %'",
          );
          killed = result.rows.some((row: { ok: boolean }) => row.ok);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } finally {
        await client.end();
      }
    })();
    const error = await runBackup(
      job({ databases: ["big"], globals: false, facts: { checksumMaxRows: 0 } }),
      ENV,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    await killer;
    expect(killed).toBe(true);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toMatch(
      /^job task-db, database big: pg_dump of database big exited with code 1/,
    );
    expect((error as Error).message).toContain("terminat");
  });

  it("backs up globals without role passwords when the backup user is not a superuser", async () => {
    await sql("CREATE ROLE backup_ro LOGIN PASSWORD 'backup-ro-pw-42'; GRANT pg_read_all_data TO backup_ro");
    const { outcome, snapshot } = await runBackup(
      job({ connection: { host: "127.0.0.1", port: source.port, user: "backup_ro", passwordEnv: "RO_PW" } }),
      { RO_PW: "backup-ro-pw-42" },
    );
    snapshots.push(snapshot);
    expect(outcome.meta).toMatchObject({ rolePasswords: false, globals: true });
    const globals = await readFile(path.join(snapshot.dir, "globals.sql"), "utf8");
    expect(globals).toContain("CREATE ROLE task_app");
    expect(globals).not.toContain("PASSWORD");
    expect(rowsOf(factsOf(outcome), "app.users")).toBeGreaterThan(0);
  });

  it("refuses client tools older than the server, naming what to use", async () => {
    const old = job({ tools: { binDir: "/usr/lib/postgresql/15/bin" } });
    await expect(runBackup(old, ENV)).rejects.toThrow(/pg_dump 15\.\d+ from binDir .* older than the server/);
  });
});
