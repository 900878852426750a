/**
 * WAL prefetch for `backdrill wal fetch <job> %f %p --prefetch N --prefetch-dir D`: after the
 * requested segment is in place, the next N segments of its timeline are fetched, decrypted and
 * verified (WalArchive.fetch: the same digest and signature checks as any fetch) into D, where
 * the restore_command line (restore-command.ts) picks them up with a rename instead of another
 * Node start. This is what WAL-G calls prefetch.
 *
 * Rules:
 *   - Only after a segment: a history, backup or .partial request says nothing about what comes
 *     next. Same timeline: with recovery_target_timeline = latest PostgreSQL asks for the newest
 *     timeline's name first, and a name always maps to exactly one archived content, so a
 *     prefetched file of another timeline is never handed out for a name it does not carry.
 *   - The segment size is the fetched segment's own size (segments are always full files), so
 *     the arithmetic needs no setting that could disagree with the cluster.
 *   - Each file lands by temp + rename (0600) from WalArchive.fetch: the shell never sees a
 *     partial file. Files already there are skipped.
 *   - A miss (not archived yet: the end of the archive) ends the prefetch; so does any failure,
 *     which is only logged: the segment PostgreSQL asked for is already delivered, and when it
 *     asks for the failing one, its own fetch fails fatally with the full error.
 */
import { lstat, mkdir, stat } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../../log/logger.js";
import type { WalArchive } from "./wal-archive.js";
import { followingSegments, isWalSegmentSize, parseWalFileName } from "./wal-name.js";

/** `restore --prefetch` without a value: enough to hide the Node start behind eight renames. */
export const DEFAULT_PREFETCH = 8;
/** Beyond this, a prefetch holds more WAL on disk than recovery gains from it. */
export const MAX_PREFETCH = 64;

/** Parallel fetches: decryption is CPU-bound on the restore host; two overlap I/O with it. */
const CONCURRENCY = 2;

export interface PrefetchResult {
  fetched: string[];
  /** Already in the prefetch directory. */
  present: string[];
  /** The first name the archive did not have (the end of the archive), if reached. */
  missing: string | null;
  /** Why the prefetch stopped early, if it failed. */
  error: string | null;
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/**
 * Prefetches the `count` segments after `name` (just fetched into `fetched`) into `dir`.
 * Never throws for a prefetch failure (see the file comment); returns what happened.
 */
export async function prefetchAfter(
  archive: WalArchive,
  name: string,
  fetched: string,
  options: { count: number; dir: string; identities: readonly string[]; signal: AbortSignal; log: Logger },
): Promise<PrefetchResult> {
  const result: PrefetchResult = { fetched: [], present: [], missing: null, error: null };
  const parsed = parseWalFileName(name);
  if (options.count <= 0 || parsed?.kind !== "segment") return result;
  try {
    const segmentSize = (await stat(fetched)).size;
    if (!isWalSegmentSize(segmentSize)) {
      result.error = `${name} is ${segmentSize} bytes, not a WAL segment size; no prefetch`;
      return result;
    }
    const names = followingSegments(parsed, options.count, segmentSize).filter(
      (next) => parseWalFileName(next)?.kind === "segment",
    );
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    // Workers take names in WAL order; a miss at index i stops every name after it.
    let next = 0;
    let stopAt = names.length;
    const work = async (): Promise<void> => {
      while (next < stopAt) {
        const index = next++;
        const segment = names[index];
        if (segment === undefined) return;
        const dest = path.join(options.dir, segment);
        if (await exists(dest)) {
          result.present.push(segment);
          continue;
        }
        if (await archive.fetch(segment, dest, options.identities, { signal: options.signal })) {
          result.fetched.push(segment);
        } else if (index < stopAt) {
          stopAt = index;
          result.missing = segment;
        }
      }
    };
    const worker = async (): Promise<void> => {
      try {
        await work();
      } catch (error) {
        stopAt = 0; // the other worker stops at its next name
        throw error;
      }
    };
    // Settled, not all: a failing worker must not leave the other writing after we return.
    const outcomes = await Promise.allSettled(Array.from({ length: CONCURRENCY }, () => worker()));
    const failure = outcomes.find((outcome) => outcome.status === "rejected");
    if (failure !== undefined) throw failure.reason;
  } catch (error) {
    if (options.signal.aborted) throw error;
    result.error = error instanceof Error ? error.message : String(error);
    options.log.warn({ wal: name, error: result.error }, "WAL prefetch stopped");
  }
  return result;
}
