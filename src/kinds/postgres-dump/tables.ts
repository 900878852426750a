/**
 * The catalog questions asked twice, once on the source at backup time and once on the restored
 * database in a drill, so both sides are measured with the same ruler.
 *
 * Which tables: every relation pg_dump writes data for, i.e. ordinary and unlogged tables,
 * including each partition of a partitioned table, plus extension configuration tables (whose
 * rows pg_dump dumps). Not counted: partitioned parents (they hold no rows; their partitions are
 * counted, and the parent's total is derived from them), materialized views (a restore refreshes
 * them from the restored tables, so a stale source view would "differ" for no fault of the
 * backup), foreign tables and temporary tables (not dumped), and tables created by extensions
 * (created again by CREATE EXTENSION, not restored from the dump).
 *
 * Counts use `FROM ONLY`: COPY, which pg_dump uses, copies only the rows stored in that very
 * table, never those of inheritance children, so this compares like with like.
 */
import type pg from "pg";

export interface TableRef {
  schema: string;
  name: string;
  /** `schema.table` of the partitioned root, for partitions. */
  partitionOf?: string | undefined;
}

export interface TableCount extends TableRef {
  rows: number;
  /** Content checksum (see CHECKSUM_ALGORITHM); only for tables up to the row limit. */
  checksum?: string | undefined;
}

/**
 * Order-independent content checksum: per row the md5 of its text form, split into two 64-bit
 * halves, each summed as numeric. No sort and no giant string (string_agg would need the whole
 * table in memory and a collation-dependent order), duplicates count, and the text form is made
 * session-independent by the settings in connection.ts.
 */
export const CHECKSUM_ALGORITHM = "md5-row-text-sum-v1";

/** Tables per statement: one round trip for many counts, small enough to keep plans cheap. */
const BATCH = 200;

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualified(table: TableRef): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

/** `schema.table` as shown in diffs. */
export function tableKey(table: TableRef): string {
  return `${table.schema}.${table.name}`;
}

const TABLES_SQL = `
SELECT n.nspname AS schema,
       c.relname AS name,
       CASE WHEN c.relispartition THEN
         (SELECT rn.nspname || '.' || rc.relname
            FROM pg_class rc JOIN pg_namespace rn ON rn.oid = rc.relnamespace
           WHERE rc.oid = pg_partition_root(c.oid))
       END AS partition_of
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND c.relpersistence <> 't'
   AND n.nspname <> 'information_schema'
   AND n.nspname !~ '^pg_'
   AND (NOT EXISTS (SELECT 1 FROM pg_depend d
                     WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
        OR EXISTS (SELECT 1 FROM pg_extension e WHERE c.oid = ANY (e.extconfig)))
 ORDER BY 1, 2`;

export async function listTables(client: pg.Client): Promise<TableRef[]> {
  const result = await client.query<{ schema: string; name: string; partition_of: string | null }>(
    TABLES_SQL,
  );
  return result.rows.map((row) => ({
    schema: row.schema,
    name: row.name,
    ...(row.partition_of === null ? {} : { partitionOf: row.partition_of }),
  }));
}

/** Exact row counts, batched into UNION ALL statements. */
export async function countRows(client: pg.Client, tables: readonly TableRef[]): Promise<number[]> {
  const counts: number[] = [];
  for (let start = 0; start < tables.length; start += BATCH) {
    const batch = tables.slice(start, start + BATCH);
    const sql = batch
      .map((table, index) => `SELECT ${index} AS i, count(*)::text AS n FROM ONLY ${qualified(table)}`)
      .join("\nUNION ALL\n");
    const result = await client.query<{ i: number; n: string }>(sql);
    const byIndex = new Map(result.rows.map((row) => [Number(row.i), Number(row.n)]));
    batch.forEach((_, index) => counts.push(byIndex.get(index) ?? 0));
  }
  return counts;
}

export async function checksumTable(client: pg.Client, table: TableRef): Promise<string> {
  const result = await client.query<{ checksum: string }>(
    `SELECT coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text || ':' ||
            coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text AS checksum
       FROM (SELECT md5(t::text) AS h FROM ONLY ${qualified(table)} AS t) AS rows`,
  );
  return result.rows[0]?.checksum ?? "";
}

/** Counts every table and checksums those with at most `checksumMaxRows` rows (0: none). */
export async function measureTables(
  client: pg.Client,
  checksumMaxRows: number,
  only?: ReadonlySet<string>,
): Promise<TableCount[]> {
  const tables = await listTables(client);
  const counts = await countRows(client, tables);
  const measured: TableCount[] = [];
  for (const [index, table] of tables.entries()) {
    const rows = counts[index] ?? 0;
    const wanted = only === undefined ? rows <= checksumMaxRows : only.has(tableKey(table));
    const checksum = checksumMaxRows > 0 && wanted ? await checksumTable(client, table) : undefined;
    measured.push({ ...table, rows, ...(checksum === undefined ? {} : { checksum }) });
  }
  return measured;
}

export interface SequenceValue {
  schema: string;
  name: string;
  /** null when never used (or not readable); text because int8 exceeds JS numbers. */
  lastValue: string | null;
  increment: string;
}

export async function listSequences(client: pg.Client): Promise<SequenceValue[]> {
  const result = await client.query<{
    schema: string;
    name: string;
    last_value: string | null;
    increment: string;
  }>(
    `SELECT schemaname AS schema, sequencename AS name, last_value::text AS last_value,
            increment_by::text AS increment
       FROM pg_sequences
      WHERE schemaname <> 'information_schema' AND schemaname !~ '^pg_'
      ORDER BY 1, 2`,
  );
  return result.rows.map((row) => ({
    schema: row.schema,
    name: row.name,
    lastValue: row.last_value,
    increment: row.increment,
  }));
}

export async function listExtensions(client: pg.Client): Promise<Record<string, string>> {
  const result = await client.query<{ extname: string; extversion: string }>(
    "SELECT extname, extversion FROM pg_extension ORDER BY 1",
  );
  return Object.fromEntries(result.rows.map((row) => [row.extname, row.extversion]));
}

/** True when the database holds any table, view or sequence outside the system schemas. */
export async function hasUserRelations(client: pg.Client): Promise<boolean> {
  const result = await client.query<{ found: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                           WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
     ) AS found`,
  );
  return result.rows[0]?.found ?? false;
}
