/**
 * SQL for data that makes a PostgreSQL backup take a measurable while: `rows` rows of ~1 KiB of
 * random hex each (incompressible-ish, so pg_dump and the base backup stream for real).
 */
export function blobsSql(rows: number): string {
  return (
    "CREATE TABLE blobs (id int PRIMARY KEY, body text NOT NULL); " +
    "INSERT INTO blobs SELECT g, (SELECT string_agg(md5(random()::text || g || s), '') FROM generate_series(1, 32) s) " +
    `FROM generate_series(1, ${rows}) g`
  );
}

/** `big(id, payload)`: `rows` rows of 64 hex characters (md5 text compresses about 2:1). */
export function bigTableSql(rows: number): string {
  return `create table big as select g as id, md5(g::text) || md5((g * 7)::text) as payload from generate_series(1, ${rows}) g`;
}
