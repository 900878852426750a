/**
 * Names of the files PostgreSQL archives, and the segment arithmetic behind them.
 *
 *   000000010000000A000000FF           a WAL segment: timeline, then the segment number split in
 *                                      two 32-bit halves ("log" and "seg")
 *   000000010000000A000000FF.partial   the last, incomplete segment of an old timeline (promotion)
 *   00000002.history                   a timeline history file
 *   000000010000000000000002.00000028.backup   a backup history file (start offset in the segment)
 *
 * Everything else is refused: the name becomes part of a repository key, and a restore_command
 * asked for `../../etc/passwd` must not read or write anything but the archive.
 */
import { UsageError } from "../../errors.js";

/** PostgreSQL's default (initdb --wal-segsize); the manifest records the cluster's own. */
export const DEFAULT_WAL_SEGMENT_SIZE = 16 * 1024 * 1024;

export type WalFileKind = "segment" | "partial" | "history" | "backup";

export interface WalFileName {
  name: string;
  kind: WalFileKind;
  timeline: number;
  /** For segment, partial and backup: the two halves of the segment number. */
  log?: number;
  seg?: number;
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const PARTIAL = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.partial$/;
const BACKUP = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.[0-9A-F]{8}\.backup$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

const hex = (text: string | undefined): number => Number.parseInt(text ?? "", 16);

/** Parses an archivable file name, or returns null. */
export function parseWalFileName(name: string): WalFileName | null {
  for (const [pattern, kind] of [
    [SEGMENT, "segment"],
    [PARTIAL, "partial"],
    [BACKUP, "backup"],
  ] as const) {
    const match = pattern.exec(name);
    if (match !== null)
      return { name, kind, timeline: hex(match[1]), log: hex(match[2]), seg: hex(match[3]) };
  }
  const history = HISTORY.exec(name);
  if (history !== null) return { name, kind: "history", timeline: hex(history[1]) };
  return null;
}

/** Like parseWalFileName, but a clear UsageError for anything PostgreSQL would not archive. */
export function requireWalFileName(name: string): WalFileName {
  const parsed = parseWalFileName(name);
  if (parsed === null) {
    throw new UsageError(
      `"${name}" is not a WAL file name PostgreSQL archives ` +
        "(expected a segment like 000000010000000000000003, 00000002.history, a .partial or a .backup file)",
    );
  }
  return parsed;
}

/** Segments per "log" half: 0x100000000 / segment size (256 for 16 MiB segments). */
function segmentsPerLog(segmentSize: number): number {
  if (!Number.isInteger(segmentSize) || segmentSize <= 0 || (segmentSize & (segmentSize - 1)) !== 0) {
    throw new UsageError(`invalid WAL segment size ${segmentSize} (must be a power of two)`);
  }
  return 0x1_0000_0000 / segmentSize;
}

/** The absolute segment number of a segment file (PostgreSQL's XLogSegNo). */
export function segmentNumber(file: Pick<WalFileName, "log" | "seg">, segmentSize: number): number {
  return (file.log ?? 0) * segmentsPerLog(segmentSize) + (file.seg ?? 0);
}

/** The segment file name for a timeline and segment number (PostgreSQL's XLogFileName). */
export function segmentName(timeline: number, segno: number, segmentSize: number): string {
  const perLog = segmentsPerLog(segmentSize);
  const part = (value: number) => value.toString(16).toUpperCase().padStart(8, "0");
  return `${part(timeline)}${part(Math.floor(segno / perLog))}${part(segno % perLog)}`;
}

/** Parses an LSN like `0/3000028` into a number (exact below 2^53, i.e. 8 PiB of WAL). */
export function parseLsn(text: string): number {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (match === null) throw new UsageError(`"${text}" is not an LSN (expected e.g. 0/3000028)`);
  return hex(match[1]) * 0x1_0000_0000 + hex(match[2]);
}

export function formatLsn(lsn: number): string {
  const high = Math.floor(lsn / 0x1_0000_0000);
  const low = lsn % 0x1_0000_0000;
  return `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase()}`;
}

/** The segment number holding `lsn`. */
export function lsnSegment(lsn: number, segmentSize: number): number {
  return Math.floor(lsn / segmentSize);
}

/** Whether `size` can be a cluster's WAL segment size (initdb --wal-segsize: 1 MiB to 1 GiB, a power of two). */
export function isWalSegmentSize(size: number): boolean {
  return Number.isInteger(size) && size >= 1 << 20 && size <= 1 << 30 && (size & (size - 1)) === 0;
}

/** The names of the `count` segments after `segment` on its timeline, in WAL order. */
export function followingSegments(segment: WalFileName, count: number, segmentSize: number): string[] {
  if (segment.kind !== "segment") return [];
  const first = segmentNumber(segment, segmentSize) + 1;
  return Array.from({ length: count }, (_, index) =>
    segmentName(segment.timeline, first + index, segmentSize),
  );
}
