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
import path from "node:path";
import { ConfigError, OperationError, UsageError } from "../../errors.js";
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
import { decideBackup, type BackupDecision } from "./chain.js";
import {
  forgetManifest,
  jobStateDir,
  manifestSha256,
  parentManifestFile,
  storeManifest,
} from "./manifest-state.js";
import { BASE_ARTIFACT, type PgBaseJobInput } from "./types.js";
import { DEFAULT_WAL_SEGMENT_SIZE, lsnSegment, parseLsn, segmentName } from "./wal-name.js";

interface ServerProbe {
  serverVersion: string;
  walSegmentSize: number;
  superuser: string;
  databases: string[];
  archiveMode: string;
  archiveCommandSet: boolean;
  /** "" before PostgreSQL 17 (no WAL summaries). */
  summarizeWal: string;
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
        "SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'wal_segment_size', 'archive_mode', 'archive_command', 'summarize_wal')",
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
        summarizeWal: setting("summarize_wal"),
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

  const history = (await context.history?.()) ?? [];
  const decision = await incrementalParent(context, decideBackup(job.incremental, history, new Date()));
  if (decision.type === "incremental") {
    requireSummaries(context, probe, tool.major);
    log.info(
      { parent: decision.parent.id, chainFull: decision.chainFull },
      "incremental base backup against the previous snapshot",
    );
  } else if (job.incremental !== undefined) {
    log.info({ reason: decision.reason }, "full base backup");
  }

  const started = new Date();
  const env = libpqEnv(endpoint, endpoint.database);
  const incrementalArgs = decision.type === "incremental" ? [`--incremental=${decision.file}`] : [];
  const child = await tools.spawn(
    "pg_basebackup",
    [
      "-D",
      "-",
      "-F",
      "t",
      "-X",
      "fetch",
      "--checkpoint=fast",
      "--no-password",
      "--label=backdrill",
      ...incrementalArgs,
    ],
    {
      env,
      signal,
      description: `pg_basebackup from ${describeEndpoint(endpoint)} (${tools.describe()})`,
      ...(decision.type === "incremental" ? { mounts: [path.dirname(decision.file)] } : {}),
    },
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
    if (decision.type === "incremental" && job.incremental !== undefined) {
      // pg_basebackup refused the parent (WAL summaries already removed, another timeline or
      // system): fail this run, and make the next one full rather than fail the same way forever.
      await forgetManifest(job.incremental.stateDir, job.name, decision.parent.id);
      throw new OperationError(
        `job ${job.name}: incremental base backup against snapshot ${decision.parent.id} failed: ${errorText(error)}`,
        {
          cause: error,
          hint: "the next backup of the job is full (the parent's backup_manifest was forgotten)",
        },
      );
    }
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
    backupType: decision.type,
    manifestSha256: manifestSha256(manifestText),
    ...(decision.type === "incremental" ? { parent: decision.parent.id, chainFull: decision.chainFull } : {}),
  };
  if (job.incremental !== undefined) {
    const parent = history.at(-1)?.id;
    await storeManifest(
      job.incremental.stateDir,
      job.name,
      context.snapshot.id,
      manifestText,
      new Set(parent === undefined ? [] : [parent]),
    );
  }
  const facts: BaseBackupFacts = {
    kind: "postgres-base",
    superuser: probe?.superuser ?? "postgres",
    databases: probe?.databases ?? [],
    walSegmentSize: segmentSize,
    startLsn: label.startLsn,
    stopLsn,
    timeline: label.timeline,
  };
  log.info(
    { startLsn: label.startLsn, stopLsn, timeline: label.timeline, type: decision.type },
    "base backup taken",
  );
  return { facts, meta };
}

type Planned =
  { type: "full"; reason: string } | (Extract<BackupDecision, { type: "incremental" }> & { file: string });

/** The parent's backup_manifest from the state directory, or a full backup saying why not. */
async function incrementalParent(
  context: BackupContext<PgBaseJobInput>,
  decision: BackupDecision,
): Promise<Planned> {
  const config = context.job.incremental;
  if (decision.type === "full") return decision;
  if (config === undefined) return { type: "full", reason: "the job does not set incremental" };
  const found = await parentManifestFile(
    config.stateDir,
    context.job.name,
    decision.parent.id,
    decision.manifestSha256,
  );
  if ("missing" in found) return { type: "full", reason: `the parent's backup_manifest: ${found.missing}` };
  context.log.debug({ dir: jobStateDir(config.stateDir, context.job.name) }, "parent backup_manifest found");
  return { ...decision, file: found.file };
}

/** pg_basebackup --incremental needs PostgreSQL 17 with summarize_wal = on: say so up front. */
function requireSummaries(
  context: BackupContext<PgBaseJobInput>,
  probe: ServerProbe | undefined,
  toolMajor: number,
): void {
  const where = `${context.jobFile}: incremental`;
  if (toolMajor < 17)
    throw new ConfigError(
      [
        {
          file: context.jobFile,
          path: "incremental",
          message: `job ${context.job.name}: pg_basebackup ${toolMajor} cannot take incremental backups (needs 17)`,
        },
      ],
      { hint: `use PostgreSQL 17 client tools or remove ${where}` },
    );
  if (probe === undefined) return;
  if (probe.summarizeWal !== "on")
    throw new ConfigError(
      [
        {
          file: context.jobFile,
          path: "incremental",
          message: `job ${context.job.name}: the server has summarize_wal = ${probe.summarizeWal === "" ? "(none: PostgreSQL before 17)" : probe.summarizeWal}; incremental backups need it on`,
        },
      ],
      {
        hint: `ALTER SYSTEM SET summarize_wal = on; SELECT pg_reload_conf(); (or remove ${where})`,
      },
    );
}
