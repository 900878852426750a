/**
 * Catching what rsync's quick check cannot see: a source file rewritten with the same size and
 * its mtime put back (`touch -d`, `cp -p`, some editors and sync tools, an extracted archive).
 * With --link-dest rsync compares only size and mtime against the previous snapshot, so it would
 * hard-link the old bytes into the new snapshot and the change would never be backed up.
 *
 * Every write, chmod, rename or replacement of a file changes its ctime (which no one can set
 * back) or its inode. So each snapshot records, per source file, the device, inode, size, mtime
 * and ctime it saw; the next run re-copies (rsync -I, no link) every file rsync is about to take
 * as unchanged — size and mtime equal to the previous snapshot's copy — whose source inode or
 * ctime is not the recorded one.
 *
 * The source is scanned while rsync runs (on the other core), so the record may be taken before
 * or after rsync copied the file. A record is only trusted when the file's last change is older
 * than the start of rsync (with a margin for the coarse clock the kernel stamps ctime from):
 * then nothing changed it between our look and rsync's copy. Otherwise it is recorded as
 * unsettled (null ctime) and the next run re-copies the file if rsync would link it.
 */
import type { ScannedEntry } from "./entries.js";

/** [dev, ino, size, mtimeNs, ctimeNs or null when the file changed while the snapshot was made]. */
export type SourceRecord = [dev: string, ino: string, size: number, mtimeNs: string, ctimeNs: string | null];

/** Kernel timestamps come from a clock that may lag the wall clock by a tick; 1 s is plenty. */
export const SETTLE_MARGIN_NS = 1_000_000_000n;

export function buildSourceRecords(
  entries: ReadonlyArray<ScannedEntry>,
  rsyncStartedNs: bigint,
): Record<string, SourceRecord> {
  // No prototype: a file named "__proto__" is a key like any other.
  const records = Object.create(null) as Record<string, SourceRecord>;
  const settledBefore = rsyncStartedNs - SETTLE_MARGIN_NS;
  for (const entry of entries) {
    if (entry.type !== "file" || entry.ctimeNs === undefined) continue;
    const settled = BigInt(entry.ctimeNs) < settledBefore;
    records[entry.path] = [entry.dev, entry.ino, entry.size, entry.mtimeNs, settled ? entry.ctimeNs : null];
  }
  return records;
}

/** What the previous snapshot stored for a path: its copy's size and mtime. */
export interface StoredCopy {
  size: number;
  mtimeNs: string;
}

/**
 * Source files (relative paths, sorted) that rsync would hard-link to the previous snapshot's copy
 * although the source file may have changed since that copy was made.
 */
export function filesToRecopy(
  source: ReadonlyArray<ScannedEntry>,
  previousRecords: Readonly<Record<string, unknown>> | undefined,
  storedCopy: (path: string) => StoredCopy | undefined,
): string[] {
  const out: string[] = [];
  for (const entry of source) {
    if (entry.type !== "file") continue;
    const stored = storedCopy(entry.path);
    // Not in the previous snapshot, or different size or mtime: rsync copies it anyway.
    if (stored === undefined || stored.size !== entry.size || stored.mtimeNs !== entry.mtimeNs) continue;
    const record =
      previousRecords !== undefined && Object.hasOwn(previousRecords, entry.path)
        ? previousRecords[entry.path]
        : undefined;
    if (!isUnchanged(record, entry)) out.push(entry.path);
  }
  return out.sort();
}

function isUnchanged(record: unknown, entry: ScannedEntry): boolean {
  if (!Array.isArray(record) || record.length !== 5) return false;
  const [dev, ino, size, mtimeNs, ctimeNs] = record as unknown[];
  return (
    ctimeNs !== null &&
    ctimeNs === entry.ctimeNs &&
    dev === entry.dev &&
    ino === entry.ino &&
    size === entry.size &&
    mtimeNs === entry.mtimeNs
  );
}
