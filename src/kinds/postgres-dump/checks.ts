/**
 * Drill checks for a restored postgres-dump snapshot. The restored server is measured with the
 * same queries (tables.ts) the backup used on the source; the comparisons are pure functions so
 * their wording is unit-tested without a server.
 */
import { literalPattern } from "../postgres/names.js";
import type pg from "pg";
import type { CheckResult } from "../contract.js";
import { connectClient, errorText, libpqEnv, type PgEndpoint } from "../postgres/connection.js";
import type { DatabaseFacts, PgDumpFacts } from "./facts.js";
import {
  listExtensions,
  listSequences,
  measureTables,
  tableKey,
  type SequenceValue,
  type TableCount,
} from "./tables.js";
import type { PgTools } from "../postgres/tools.js";
import type { SqlCheck as SqlAssertion } from "../postgres/target-checks.js";

/** What the restored database holds; `error` when it could not be read at all. */
export interface RestoredDatabase {
  name: string;
  tables: TableCount[];
  sequences: SequenceValue[];
  extensions: Record<string, string>;
  error?: string;
}

/** Diff lines shown in a failing check; the rest are counted. */
const MAX_LISTED = 20;

export async function inspectRestored(
  target: PgEndpoint,
  facts: DatabaseFacts,
  options: { checksums: boolean },
): Promise<RestoredDatabase> {
  let client: pg.Client | undefined;
  try {
    client = await connectClient(target, facts.name);
    const wanted = new Set(
      options.checksums ? facts.tables.filter((t) => t.checksum !== undefined).map((t) => tableKey(t)) : [],
    );
    // A huge limit: which tables get a checksum is decided by `wanted`, i.e. by the facts.
    const tables = await measureTables(client, Number.MAX_SAFE_INTEGER, wanted);
    return {
      name: facts.name,
      tables,
      sequences: await listSequences(client),
      extensions: await listExtensions(client),
    };
  } catch (error) {
    return { name: facts.name, tables: [], sequences: [], extensions: {}, error: errorText(error) };
  } finally {
    await client?.end().catch(() => undefined);
  }
}

function listed(lines: string[]): string {
  const shown = lines.slice(0, MAX_LISTED).join("; ");
  return lines.length > MAX_LISTED ? `${shown}; ... and ${lines.length - MAX_LISTED} more` : shown;
}

function formatRows(count: number): string {
  return count.toLocaleString("en-US");
}

/** Row counts per table equal the facts; the detail lists every table that differs. */
export function compareRowCounts(facts: PgDumpFacts, restored: RestoredDatabase[]): CheckResult {
  const differences: string[] = [];
  let tables = 0;
  let rows = 0;
  for (const database of facts.databases) {
    const state = restored.find((r) => r.name === database.name);
    if (state?.error !== undefined) {
      differences.push(`${database.name}: cannot read the restored database (${state.error})`);
      continue;
    }
    const actual = new Map((state?.tables ?? []).map((t) => [tableKey(t), t]));
    for (const expected of database.tables) {
      tables += 1;
      rows += expected.rows;
      const key = tableKey(expected);
      const found = actual.get(key);
      actual.delete(key);
      const label = `${database.name}: ${key}${expected.partitionOf === undefined ? "" : ` (partition of ${expected.partitionOf})`}`;
      if (found === undefined)
        differences.push(`${label} missing after restore (backup ${formatRows(expected.rows)} rows)`);
      else if (found.rows !== expected.rows) {
        differences.push(`${label} backup ${formatRows(expected.rows)}, restored ${formatRows(found.rows)}`);
      }
    }
    for (const extra of actual.values()) {
      differences.push(
        `${database.name}: ${tableKey(extra)} not in the backup (restored ${formatRows(extra.rows)} rows)`,
      );
    }
  }
  if (differences.length > 0) {
    return {
      name: "row counts",
      ok: false,
      detail: `${differences.length} table(s) differ from the backup: ${listed(differences)}`,
    };
  }
  return {
    name: "row counts",
    ok: true,
    detail: `${tables} tables in ${facts.databases.length} database(s) match the backup (${formatRows(rows)} rows)`,
  };
}

/** Content checksums equal, for the tables that had one recorded. */
export function compareChecksums(facts: PgDumpFacts, restored: RestoredDatabase[]): CheckResult {
  const differences: string[] = [];
  let compared = 0;
  for (const database of facts.databases) {
    const state = restored.find((r) => r.name === database.name);
    const actual = new Map((state?.tables ?? []).map((t) => [tableKey(t), t]));
    for (const expected of database.tables) {
      if (expected.checksum === undefined) continue;
      compared += 1;
      const found = actual.get(tableKey(expected));
      if (found?.checksum === undefined)
        differences.push(`${database.name}: ${tableKey(expected)} not checked (missing)`);
      else if (found.checksum !== expected.checksum)
        differences.push(`${database.name}: ${tableKey(expected)}`);
    }
  }
  if (compared === 0) {
    return {
      name: "checksums",
      ok: true,
      detail: "no checksums recorded in the backup (facts.checksumMaxRows: 0)",
    };
  }
  if (differences.length > 0) {
    return {
      name: "checksums",
      ok: false,
      detail: `content differs in ${differences.length} of ${compared} table(s): ${listed(differences)}`,
    };
  }
  return {
    name: "checksums",
    ok: true,
    detail: `content of ${compared} table(s) up to ${formatRows(facts.checksumMaxRows)} rows matches`,
  };
}

