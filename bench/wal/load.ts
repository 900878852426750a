/**
 * The WAL load of the wal-archiving bench: a PostgreSQL session that writes WAL as fast as one
 * backend can (bulk INSERT … SELECT of prepared rows, committed every batch), until the server's
 * WAL position has moved a given number of bytes, then pg_switch_wal() so the last segment is
 * closed and handed to the archiver too.
 *
 * Why copy from a prepared table rather than generate_series + md5() per row: computing the rows
 * costs more CPU than writing them, and the point is a producer faster than any archiver here,
 * so that "segments/s" measures the archiver, not the load. The rows are hex text with a few
 * integers: WAL that brotli-1 shrinks to about 0.5 (heap inserts, their full-page images after
 * each checkpoint), the same order as the measured real workloads (0.32–0.45,
 * bench/results.md "Compression").
 */
import type pg from "pg";

export const SEGMENT_BYTES = 16 * 1024 * 1024;
/** Segments per "log id" (the middle 8 hex digits) with 16 MiB segments: 2^32 / 2^24. */
const SEGMENTS_PER_LOG = 0x100;

/** Rows copied per INSERT (one transaction each, ~30 MiB of WAL). */
const BATCH_ROWS = 100_000;

export const SETUP_SQL = `
CREATE TABLE bench_source (id bigint, n int, a text, b text);
INSERT INTO bench_source
  SELECT g, g % 1000, md5(g::text) || md5((g * 7)::text), md5((g * 13)::text) || md5((g * 17)::text) || md5((g * 19)::text)
  FROM generate_series(1, ${BATCH_ROWS}) g;
CREATE TABLE bench_wal (id bigint, n int, a text, b text);
CREATE PROCEDURE bench_generate(target bigint) LANGUAGE plpgsql AS $$
DECLARE
  start_lsn pg_lsn := pg_current_wal_lsn();
BEGIN
  LOOP
    INSERT INTO bench_wal SELECT * FROM bench_source;
    COMMIT;
    EXIT WHEN pg_current_wal_lsn() - start_lsn >= target;
  END LOOP;
END $$;
`;

/** Ordinal of a 24-hex-digit WAL segment name within its timeline (16 MiB segments). */
export function segmentIndex(name: string): number {
  return parseInt(name.slice(8, 16), 16) * SEGMENTS_PER_LOG + parseInt(name.slice(16, 24), 16);
}

/** The segment names from `first` to `last` (inclusive) on `first`'s timeline. */
export function segmentRange(first: string, last: string): string[] {
  const timeline = first.slice(0, 8);
  const names: string[] = [];
  for (let index = segmentIndex(first); index <= segmentIndex(last); index++) {
    const log = Math.floor(index / SEGMENTS_PER_LOG);
    const seg = index % SEGMENTS_PER_LOG;
    names.push(
      `${timeline}${log.toString(16).toUpperCase().padStart(8, "0")}${seg.toString(16).toUpperCase().padStart(8, "0")}`,
    );
  }
  return names;
}

export interface LoadResult {
  /** The segment being written when the load started (the first one the load fills). */
  first: string;
  /** The segment pg_switch_wal() closed: the last one to be archived. */
  last: string;
  startedAt: number;
  endedAt: number;
}

/** Writes about `segments` segments of WAL and closes the last one. */
export async function generateWal(client: pg.Client, segments: number): Promise<LoadResult> {
  const first = await scalar(client, "SELECT pg_walfile_name(pg_current_wal_lsn())");
  const startedAt = Date.now();
  // The segment the load starts in is partly filled already: aim one short and let the switch close it.
  await client.query(`CALL bench_generate(${(segments - 1) * SEGMENT_BYTES})`);
  const last = await scalar(client, "SELECT pg_walfile_name(pg_switch_wal() - 1)");
  return { first, last, startedAt, endedAt: Date.now() };
}

/**
 * Makes sure the archiver has nothing pending: closes the current segment (when it holds
 * anything) and waits until pg_stat_archiver reports it archived.
 */
export async function drainArchiver(client: pg.Client, timeoutMs: number): Promise<void> {
  await client.query("CREATE TABLE IF NOT EXISTS bench_tick (at timestamptz)");
  await client.query("INSERT INTO bench_tick VALUES (now())");
  const closed = await scalar(client, "SELECT pg_walfile_name(pg_switch_wal() - 1)");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const archived = await scalar(client, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver");
    if (archived !== "" && archived.slice(0, 24) >= closed) return;
    if (Date.now() > deadline) {
      throw new Error(
        `the archiver did not archive ${closed} within ${timeoutMs / 1000} s (last: ${archived})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function scalar(client: pg.Client, sql: string): Promise<string> {
  const result = await client.query<Record<string, unknown>>(sql);
  const row = result.rows[0];
  return String((row === undefined ? undefined : Object.values(row)[0]) ?? "");
}
