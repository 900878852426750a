/**
 * Base backup of a postgres-base job: `pg_basebackup -D - -F t -X fetch` writes ONE tar on
 * stdout (the data directory, the WAL needed to make it consistent under pg_wal/, and
 * backup_manifest injected at the end), which streams through TarPeek into the encrypted
 * artifact `base.tar` (compressed first, by the job's `compression`): no plaintext on disk, and the
 * backup is self-contained, restorable without the WAL archive. `-D -` requires a cluster without extra tablespaces; pg_basebackup refuses
 * others with a clear message, which we pass on.
 *
 * The manifest meta records start/stop LSN, timeline, the first and last WAL segment the backup
 * needs and the times: a point-in-time restore can target any moment after `stopTime`, and WAL
 * retention keeps every archived segment from `startWalFile` on.
 *
 * `--checkpoint=fast`: the backup starts at once instead of waiting out a spread checkpoint
 * (up to checkpoint_timeout × checkpoint_completion_target); the short I/O burst is the usual
 * trade-off for nightly backups.
 */
import { PassThrough } from "node:stream";
import { OperationError, UsageError } from "../../errors.js";
import type { ManifestMeta } from "../../repository/manifest.js";
import type { BackupContext, BackupOutcome } from "../contract.js";
import {
  connectClient,
  describeEndpoint,
  errorText,
  libpqEnv,
  resolveEndpoint,
} from "../postgres/connection.js";
import { untilExit } from "../postgres/streams.js";
import { PgTools } from "../postgres/tools.js";
import { labelTimeToIso, parseBackupLabel, parseManifestWalRanges } from "./backup-label.js";
import { DEFAULT_COMPRESSION } from "./job-schema.js";
import { TarPeek } from "./tar-peek.js";
import type { BaseBackupFacts } from "./facts.js";
import { BASE_ARTIFACT, type PgBaseJobInput } from "./types.js";
import { DEFAULT_WAL_SEGMENT_SIZE, lsnSegment, parseLsn, segmentName } from "./wal-name.js";

interface ServerProbe {
  serverVersion: string;
  walSegmentSize: number;
  superuser: string;
  databases: string[];
  archiveMode: string;
  archiveCommandSet: boolean;
}

/**
 * What a plain SQL connection tells us (segment size, the bootstrap superuser the drill logs in
 * as, databases). A replication-only user may be refused by pg_hba.conf for SQL: then we fall
 * back to PostgreSQL's defaults and say so, since the backup itself does not need it.
 */