/**
 * Sequences are not transactional: pg_dump may have read a later value than the facts did, so
 * the check is that none went backwards (which would hand out keys that already exist).
 */
export function compareSequences(facts: PgDumpFacts, restored: RestoredDatabase[]): CheckResult {
  const problems: string[] = [];
  let compared = 0;
  for (const database of facts.databases) {
    const state = restored.find((r) => r.name === database.name);
    const actual = new Map((state?.sequences ?? []).map((s) => [`${s.schema}.${s.name}`, s]));
    for (const expected of database.sequences) {
      if (expected.lastValue === null) continue;
      compared += 1;
      const key = `${expected.schema}.${expected.name}`;
      const found = actual.get(key);
      if (found === undefined) {
        problems.push(`${database.name}: ${key} missing`);
        continue;
      }
      const before = BigInt(expected.lastValue);
      const after = found.lastValue === null ? null : BigInt(found.lastValue);
      const ascending = BigInt(expected.increment) > 0n;
      if (after === null || (ascending ? after < before : after > before)) {
        problems.push(
          `${database.name}: ${key} backup ${expected.lastValue}, restored ${found.lastValue ?? "unset"}`,
        );
      }
    }
  }
  if (problems.length > 0) {
    return {
      name: "sequences",
      ok: false,
      detail: `${problems.length} sequence(s) went backwards: ${listed(problems)}`,
    };
  }
  return { name: "sequences", ok: true, detail: `${compared} sequence(s) at or past their backed-up values` };
}

/** Required extensions present somewhere, and every extension of the source present again. */
export function compareExtensions(
  facts: PgDumpFacts,
  restored: RestoredDatabase[],
  required: readonly string[],
): CheckResult {
  const problems: string[] = [];
  const found: string[] = [];
  for (const name of required) {
    const where = restored.filter((r) => r.extensions[name] !== undefined);
    if (where.length === 0) problems.push(`${name} is not installed in any restored database`);
    else found.push(`${name} ${where.map((r) => `${r.extensions[name]} in ${r.name}`).join(", ")}`);
  }
  const notes: string[] = [];
  for (const database of facts.databases) {
    const state = restored.find((r) => r.name === database.name);
    for (const [name, version] of Object.entries(database.extensions)) {
      const now = state?.extensions[name];
      if (now === undefined) problems.push(`${name} (${version} at backup) missing in ${database.name}`);
      else if (now !== version)
        notes.push(`${name} ${version} at backup, ${now} restored in ${database.name}`);
    }
  }
  const suffix = notes.length > 0 ? ` (note: ${notes.join("; ")})` : "";
  if (problems.length > 0)
    return { name: "extensions", ok: false, detail: `${problems.join("; ")}${suffix}` };
  const detail =
    found.length > 0 ? `present: ${found.join("; ")}` : "every extension of the backup is installed again";
  return { name: "extensions", ok: true, detail: `${detail}${suffix}` };
}

/**
 * pg_amcheck over every restored database (heap and B-tree structure). `--install-missing`
 * creates the amcheck extension where it is not installed; harmless in a throwaway server.
 */
export async function runAmcheck(
  tools: PgTools,
  target: PgEndpoint,
  databases: readonly string[],
  signal: AbortSignal,
): Promise<CheckResult> {
  const problems: string[] = [];
  for (const database of databases) {
    try {
      const result = await tools.run(
        "pg_amcheck",
        // --database takes a pattern: double quotes make it match exactly this name.
        ["--no-password", "--install-missing", `--database=${literalPattern(database)}`],
        {
          env: libpqEnv(target, database),
          signal,
          description: `pg_amcheck of database ${database}`,
          // 2: corruption found (reported on stdout); 1 and others: pg_amcheck itself failed.
          okExitCodes: [0, 2],
        },
      );
      if (result.exitCode !== 0) {
        problems.push(`${database}: ${result.stdout.trim().split("\n").slice(0, MAX_LISTED).join(" | ")}`);
      }
    } catch (error) {
      problems.push(`${database}: ${errorText(error)}`);
    }
  }
  if (problems.length > 0) return { name: "amcheck", ok: false, detail: problems.join("; ") };
  return { name: "amcheck", ok: true, detail: `pg_amcheck clean in ${databases.length} database(s)` };
}

/** A SQL assertion holds when its first row's first column is true. */
export async function runSqlAssertion(target: PgEndpoint, assertion: SqlAssertion): Promise<CheckResult> {
  const name = `sql: ${assertion.name}`;
  let client: pg.Client | undefined;
  try {
    client = await connectClient(target, assertion.database);
    const result = await client.query({ text: assertion.query, rowMode: "array" });
    const value: unknown = (result.rows[0] as unknown[] | undefined)?.[0];
    if (value === true || value === "t" || value === "true") {
      return { name, ok: true, detail: `true in ${assertion.database}` };
    }
    const shown = result.rows.length === 0 ? "no rows" : JSON.stringify(value);
    return { name, ok: false, detail: `expected true, got ${shown} (database ${assertion.database})` };
  } catch (error) {
    return { name, ok: false, detail: `failed in ${assertion.database}: ${errorText(error)}` };
  } finally {
    await client?.end().catch(() => undefined);
  }
}
