/**
 * Reading what a base backup says about itself: `backup_label` (start LSN, start segment,
 * timeline, start time) and `backup_manifest` (WAL-Ranges: timeline, start and end LSN). The end
 * LSN is the consistency point: a restore is usable only once WAL up to it has been replayed, and
 * point-in-time recovery can target any moment after it.
 */
import { IntegrityError } from "../../errors.js";
import { parseLsn } from "./wal-name.js";

export interface BackupLabel {
  startLsn: string;
  startWalFile: string;
  timeline: number;
  /** As PostgreSQL wrote it, e.g. `2026-11-28 02:15:00 UTC`. */
  startTime: string;
  label: string;
}

export interface WalRange {
  timeline: number;
  startLsn: string;
  endLsn: string;
}

export function parseBackupLabel(text: string): BackupLabel {
  const value = (key: string): string | undefined => {
    const line = text.split("\n").find((candidate) => candidate.startsWith(`${key}: `));
    return line?.slice(key.length + 2).trim();
  };
  const start = /^([0-9A-Fa-f]+\/[0-9A-Fa-f]+) \(file ([0-9A-F]{24})\)$/.exec(
    value("START WAL LOCATION") ?? "",
  );
  const timeline = Number(value("START TIMELINE"));
  if (start === null || start[1] === undefined || start[2] === undefined || !Number.isInteger(timeline)) {
    throw new IntegrityError("backup_label of the base backup is not in the expected format");
  }
  return {
    startLsn: start[1],
    startWalFile: start[2],
    timeline,
    startTime: value("START TIME") ?? "",
    label: value("LABEL") ?? "",
  };
}

/** WAL-Ranges of a backup_manifest (JSON, PostgreSQL 13+). */
export function parseManifestWalRanges(text: string): WalRange[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new IntegrityError("backup_manifest of the base backup is not valid JSON");
  }
  const ranges = (json as { "WAL-Ranges"?: unknown })["WAL-Ranges"];
  if (!Array.isArray(ranges) || ranges.length === 0) {
    throw new IntegrityError("backup_manifest of the base backup has no WAL-Ranges");
  }
  return ranges.map((entry: unknown) => {
    const record = entry as { Timeline?: unknown; "Start-LSN"?: unknown; "End-LSN"?: unknown };
    if (
      typeof record.Timeline !== "number" ||
      typeof record["Start-LSN"] !== "string" ||
      typeof record["End-LSN"] !== "string"
    ) {
      throw new IntegrityError("backup_manifest of the base backup has a malformed WAL-Ranges entry");
    }
    parseLsn(record["Start-LSN"]);
    parseLsn(record["End-LSN"]);
    return { timeline: record.Timeline, startLsn: record["Start-LSN"], endLsn: record["End-LSN"] };
  });
}

/** `2026-11-28 02:15:00 UTC` (backup_label's format) → ISO, or undefined. */
export function labelTimeToIso(text: string): string | undefined {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) (UTC|GMT)$/.exec(text);
  if (match === null) return undefined;
  return new Date(`${match[1]}T${match[2]}Z`).toISOString();
}