async function probeServer(
  context: BackupContext<PgBaseJobInput>,
  endpoint: Parameters<typeof connectClient>[0],
) {
  try {
    const client = await connectClient(endpoint, endpoint.database);
    try {
      const settings = await client.query<{ name: string; setting: string }>(
        "SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'wal_segment_size', 'archive_mode', 'archive_command')",
      );
      const setting = (name: string) => settings.rows.find((row) => row.name === name)?.setting ?? "";
      const superuser = await client.query<{ rolname: string }>(
        "SELECT rolname FROM pg_roles WHERE oid = 10",
      );
      const databases = await client.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY datname",
      );
      const probe: ServerProbe = {
        serverVersion: setting("server_version"),
        walSegmentSize: Number(setting("wal_segment_size")) || DEFAULT_WAL_SEGMENT_SIZE,
        superuser: superuser.rows[0]?.rolname ?? "postgres",
        databases: databases.rows.map((row) => row.datname),
        archiveMode: setting("archive_mode"),
        archiveCommandSet: setting("archive_command") !== "",
      };
      return probe;
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (error) {
    context.log.warn(
      { error: errorText(error) },
      "cannot query the server over SQL (replication-only user?); assuming 16 MiB WAL segments and superuser postgres",
    );
    return undefined;
  }
}

export async function backupPostgresBase(
  context: BackupContext<PgBaseJobInput>,
): Promise<BackupOutcome<BaseBackupFacts>> {
  const { job, log, signal, scope } = context;
  const endpoint = await resolveEndpoint(job.connection, context.env, context.configDir, job.name);
  const probe = await probeServer(context, endpoint);
  if (probe !== undefined && (probe.archiveMode === "off" || !probe.archiveCommandSet)) {
    log.warn(
      { archiveMode: probe.archiveMode },
      "WAL archiving is not set up on the server: this base backup restores, but point-in-time recovery past it is impossible",
    );
  }
  const tools = new PgTools(job.tools, scope, context.configDir);
  const tool = await tools.version("pg_basebackup", signal);
  const serverMajor = probe === undefined ? undefined : Number.parseInt(probe.serverVersion, 10);
  if (serverMajor !== undefined && Number.isInteger(serverMajor)) {
    await tools.requireMajor(
      "pg_basebackup",
      serverMajor,
      `the server at ${describeEndpoint(endpoint)}`,
      signal,
    );
  }

  const started = new Date();
  const env = libpqEnv(endpoint, endpoint.database);
  const child = tools.spawn(
    "pg_basebackup",
    ["-D", "-", "-F", "t", "-X", "fetch", "--checkpoint=fast", "--no-password", "--label=backdrill"],
    { env, signal, description: `pg_basebackup from ${describeEndpoint(endpoint)} (${tools.describe()})` },
  );
  const peek = new TarPeek(new Set(["backup_label", "backup_manifest"]));
  const source = untilExit(child.stdout, child);
  source.on("error", (error) => peek.destroy(error));
  const body = source.pipe(peek).pipe(new PassThrough());
  peek.on("error", (error) => body.destroy(error));
  try {
    await context.snapshot.addArtifact(BASE_ARTIFACT, body, {
      signal,
      compression: job.compression ?? DEFAULT_COMPRESSION,
    });
    await child.done;
  } catch (error) {
    child.kill();
    if (error instanceof UsageError) throw error;
    throw new OperationError(`job ${job.name}: base backup failed: ${errorText(error)}`, { cause: error });
  }
  const stopped = new Date();

  const labelText = peek.files.get("backup_label");
  const manifestText = peek.files.get("backup_manifest");
  if (labelText === undefined || manifestText === undefined) {
    throw new OperationError(
      `job ${job.name}: the pg_basebackup tar has no ${labelText === undefined ? "backup_label" : "backup_manifest"}`,
      { hint: "backdrill needs PostgreSQL 13 or later and pg_basebackup with backup manifests enabled" },
    );
  }
  const label = parseBackupLabel(labelText.toString("utf8"));
  const ranges = parseManifestWalRanges(manifestText.toString("utf8"));
  const last = ranges.at(-1) ?? ranges[0];
  const stopLsn = last?.endLsn ?? label.startLsn;
  const segmentSize = probe?.walSegmentSize ?? DEFAULT_WAL_SEGMENT_SIZE;
  // The end LSN points just past the last record: the segment holding its last byte is needed.
  const stopSegment = lsnSegment(Math.max(parseLsn(stopLsn) - 1, parseLsn(label.startLsn)), segmentSize);
  const stopTimeline = last?.timeline ?? label.timeline;

  const meta: ManifestMeta = {
    startLsn: label.startLsn,
    stopLsn,
    timeline: label.timeline,
    stopTimeline,
    startWalFile: label.startWalFile,
    stopWalFile: segmentName(stopTimeline, stopSegment, segmentSize),
    walSegmentSize: segmentSize,
    startTime: labelTimeToIso(label.startTime) ?? started.toISOString(),
    // The backup is consistent once WAL up to stopLsn is replayed, which happened by this moment.
    stopTime: stopped.toISOString(),
    toolVersion: tool.text,
    serverVersion: probe?.serverVersion ?? null,
    durationMs: stopped.getTime() - started.getTime(),
  };
  const facts: BaseBackupFacts = {
    kind: "postgres-base",
    superuser: probe?.superuser ?? "postgres",
    databases: probe?.databases ?? [],
    walSegmentSize: segmentSize,
    startLsn: label.startLsn,
    stopLsn,
    timeline: label.timeline,
  };
  log.info({ startLsn: label.startLsn, stopLsn, timeline: label.timeline }, "base backup taken");
  return { facts, meta };
}
