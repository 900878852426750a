/**
 * Doctor checks of a `postgres-base` job: the shared PostgreSQL checks (connection,
 * pg_basebackup's version), and the archiving health point-in-time recovery depends on:
 * replication rights, archive_mode, archive_command, pg_stat_archiver (failures, age of the last
 * archived segment, whether that segment reached the repository) and WAL continuity in the
 * repository since the newest base backup, and summarize_wal (PostgreSQL 17 incremental backups).
 * Read-only, except `doctor --switch-wal` (switch-wal.ts): a forced WAL switch that must arrive.
 */
import type { Finding } from "../../preflight/report.js";
import { fail, ok, SkipCheck, warn, type CheckSpec } from "../../preflight/runner.js";
import type { Repository } from "../../repository/repository.js";
import { formatDuration, parseDurationSeconds } from "../../schema/duration.js";
import type { JobSource, KindDoctorContext } from "../contract.js";
import { maskAssignments, needServer, postgresServerChecks } from "../postgres/doctor.js";
import { archiverFailing } from "../postgres/archiver.js";
import { checkContinuity, describeContinuity } from "./continuity.js";
import { readBaseMeta, stopSegmentOf } from "./drill.js";
import type { PostgresBaseJob } from "./job-schema.js";
import { WalArchive } from "./wal-archive.js";
import { switchWalAndWait, WAIT_MS } from "./switch-wal.js";
import { jobStateDir, keptManifests } from "./manifest-state.js";
import { checkWritableDir } from "../../preflight/fs-checks.js";
import { resolveEndpoint } from "../postgres/connection.js";

export function postgresBaseDoctor(
  context: KindDoctorContext,
  source: JobSource<PostgresBaseJob>,
): CheckSpec[] {
  const { job } = source;
  const subject = `job ${job.name}`;
  const { checks, server } = postgresServerChecks(context, source, "pg_basebackup");
  checks.push(
    {
      subject,
      name: "replication",
      run: async () => {
        const facts = await needServer(server);
        if (!facts.canReplicate) {
          return fail(
            `${facts.endpoint}: the role has neither REPLICATION nor SUPERUSER; pg_basebackup will be refused`,
            "ALTER ROLE <user> REPLICATION; and allow it in pg_hba.conf (database `replication` for streaming)",
          );
        }
        return ok("the role may stream base backups");
      },
    },
    {
      subject,
      name: "archive_mode",
      run: async () => {
        const facts = await needServer(server);
        if (facts.archiveMode === "off") {
          return fail(
            `archive_mode is off (wal_level ${facts.walLevel}): no WAL is archived, point-in-time recovery is impossible`,
            "ALTER SYSTEM SET archive_mode = on; (and wal_level = replica if it is minimal), then restart PostgreSQL",
          );
        }
        if (facts.walLevel === "minimal") {
          return fail(
            "wal_level is minimal: WAL cannot be archived",
            "ALTER SYSTEM SET wal_level = replica; then restart",
          );
        }
        return ok(`archive_mode ${facts.archiveMode}, wal_level ${facts.walLevel}`);
      },
    },
    {
      subject,
      name: "archive_command",
      run: async () => {
        const facts = await needServer(server);
        const example = `archive_command = 'backdrill --config-dir ${context.configDir} wal push ${job.name} %p'`;
        if (facts.archiveCommand === null) {
          if (facts.archiveLibrary !== "") {
            return warn(
              `archive_library ${facts.archiveLibrary} is set; backdrill archives through archive_command`,
            );
          }
          return warn(
            `cannot read archive_command as ${facts.endpoint}: ${facts.archiveCommandError ?? "permission denied"}`,
            "GRANT pg_read_all_settings TO <user>; so doctor can check it",
          );
        }
        if (facts.archiveCommand.trim() === "") {
          if (facts.archiveLibrary !== "") {
            return warn(
              `archive_command is empty and archive_library ${facts.archiveLibrary} archives instead`,
            );
          }
          return fail(
            "archive_command is empty: nothing is archived",
            `ALTER SYSTEM SET ${example}; SELECT pg_reload_conf();`,
          );
        }
        const shown = maskAssignments(facts.archiveCommand);
        if (!/backdrill|spool/i.test(facts.archiveCommand)) {
          return warn(
            `archive_command does not call backdrill or a spool directory: ${shown}`,
            `WAL must reach this job's repository: ${example} (or a spool drained by backdrill wal ship)`,
          );
        }
        return ok(shown);
      },
    },
    {
      subject,
      name: "archiver",
      run: async () => {
        const facts = await needServer(server);
        const a = facts.archiver;
        if (archiverFailing(a)) {
          return fail(
            `archiving is failing: ${a.failedCount} failure(s), the last ${formatDuration(Math.round(a.lastFailedAgeSeconds ?? 0))} ago for ${a.lastFailedWal ?? "?"}` +
              (a.lastArchivedAgeSeconds === null
                ? "; nothing archived successfully since the statistics were reset"
                : `; last success ${formatDuration(Math.round(a.lastArchivedAgeSeconds))} ago`),
            "read the PostgreSQL log for the archive_command's error (pg_wal grows until archiving works again)",
          );
        }
        const earlier =
          a.failedCount > 0
            ? `; ${a.failedCount} earlier failure(s) since ${a.statsReset ?? "the stats reset"}, recovered`
            : "";
        return ok(`${a.archivedCount} archived, none failing${earlier}`);
      },
    },
    {
      subject,
      name: "last archived",
      run: async () => {
        const facts = await needServer(server);
        const a = facts.archiver;
        if (a.lastArchivedWal === null || a.lastArchivedAgeSeconds === null) {
          return warn(
            "the server has archived nothing (since its statistics were reset)",
            "SELECT pg_switch_wal(); makes it archive the current segment; then run doctor again",
          );
        }
        const age = Math.round(a.lastArchivedAgeSeconds);
        const rpo = parseDurationSeconds(context.policy.rpo);
        const inRepo = await segmentInRepository(context, job.name, a.lastArchivedWal);
        const where = inRepo ? "in the repository" : "NOT in the repository";
        if (!inRepo) {
          return warn(
            `${a.lastArchivedWal}, ${formatDuration(age)} ago, is ${where}`,
            "archive_command stores WAL somewhere else (another job or repository), or a spool is not drained: check archive_command and backdrill wal ship",
          );
        }
        if (age > rpo) {
          return warn(
            `${a.lastArchivedWal}, ${formatDuration(age)} ago (longer than the policy's rpo ${formatDuration(rpo)}), ${where}`,
            "a quiet server switches segments rarely: set archive_timeout (e.g. 5min) so WAL is archived at least that often",
          );
        }
        return ok(`${a.lastArchivedWal}, ${formatDuration(age)} ago, ${where}`);
      },
    },
    {
      subject,
      name: "summarize_wal",
      run: async () => {
        const facts = await needServer(server);
        // With `incremental` set the backup fails without summaries: a failure, not a remark.
        const needed = job.incremental !== undefined;
        if (facts.summarizeWal === null) {
          const text = `PostgreSQL ${facts.version} has no WAL summaries (incremental base backups need 17)`;
          return needed ? fail(`${text}; the job sets incremental: remove it or upgrade`) : ok(text);
        }
        if (needed && facts.summarizeWal !== "on") {
          return fail(
            "off, but the job sets incremental: incremental backups fail until it is on (ALTER SYSTEM SET summarize_wal = on; SELECT pg_reload_conf();)",
          );
        }
        return ok(
          facts.summarizeWal === "on"
            ? "on: PostgreSQL 17 incremental base backups are possible"
            : "off: only needed for PostgreSQL 17 incremental base backups (ALTER SYSTEM SET summarize_wal = on; SELECT pg_reload_conf();)",
        );
      },
    },
    {
      subject,
      name: "WAL continuity",
      run: () => continuityCheck(context, job.name),
    },
  );
  const incremental = job.incremental;
  if (incremental !== undefined) {
    checks.push({
      subject,
      name: "incremental stateDir",
      run: () => stateDirCheck(incremental.stateDir, job.name),
    });
  }
  if (context.switchWal) {
    checks.push({
      subject,
      name: "WAL switch arrives",
      // Waits on purpose: its own bound, above the wait, so the finding names the segment.
      timeoutMs: Math.max(context.timeoutMs, WAIT_MS + 15_000),
      run: async (signal) => {
        await needServer(server);
        const repository = await needRepository(context);
        const endpoint = await resolveEndpoint(job.connection, context.env, context.configDir, job.name);
        return switchWalAndWait(endpoint, new WalArchive(repository, job.name), { signal, spool: job.spool });
      },
    });
  }
  return checks;
}

