/**
 * pg_stat_archiver as doctor and status read it, and the one judgement of it: archiving is
 * failing when the newest failure is more recent than the newest success (or nothing succeeded
 * since the statistics were reset). An old failure followed by successes has recovered.
 * Ages are computed by the server's clock: the backup host's clock may be off.
 */
import type pg from "pg";

export interface ArchiverStats {
  archivedCount: number;
  lastArchivedWal: string | null;
  lastArchivedAgeSeconds: number | null;
  failedCount: number;
  lastFailedWal: string | null;
  lastFailedAgeSeconds: number | null;
  statsReset: string | null;
}

export async function readArchiverStats(client: pg.Client): Promise<ArchiverStats> {
  const archiver = await client.query<{
    archived_count: string;
    last_archived_wal: string | null;
    archived_age: string | null;
    failed_count: string;
    last_failed_wal: string | null;
    failed_age: string | null;
    stats_reset: Date | null;
  }>(
    `SELECT archived_count::text, last_archived_wal,
            extract(epoch FROM now() - last_archived_time)::text AS archived_age,
            failed_count::text, last_failed_wal,
            extract(epoch FROM now() - last_failed_time)::text AS failed_age,
            stats_reset
       FROM pg_stat_archiver`,
  );
  const stats = archiver.rows[0];
  const num = (text: string | null | undefined): number | null =>
    text === null || text === undefined ? null : Number(text);
  return {
    archivedCount: num(stats?.archived_count) ?? 0,
    lastArchivedWal: stats?.last_archived_wal ?? null,
    lastArchivedAgeSeconds: num(stats?.archived_age),
    failedCount: num(stats?.failed_count) ?? 0,
    lastFailedWal: stats?.last_failed_wal ?? null,
    lastFailedAgeSeconds: num(stats?.failed_age),
    statsReset: stats?.stats_reset?.toISOString() ?? null,
  };
}

/** True when the newest archiving attempt the server recorded failed. */
export function archiverFailing(stats: ArchiverStats): boolean {
  return (
    stats.lastFailedAgeSeconds !== null &&
    (stats.lastArchivedAgeSeconds === null || stats.lastFailedAgeSeconds < stats.lastArchivedAgeSeconds)
  );
}
