/**
 * WAL retention: after prune has decided which base backups stay, every archived file a retained
 * backup needs stays and the rest goes. A backup needs every segment from its start segment on
 * (on any timeline: later timelines branch off after it), so the cut is the oldest retained
 * backup's start segment. Kept regardless: history files (tiny, and recovery needs them to follow
 * timelines) and everything when no retained snapshot says where it starts (never guess).
 *
 * Call after the snapshots are removed, with the snapshots that remain:
 *   await pruneWal(repository, job, remainingSnapshots, { dryRun, log })
 */
import type { SideRetention, SideRetentionResult } from "../contract.js";
import type { Logger } from "../../log/logger.js";
import type { SnapshotManifest } from "../../repository/manifest.js";
import type { Repository } from "../../repository/repository.js";
import { WalArchive } from "./wal-archive.js";
import { DEFAULT_WAL_SEGMENT_SIZE, parseWalFileName, segmentNumber } from "./wal-name.js";

export interface WalPruneReport {
  /** The oldest segment a retained backup needs, or null when nothing can be removed. */
  keepFrom: string | null;
  removed: string[];
  kept: number;
  errors: Array<{ name: string; error: string }>;
}

export async function pruneWal(
  repository: Repository,
  job: string,
  retained: readonly SnapshotManifest[],
  options: { dryRun: boolean; log?: Logger; signal?: AbortSignal },
): Promise<WalPruneReport> {
  const archive = new WalArchive(repository, job);
  const starts = retained
    .map((snapshot) => {
      const start = snapshot.meta.startWalFile;
      const size = snapshot.meta.walSegmentSize;
      const parsed = typeof start === "string" ? parseWalFileName(start) : null;
      if (parsed === null) return null;
      return segmentNumber(parsed, typeof size === "number" ? size : DEFAULT_WAL_SEGMENT_SIZE);
    })
    .filter((segno): segno is number => segno !== null);
  const archived = await archive.list();
  const report: WalPruneReport = { keepFrom: null, removed: [], kept: archived.length, errors: [] };
  // A retained snapshot without a start segment (damaged meta) → we cannot know: keep all.
  if (starts.length === 0 || starts.length < retained.length) return report;
  const oldest = Math.min(...starts);
  const sizeOf = (snapshot: SnapshotManifest | undefined) =>
    typeof snapshot?.meta.walSegmentSize === "number"
      ? snapshot.meta.walSegmentSize
      : DEFAULT_WAL_SEGMENT_SIZE;
  const segmentSize = sizeOf(retained[0]);
  report.keepFrom = retained.map((snapshot) => String(snapshot.meta.startWalFile)).sort()[0] ?? null;
  for (const file of archived) {
    if (file.kind === "history") continue;
    if (segmentNumber(file, segmentSize) >= oldest) continue;
    options.signal?.throwIfAborted();
    if (options.dryRun) {
      report.removed.push(file.name);
      continue;
    }
    try {
      await archive.remove(file.name);
      report.removed.push(file.name);
    } catch (error) {
      report.errors.push({ name: file.name, error: error instanceof Error ? error.message : String(error) });
    }
  }
  report.kept = archived.length - report.removed.length;
  options.log?.info(
    { job, removed: report.removed.length, keepFrom: report.keepFrom },
    "WAL retention applied",
  );
  return report;
}

/** Keep every WAL segment a retained base backup needs to reach the present; the rest go. */
export async function pruneWalSide({
  job,
  repository,
  kept,
  dryRun,
  log,
  signal,
}: Parameters<
  SideRetention<{ name: string; kind: string; policy: string }>["prune"]
>[0]): Promise<SideRetentionResult> {
  const report = await pruneWal(repository, job.name, kept, { dryRun, log, signal });
  return {
    report,
    summary: [
      `WAL: ${report.removed.length} segment(s) ${dryRun ? "to remove" : "removed"}, ${report.kept} kept` +
        (report.keepFrom === null ? " (nothing removable)" : ` (from ${report.keepFrom} on)`),
    ],
  };
}
