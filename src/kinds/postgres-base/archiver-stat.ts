/**
 * The archive's producer as `status` sees it: the job's server's pg_stat_archiver. The repository
 * alone shows a broken archive_command only once the newest archived segment is older than the
 * PITR RPO; the server knows at its first failed attempt. Failing (the newest attempt failed,
 * postgres/archiver.ts) turns the job not ok, with the failed segment and the last success.
 *
 * A status run must not hang on a silent server (a firewall dropping packets, a stopped VM): the
 * connection and the query each get TIMEOUT_SECONDS, and the whole ask is raced against the same
 * bound; a server that cannot be asked is `ok: null` (a warning, not a breach: status may run on
 * a host that does not reach the database, and the repository's RPO still guards the archive).
 */
import type { ArchiveSource } from "../contract.js";
import { archiverFailing, readArchiverStats, type ArchiverStats } from "../postgres/archiver.js";
import { connectClient, describeEndpoint, errorText, resolveEndpoint } from "../postgres/connection.js";
import { formatDuration } from "../../schema/duration.js";
import type { PostgresBaseJob } from "./job-schema.js";

export const TIMEOUT_SECONDS = 5;

/** pg_stat_archiver of the job's server, judged; never throws. */
export async function archiverSource(context: {
  job: Pick<PostgresBaseJob, "name" | "connection">;
  env: NodeJS.ProcessEnv;
  configDir: string;
  timeoutSeconds?: number;
}): Promise<ArchiveSource> {
  const timeoutSeconds = context.timeoutSeconds ?? TIMEOUT_SECONDS;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${timeoutSeconds} s`)),
      timeoutSeconds * 1000,
    );
  });
  let where = "the server";
  try {
    const endpoint = await resolveEndpoint(
      context.job.connection,
      context.env,
      context.configDir,
      context.job.name,
    );
    where = describeEndpoint(endpoint);
    const ask = async (): Promise<ArchiverStats> => {
      const client = await connectClient(endpoint, endpoint.database, { timeoutSeconds });
      try {
        return await readArchiverStats(client);
      } finally {
        await client.end().catch(() => undefined);
      }
    };
    const stats = await Promise.race([ask(), deadline]);
    return judge(stats);
  } catch (error) {
    return {
      ok: null,
      detail: `cannot read pg_stat_archiver from ${where}: ${errorText(error)}`,
      stats: null,
    };
  } finally {
    clearTimeout(timer);
  }
}

function judge(stats: ArchiverStats): ArchiveSource {
  const figures = { ...stats };
  const success =
    stats.lastArchivedWal === null || stats.lastArchivedAgeSeconds === null
      ? "nothing archived since the statistics were reset"
      : `last archived ${stats.lastArchivedWal} ${formatDuration(Math.round(stats.lastArchivedAgeSeconds))} ago`;
  if (archiverFailing(stats)) {
    return {
      ok: false,
      detail:
        `archive_command failing: ${stats.failedCount} failure(s), the last for ${stats.lastFailedWal ?? "?"} ` +
        `${formatDuration(Math.round(stats.lastFailedAgeSeconds ?? 0))} ago; ${success}`,
      stats: figures,
    };
  }
  return { ok: true, detail: `archiver ok: ${success}`, stats: figures };
}
