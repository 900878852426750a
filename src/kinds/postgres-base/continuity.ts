/**
 * WAL continuity: does the archive hold every segment between a base backup and a recovery
 * target? Recovery stops at the first missing segment: with `pitr: latest` PostgreSQL would
 * promote there without complaint, silently losing everything after the gap, so we check the
 * archive explicitly and name the missing segments.
 *
 * Timelines: a segment number is covered when the archive has it on the base backup's timeline or
 * on a later timeline whose history file is archived (what `recovery_target_timeline = latest`
 * follows). Segments up to the backup's stop segment are inside the base backup (`-X fetch`) and
 * need not be archived.
 */
import type { ArchivedWal } from "./wal-archive.js";
import { segmentName, segmentNumber } from "./wal-name.js";

export interface ContinuityInput {
  archived: readonly ArchivedWal[];
  timeline: number;
  /** The base backup's last segment (inside the backup). */
  stopSegment: number;
  /** Check up to this segment; default: the newest archived segment on the timelines followed. */
  untilSegment?: number;
  segmentSize: number;
}

export interface ContinuityResult {
  ok: boolean;
  /** Segment numbers checked: (stopSegment, until]. */
  from: number;
  until: number;
  timelines: number[];
  /** Missing segments as names on the newest timeline followed, consecutive ones as ranges. */
  gaps: string[];
  missingCount: number;
}

/** Timelines recovery would follow from `timeline`: it, plus every later one with a history file. */
export function followedTimelines(archived: readonly ArchivedWal[], timeline: number): number[] {
  const later = archived
    .filter((file) => file.kind === "history" && file.timeline > timeline)
    .map((file) => file.timeline);
  return [timeline, ...new Set(later)].sort((a, b) => a - b);
}

export function checkContinuity(input: ContinuityInput): ContinuityResult {
  const timelines = followedTimelines(input.archived, input.timeline);
  const present = new Set<number>();
  for (const file of input.archived) {
    if (file.kind !== "segment" || !timelines.includes(file.timeline)) continue;
    present.add(segmentNumber(file, input.segmentSize));
  }
  const newestArchived = Math.max(input.stopSegment, ...present);
  const until = input.untilSegment ?? newestArchived;
  const newestTimeline = timelines.at(-1) ?? input.timeline;
  const gaps: string[] = [];
  let missingCount = 0;
  let runStart: number | undefined;
  const closeRun = (end: number) => {
    if (runStart === undefined) return;
    const first = segmentName(newestTimeline, runStart, input.segmentSize);
    gaps.push(runStart === end ? first : `${first}..${segmentName(newestTimeline, end, input.segmentSize)}`);
    runStart = undefined;
  };
  for (let segno = input.stopSegment + 1; segno <= until; segno += 1) {
    if (present.has(segno)) {
      closeRun(segno - 1);
      continue;
    }
    missingCount += 1;
    runStart ??= segno;
  }
  closeRun(until);
  return { ok: missingCount === 0, from: input.stopSegment + 1, until, timelines, gaps, missingCount };
}

/** One line for a report: what was checked and, if anything, what is missing. */
export function describeContinuity(result: ContinuityResult, segmentSize: number, timeline: number): string {
  const from = segmentName(timeline, result.from, segmentSize);
  const until = segmentName(result.timelines.at(-1) ?? timeline, result.until, segmentSize);
  if (result.until < result.from) return "no WAL after the base backup is needed";
  const span = `${from}..${until} on timeline(s) ${result.timelines.join(", ")}`;
  return result.ok
    ? `every segment archived: ${span}`
    : `${result.missingCount} segment(s) missing from the archive: ${result.gaps.join(", ")} (checked ${span})`;
}
