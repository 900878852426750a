/**
 * The WAL archive as `status` and `verify` see it (the kind's `archive` part).
 *
 * Freshness: with point-in-time recovery what a disaster loses is what was not archived yet, so
 * the PITR RPO is the age of the newest archived segment (when the repository stored it), not
 * the age of the newest base backup. A broken archive_command keeps the base backups fresh while
 * this age grows. History and backup-label files count too: they are archived by the same
 * archive_command. Where the job names a spool directory that exists on this host, its backlog
 * (files waiting for `wal ship`, their bytes, the oldest) is reported as well; names starting
 * with "." are copies in flight and not counted.
 *
 * Verification: every segment recovery from the OLDEST retained base backup would replay, up to
 * the newest archived segment, across the timelines recovery follows (continuity.ts), must be
 * archived; gaps are named as ranges. Every archived file from that backup's start on must have a
 * record `fetch` trusts, and with identities (`verify --read-data`) must decrypt to what its
 * record says.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { ArchiveVerification, ContinuousArchive } from "../contract.js";
import { checkContinuity, describeContinuity } from "./continuity.js";
import { readBaseMeta, stopSegmentOf } from "./drill.js";
import { spoolBacklog } from "./spool.js";
import { parseDurationSeconds } from "../../schema/duration.js";
import type { PostgresBaseJob } from "./job-schema.js";
import { WalArchive, type ArchivedWal } from "./wal-archive.js";
import { parseWalFileName, segmentNumber } from "./wal-name.js";

export const walArchiveHealth: ContinuousArchive<PostgresBaseJob> = {
  label: "WAL archive",
  feeder: () => null, // index.ts answers it without loading this file
  source: async () => null, // index.ts asks archiver-stat.ts
  freshness: async ({ job, repository }) => {
    const archived = await new WalArchive(repository, job.name).list();
    let newest: ArchivedWal | undefined;
    for (const file of archived) if (newest === undefined || file.modified > newest.modified) newest = file;
    return {
      newest: newest === undefined ? null : { name: newest.name, storedAt: newest.modified },
      rpoSeconds: job.archiveRpo === undefined ? undefined : parseDurationSeconds(job.archiveRpo),
      backlog: job.spool === undefined ? null : await spoolBacklog(job.spool),
    };
  },
  verify: verifyWalArchive,
};

async function verifyWalArchive({
  job,
  repository,
  snapshots,
  identities,
  signal,
}: Parameters<ContinuousArchive<PostgresBaseJob>["verify"]>[0]): Promise<ArchiveVerification> {
  const archive = new WalArchive(repository, job.name);
  const archived = await archive.list();
  const oldest = snapshots[0];
  if (oldest === undefined) {
    return {
      checked: 0,
      problems: [],
      summary: `${archived.length} archived WAL file(s), no base backup to check them from`,
    };
  }
  const meta = readBaseMeta(oldest.meta, oldest.id);
  const continuity = checkContinuity({
    archived,
    timeline: meta.timeline,
    stopSegment: stopSegmentOf(meta),
    segmentSize: meta.walSegmentSize,
  });
  const problems: string[] = [];
  if (!continuity.ok) {
    problems.push(
      `${describeContinuity(continuity, meta.walSegmentSize, meta.timeline)}; ` +
        `recovery from base backup ${oldest.id} stops at the first gap`,
    );
  }
  const start = parseWalFileName(meta.startWalFile);
  const from = start === null ? 0 : segmentNumber(start, meta.walSegmentSize);
  const inScope = archived.filter(
    (file) => file.kind === "history" || segmentNumber(file, meta.walSegmentSize) >= from,
  );
  const scratch =
    identities === undefined ? null : await mkdtemp(path.join(tmpdir(), "backdrill-wal-verify-"));
  try {
    for (const file of inScope) {
      signal.throwIfAborted();
      if (scratch === null || identities === undefined) {
        const problem = await archive.recordProblem(file.name);
        if (problem !== null) problems.push(problem);
        continue;
      }
      const dest = path.join(scratch, file.name);
      try {
        await archive.fetch(file.name, dest, identities, { signal });
      } catch (error) {
        if (signal.aborted) throw error;
        problems.push(error instanceof Error ? error.message : String(error));
      } finally {
        await rm(dest, { force: true });
      }
    }
  } finally {
    if (scratch !== null) await rm(scratch, { recursive: true, force: true });
  }
  return {
    checked: inScope.length,
    problems,
    summary:
      `WAL archive of ${job.name} from base backup ${oldest.id}: ` +
      `${describeContinuity(continuity, meta.walSegmentSize, meta.timeline)}; ` +
      `${inScope.length} file(s) ${identities === undefined ? "checked for a trusted record" : "decrypted and checked against their records"}`,
  };
}