/**
 * The backup host keeps each base backup's backup_manifest in `incremental.stateDir` for the next
 * `pg_basebackup --incremental`: a directory it cannot write makes every backup fail after the
 * backup itself was taken, and an empty one means the next backup is full (a new host, a lost
 * volume), which an operator counting on small nightly backups wants to know before the night.
 */
export async function stateDirCheck(stateDir: string, job: string): Promise<Finding> {
  const dir = jobStateDir(stateDir, job);
  const writable = await checkWritableDir(dir, "incremental.stateDir");
  if (writable.status !== "ok") return writable;
  const kept = await keptManifests(stateDir, job);
  return kept.length === 0
    ? warn(`${dir} is writable but holds no backup_manifest: the next base backup is full`)
    : ok(
        `${dir} is writable and holds the backup_manifest of ${kept.length} snapshot(s), newest ${kept.at(-1) ?? ""}`,
      );
}

async function needRepository(context: KindDoctorContext): Promise<Repository> {
  try {
    return await context.repository();
  } catch {
    throw new SkipCheck("needs the repository (see the policy's repository check)");
  }
}

async function segmentInRepository(context: KindDoctorContext, job: string, name: string): Promise<boolean> {
  const repository = await needRepository(context);
  const archive = new WalArchive(repository, job);
  return (await archive.digest(name)) !== null;
}

/** Every segment from the newest base backup's end to the newest archived one is in the repository. */
async function continuityCheck(context: KindDoctorContext, job: string): Promise<Finding> {
  const repository = await needRepository(context);
  const snapshots = await repository.snapshots(job);
  const newest = snapshots.at(-1);
  if (newest === undefined) {
    return warn(
      "no base backup in the repository yet, so no WAL is usable",
      `run backdrill backup ${job}; continuous archiving counts from the first base backup`,
    );
  }
  const meta = readBaseMeta(newest.meta, newest.id);
  const archived = await new WalArchive(repository, job).list();
  const continuity = checkContinuity({
    archived,
    timeline: meta.timeline,
    stopSegment: stopSegmentOf(meta),
    segmentSize: meta.walSegmentSize,
  });
  const detail = `since base backup ${newest.id}: ${describeContinuity(continuity, meta.walSegmentSize, meta.timeline)}`;
  if (!continuity.ok) {
    return fail(
      detail,
      `recovery past the gap is impossible: take a new base backup now (backdrill backup ${job}) and find why archiving skipped segments`,
    );
  }
  return ok(detail);
}
