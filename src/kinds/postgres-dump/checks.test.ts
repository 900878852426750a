import { describe, expect, it } from "vitest";
import {
  compareChecksums,
  compareExtensions,
  compareRowCounts,
  compareSequences,
  type RestoredDatabase,
} from "./checks.js";
import type { PgDumpFacts } from "./facts.js";

function facts(): PgDumpFacts {
  return {
    kind: "postgres-dump",
    version: 1,
    server: { version: "17.12", versionNum: 170012 },
    pgDumpVersion: "17.12",
    pgDumpMajor: 17,
    format: "custom",
    globalsArtifact: "globals.sql",
    rolePasswords: true,
    checksumAlgorithm: "md5-row-text-sum-v1",
    checksumMaxRows: 1000,
    databases: [
      {
        name: "task",
        encoding: "UTF8",
        owner: "task_app",
        sizeBytes: 1,
        artifact: "task.dump",
        extensions: { plpgsql: "1.0", vector: "0.8.0" },
        tables: [
          { schema: "app", name: "users", rows: 500, checksum: "1:2" },
          { schema: "audit", name: "events_2025", partitionOf: "audit.events", rows: 10 },
          { schema: "billing", name: "invoices", rows: 1000, checksum: "3:4" },
        ],
        sequences: [
          { schema: "app", name: "users_id_seq", lastValue: "500", increment: "1" },
          { schema: "app", name: "unused_seq", lastValue: null, increment: "1" },
        ],
      },
    ],
  };
}

function restored(overrides: Partial<RestoredDatabase> = {}): RestoredDatabase {
  const source = facts().databases[0];
  if (source === undefined) throw new Error("fixture");
  return {
    name: "task",
    tables: source.tables.map((t) => ({ ...t })),
    sequences: source.sequences.map((s) => ({ ...s })),
    extensions: { ...source.extensions },
    ...overrides,
  };
}

describe("compareRowCounts", () => {
  it("passes when every table matches", () => {
    const result = compareRowCounts(facts(), [restored()]);
    expect(result).toEqual({
      name: "row counts",
      ok: true,
      detail: "3 tables in 1 database(s) match the backup (1,510 rows)",
    });
  });

  it("lists each differing, missing and unexpected table", () => {
    const state = restored();
    state.tables = [
      { schema: "app", name: "users", rows: 499 },
      { schema: "billing", name: "invoices", rows: 1000 },
      { schema: "public", name: "stray", rows: 3 },
    ];
    const result = compareRowCounts(facts(), [state]);
    expect(result.ok).toBe(false);
    expect(result.detail).toBe(
      "3 table(s) differ from the backup: task: app.users backup 500, restored 499; " +
        "task: audit.events_2025 (partition of audit.events) missing after restore (backup 10 rows); " +
        "task: public.stray not in the backup (restored 3 rows)",
    );
  });

  it("reports a database that could not be read", () => {
    const result = compareRowCounts(facts(), [restored({ error: 'database "task" does not exist' })]);
    expect(result.ok).toBe(false);
    expect(result.detail).toContain("task: cannot read the restored database");
  });
});

describe("compareChecksums", () => {
  it("compares only tables with a recorded checksum", () => {
    expect(compareChecksums(facts(), [restored()]).ok).toBe(true);
    const state = restored();
    const users = state.tables[0];
    if (users !== undefined) users.checksum = "9:9";
    const result = compareChecksums(facts(), [state]);
    expect(result).toMatchObject({
      ok: false,
      detail: "content differs in 1 of 2 table(s): task: app.users",
    });
  });
});

describe("compareSequences", () => {
  it("accepts values at or past the backup and rejects ones that went backwards", () => {
    expect(compareSequences(facts(), [restored()]).ok).toBe(true);
    const ahead = restored({
      sequences: [{ schema: "app", name: "users_id_seq", lastValue: "512", increment: "1" }],
    });
    expect(compareSequences(facts(), [ahead]).ok).toBe(true);
    const behind = restored({
      sequences: [{ schema: "app", name: "users_id_seq", lastValue: "1", increment: "1" }],
    });
    expect(compareSequences(facts(), [behind])).toMatchObject({
      ok: false,
      detail: "1 sequence(s) went backwards: task: app.users_id_seq backup 500, restored 1",
    });
  });
});

describe("compareExtensions", () => {
  it("requires the listed extensions and every extension of the backup", () => {
    expect(compareExtensions(facts(), [restored()], ["vector"])).toMatchObject({
      ok: true,
      detail: "present: vector 0.8.0 in task",
    });
    const missing = compareExtensions(facts(), [restored({ extensions: { plpgsql: "1.0" } })], ["vector"]);
    expect(missing.ok).toBe(false);
    expect(missing.detail).toContain("vector is not installed in any restored database");
  });

  it("notes a different version without failing", () => {
    const result = compareExtensions(
      facts(),
      [restored({ extensions: { plpgsql: "1.0", vector: "0.8.1" } })],
      [],
    );
    expect(result.ok).toBe(true);
    expect(result.detail).toContain("vector 0.8.0 at backup, 0.8.1 restored in task");
  });
});
