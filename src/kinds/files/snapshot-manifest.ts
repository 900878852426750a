/**
 * The second half of a `files` backup, as one stream: the new snapshot directory walked in tree
 * order, merged with the previous snapshot's hash cache (hashes of hard-linked files) and with
 * this run's source records, every other file hashed in batches, and out come the manifest's
 * lines (files.jsonl, encrypted by the consumer) and the new hash cache's lines (a local temp
 * file). Memory holds two batches (one walked, one being hashed), not the tree (issue 19: flat at
 * 100,000 files).
 */
import { OperationError } from "../../errors.js";
import { toFileEntry, type ScannedEntry } from "./entries.js";
import { cachedHash, cacheLineText, storedRecord, type HashCacheReader } from "./hash-cache.js";
import type { LineCursor, LocalLineWriter } from "./line-files.js";
import type { Place } from "./place.js";
import { parseSourceLine, type SourceRecord } from "./source-changes.js";
import { compareTreePaths } from "./tree-order.js";

const LINES_PER_PIECE = 128;

export interface SnapshotTotals {
  files: number;
  dirs: number;
  symlinks: number;
  other: number;
  bytes: number;
  hashedFiles: number;
  hashedBytes: number;
}

export function emptyTotals(): SnapshotTotals {
  return { files: 0, dirs: 0, symlinks: 0, other: 0, bytes: 0, hashedFiles: 0, hashedBytes: 0 };
}

/** This run's source records (source-changes.ts), read forward beside the snapshot's walk. */
class SourceRecords {
  private head: { path: string; record: SourceRecord } | undefined;
  private started = false;

  constructor(private readonly cursor: LineCursor | undefined) {}

  private async peek(): Promise<{ path: string; record: SourceRecord } | undefined> {
    if (!this.started || this.head === undefined) {
      this.started = true;
      this.head = undefined;
      for (let text = await this.cursor?.next(); text !== undefined; text = await this.cursor?.next()) {
        this.head = parseSourceLine(text);
        if (this.head !== undefined) break;
      }
    }
    return this.head;
  }

  /**
   * Writes every record before `path` (a path only the source has: excluded, or vanished) as a
   * cache line of its own; returns `path`'s own record, if any. Without `path`, writes the rest.
   */
  async takeUpTo(path: string | undefined, cache: LocalLineWriter): Promise<SourceRecord | null> {
    for (let head = await this.peek(); head !== undefined; head = await this.peek()) {
      const order = path === undefined ? -1 : compareTreePaths(head.path, path);
      if (order > 0) return null;
      this.head = undefined;
      if (order === 0) return head.record;
      cache.write(cacheLineText({ path: head.path, stored: null, source: head.record }));
    }
    return null;
  }
}

/** Entries of one batch, those with known hashes, and the hashing of the rest (in flight). */
interface HashingBatch {
  entries: ScannedEntry[];
  known: Map<string, string>;
  toHash: Array<{ path: string; size: number }>;
  hashed: Promise<Map<string, string>>;
}

/**
 * The manifest's lines in batches (one Buffer per batch). Totals are filled in as it goes; they
 * are complete once the generator is exhausted.
 */
export async function* snapshotManifest(options: {
  place: Place;
  dir: string;
  signal: AbortSignal;
  previous: HashCacheReader | undefined;
  sourceRecords: LineCursor | undefined;
  cache: LocalLineWriter;
  totals: SnapshotTotals;
  /** For messages: the job's name. */
  job: string;
}): AsyncGenerator<Buffer> {
  const { place, dir, signal, previous, cache, totals } = options;
  const sources = new SourceRecords(options.sourceRecords);
  // A batch holds entries whose hashing is pending; bounded in entries too, so an unchanged tree
  // (nothing to hash) still streams out.
  const maxPending = place.hashBatch * 2;
  let pending: ScannedEntry[] = [];
  let known = new Map<string, string>();
  let toHash: Array<{ path: string; size: number }> = [];

  // The batch collected so far goes to hashing now; its lines are written by finish() once the
  // next batch has been walked, so the walk (this thread) and the hashing (the pool, or the
  // destination host) overlap instead of taking turns.
  const start = (): HashingBatch => {
    const batch: HashingBatch = {
      entries: pending,
      known,
      toHash,
      hashed: toHash.length === 0 ? Promise.resolve(new Map()) : place.hash(dir, toHash, signal),
    };
    // Observed now, awaited in finish(): a failure while the next batch is walked is no
    // unhandled rejection.
    batch.hashed.catch(() => undefined);
    pending = [];
    known = new Map();
    toHash = [];
    return batch;
  };

  const finish = async (batch: HashingBatch): Promise<Buffer[]> => {
    const fresh = await batch.hashed;
    for (const file of batch.toHash) {
      totals.hashedFiles += 1;
      totals.hashedBytes += file.size;
    }
    const out: Buffer[] = [];
    let lines: string[] = [];
    for (const entry of batch.entries) {
      const sha = entry.type === "file" ? (batch.known.get(entry.path) ?? fresh.get(entry.path)) : undefined;
      if (entry.type === "file" && sha === undefined) {
        throw new OperationError(
          `job ${options.job}: no checksum for ${entry.path} in ${place.describe(dir)}`,
        );
      }
      lines.push(JSON.stringify(toFileEntry(entry, sha)));
      // Pieces well below V8's large-object size, so they die young (see line-files.ts).
      if (lines.length === LINES_PER_PIECE) {
        out.push(Buffer.from(`${lines.join("\n")}\n`));
        lines = [];
      }
      const source = await sources.takeUpTo(entry.path, cache);
      const stored = sha === undefined ? null : storedRecord(entry, sha);
      if (stored !== null || source !== null)
        cache.write(cacheLineText({ path: entry.path, stored, source }));
      if (entry.type === "file") {
        totals.files += 1;
        totals.bytes += entry.size;
      } else if (entry.type === "dir") totals.dirs += 1;
      else if (entry.type === "symlink") totals.symlinks += 1;
      else totals.other += 1;
    }
    if (lines.length > 0) out.push(Buffer.from(`${lines.join("\n")}\n`));
    return out;
  };

  let inFlight: HashingBatch | undefined;
  // Hands the batch collected so far to hashing and writes out the one hashed before it. A batch
  // with nothing to hash (an unchanged tree) is written at once: holding it back gains nothing.
  async function* advance(): AsyncGenerator<Buffer> {
    const hashing = inFlight;
    // Tracked before the previous batch is written: if that throws, `finally` still waits for it.
    inFlight = start();
    if (hashing !== undefined) yield* await finish(hashing);
    if (inFlight.toHash.length === 0) {
      const unhashed = inFlight;
      inFlight = undefined;
      yield* await finish(unhashed);
    }
  }

  try {
    for await (const batch of place.walk(dir, signal)) {
      for (const entry of batch) {
        pending.push(entry);
        if (entry.type !== "file") continue;
        const sha = cachedHash(await previous?.find(entry.path), entry);
        if (sha === undefined) toHash.push({ path: entry.path, size: entry.size });
        else known.set(entry.path, sha);
      }
      if (toHash.length >= place.hashBatch || pending.length >= maxPending) yield* advance();
    }
    if (pending.length > 0) yield* advance();
    if (inFlight !== undefined) {
      const last = inFlight;
      inFlight = undefined;
      yield* await finish(last);
    }
  } finally {
    // Stopped early (an error, or the consumer gave up): no hashing outlives the generator.
    await inFlight?.hashed.catch(() => undefined);
  }
  await sources.takeUpTo(undefined, cache);
}
