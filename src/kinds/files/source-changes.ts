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
 *
 * The walk of the source is merged, path by path in tree order, with the previous snapshot's hash
 * cache; the records and the files to copy again go to local temp files, never into memory.
 */
import type { ScannedEntry } from "./entries.js";
import type { CacheLine, HashCacheReader } from "./hash-cache.js";
import type { LocalLineWriter } from "./line-files.js";

/** [dev, ino, size, mtimeNs, ctimeNs or null when the file changed while the snapshot was made]. */
export type SourceRecord = [dev: string, ino: string, size: number, mtimeNs: string, ctimeNs: string | null];

/** Kernel timestamps come from a clock that may lag the wall clock by a tick; 1 s is plenty. */
export const SETTLE_MARGIN_NS = 1_000_000_000n;

/** The record of a source file (see above), its ctime kept only when settled before rsync began. */
export function sourceRecord(entry: ScannedEntry, rsyncStartedNs: bigint): SourceRecord | undefined {
  if (entry.type !== "file" || entry.ctimeNs === undefined) return undefined;
  const settled = BigInt(entry.ctimeNs) < rsyncStartedNs - SETTLE_MARGIN_NS;
  return [entry.dev, entry.ino, entry.size, entry.mtimeNs, settled ? entry.ctimeNs : null];
}

/**
 * Whether rsync would hard-link this source file to the previous snapshot's copy (same size and
 * mtime) although the file may have changed since that copy was made: then it is copied again.
 */
export function needsRecopy(entry: ScannedEntry, previous: CacheLine | undefined): boolean {
  if (entry.type !== "file") return false;
  const stored = previous?.stored;
  // Not in the previous snapshot, or different size or mtime: rsync copies it anyway.
  if (stored === null || stored === undefined || stored[2] !== entry.size || stored[3] !== entry.mtimeNs)
    return false;
  return !isUnchanged(previous?.source ?? null, entry);
}

function isUnchanged(record: SourceRecord | null, entry: ScannedEntry): boolean {
  if (record === null) return false;
  const [dev, ino, size, mtimeNs, ctimeNs] = record;
  return (
    ctimeNs !== null &&
    ctimeNs === entry.ctimeNs &&
    dev === entry.dev &&
    ino === entry.ino &&
    size === entry.size &&
    mtimeNs === entry.mtimeNs
  );
}

/**
 * Walks the source (batches in tree order) beside the previous cache: writes one JSON line
 * `[path, record]` per source file to `records`, and each path to copy again to `recopy`
 * (NUL-terminated, for rsync --from0 --files-from).
 */
export async function recordSource(options: {
  walk: AsyncIterable<readonly ScannedEntry[]>;
  previous: HashCacheReader | undefined;
  rsyncStartedNs: bigint;
  records: LocalLineWriter;
  recopy: LocalLineWriter;
}): Promise<void> {
  const { previous, rsyncStartedNs, records, recopy } = options;
  for await (const batch of options.walk) {
    for (const entry of batch) {
      const record = sourceRecord(entry, rsyncStartedNs);
      if (record === undefined) continue;
      records.write(JSON.stringify([entry.path, record]));
      if (previous !== undefined && needsRecopy(entry, await previous.find(entry.path)))
        recopy.write(entry.path, "\0");
    }
  }
}

/** One line of the records file written above, or undefined when it is not one. */
export function parseSourceLine(text: string): { path: string; record: SourceRecord } | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    if (!Array.isArray(value) || typeof value[0] !== "string" || !Array.isArray(value[1])) return undefined;
    return { path: value[0], record: value[1] as SourceRecord };
  } catch {
    return undefined;
  }
}
