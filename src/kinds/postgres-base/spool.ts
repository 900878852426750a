/**
 * The spool directory: the fast, decoupled path from PostgreSQL's archive_command to the
 * repository. archive_command only copies the finished segment into a local directory
 * (a rename makes it appear whole), which costs a cp instead of a Node start + encryption +
 * upload per segment; a long-running `backdrill wal ship` drains the directory into the
 * repository with `WalArchive.push` and removes each file only once it is durably stored there.
 *
 *   archive_command = 'test ! -f S/%f && cp %p S/.%f.tmp && sync S/.%f.tmp && mv S/.%f.tmp S/%f && sync S'
 *
 * (S the spool directory.) The `sync`s make the file and its name durable before PostgreSQL hears
 * "archived" and may recycle the segment (coreutils `sync FILE` fsyncs FILE, `sync DIR` the
 * directory).
 *
 * Names starting with "." are in-flight copies and skipped; names that are not WAL files are left
 * alone and reported. A file whose push fails stays in the spool and is retried next round.
 * SHIP_CONCURRENCY files (one per core) are pushed at once: compression and encryption are CPU
 * work, and one push at a time leaves the other cores idle (bench/results.md, "Compression").
 * Trade-off: PostgreSQL considers a segment archived once it is in the spool, so the spool must
 * sit on durable local storage and be monitored (`wal ship` logs and reports its backlog).
 */
import { readdir, rm, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ArchiveFreshness } from "../contract.js";
import type { Logger } from "../../log/logger.js";
import { redact } from "../../log/redact.js";
import type { Compression } from "../../streams/compression.js";
import type { WalArchive } from "./wal-archive.js";
import { parseWalFileName } from "./wal-name.js";

export interface DrainResult {
  stored: string[];
  alreadyArchived: string[];
  failed: Array<{ name: string; error: string }>;
  /** Files in the spool that are not WAL files (left alone). */
  ignored: string[];
}

/** history files first: a restore needs them to follow timelines, and they are tiny. */
function drainOrder(a: string, b: string): number {
  const rank = (name: string) => (name.endsWith(".history") ? 0 : 1);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Files pushed at once: one per core, 2 to 4. A segment's compression keeps a core busy (brotli-1
 * ~0.1 CPU s per 16 MiB segment, bench/results.md "WAL archiving"), so fewer leaves cores idle
 * while PostgreSQL spools faster than one core compresses; at least two so that a slow store's
 * latency overlaps with the other push's CPU; more than 4 would exceed the libuv pool
 * (src/cli/threadpool.cts sizes it the same way) and only queue there.
 */
export const SHIP_CONCURRENCY = Math.min(4, Math.max(2, availableParallelism()));

/**
 * Catch-up: while at least this many WAL files wait in the spool (128 MiB of 16 MiB segments),
 * each is shipped uncompressed. Compression costs most of a ship's CPU (brotli-1: 0.25 CPU s per
 * segment against 0.08 without, bench/results.md "wal-archiving"), which on a 2-core host caps
 * the archive near 4 segments/s against 10 uncompressed; PostgreSQL writing faster than that
 * would grow the spool (and the PITR RPO) without limit. Storage is the cheaper thing to give up
 * for the minutes of a burst: each record names its compression, so fetch and verify read both.
 */
export const CATCH_UP_BACKLOG = 8;

/**
 * Pushes every spooled WAL file once (SHIP_CONCURRENCY at a time, history files before the
 * rest), uncompressed while CATCH_UP_BACKLOG or more wait; removes each one that is stored (or
 * already was).
 */
export async function drainSpool(
  archive: WalArchive,
  recipients: readonly string[],
  dir: string,
  options: { signal?: AbortSignal; log?: Logger; compression?: Compression; concurrency?: number } = {},
): Promise<DrainResult> {
  const result: DrainResult = { stored: [], alreadyArchived: [], failed: [], ignored: [] };
  const names = (await readdir(dir)).filter((name) => !name.startsWith(".")).sort(drainOrder);
  const queue: string[] = [];
  for (const name of names) {
    if (parseWalFileName(name) === null) result.ignored.push(name);
    else queue.push(name);
  }
  const shipOne = async (name: string, compression: Compression | undefined): Promise<void> => {
    const file = path.join(dir, name);
    try {
      const outcome = await archive.push(file, recipients, {
        name,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(compression === undefined ? {} : { compression }),
      });
      await rm(file, { force: true });
      (outcome === "stored" ? result.stored : result.alreadyArchived).push(name);
      options.log?.debug({ wal: name, outcome }, "spooled WAL file shipped");
    } catch (error) {
      if (options.signal?.aborted === true) throw error;
      const message = redact(error instanceof Error ? error.message : String(error));
      result.failed.push({ name, error: message });
      options.log?.error({ wal: name, error: message }, "could not ship spooled WAL file; kept in the spool");
    }
  };
  // Each worker takes the next name in order, so files leave the spool roughly oldest first.
  const worker = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      options.signal?.throwIfAborted();
      // This file and those still queued behind it.
      const waiting = queue.length + 1;
      await shipOne(name, waiting >= CATCH_UP_BACKLOG ? "none" : options.compression);
    }
  };
  if (
    queue.length >= CATCH_UP_BACKLOG &&
    options.compression !== undefined &&
    options.compression !== "none"
  ) {
    options.log?.info(
      { backlog: queue.length, compression: options.compression },
      `spool backlog of ${queue.length} WAL files: shipping uncompressed until fewer than ${CATCH_UP_BACKLOG} wait`,
    );
  }
  // Both settle before this returns (or throws on abort): no push outlives the round.
  const workers = Math.max(1, options.concurrency ?? SHIP_CONCURRENCY);
  const settled = await Promise.allSettled(Array.from({ length: workers }, worker));
  const aborted = settled.find((outcome) => outcome.status === "rejected");
  if (aborted !== undefined) throw aborted.reason;
  result.stored.sort(drainOrder);
  result.alreadyArchived.sort(drainOrder);
  return result;
}

/**
 * Drains the spool until the signal aborts (Ctrl-C / SIGTERM), then returns the totals: the next
 * round starts at once after a round that shipped files (more are likely waiting), `intervalMs`
 * after an empty round or one with failures. A failure is logged and retried next round, never fatal: the archive must keep
 * moving while someone fixes the cause.
 */
export async function shipSpool(
  archive: WalArchive,
  recipients: readonly string[],
  dir: string,
  options: {
    signal: AbortSignal;
    log: Logger;
    intervalMs: number;
    compression?: Compression;
    /** After every round (reporting: metrics, webhook); a throw is logged, never fatal. */
    onRound?: (round: DrainResult | null) => Promise<void>;
  },
): Promise<{ shipped: number; failedRounds: number }> {
  let shipped = 0;
  let failedRounds = 0;
  while (!options.signal.aborted) {
    let round: DrainResult | null = null;
    try {
      round = await drainSpool(archive, recipients, dir, options);
      shipped += round.stored.length + round.alreadyArchived.length;
      if (round.failed.length > 0) failedRounds += 1;
      if (round.stored.length > 0) options.log.info({ stored: round.stored.length }, "WAL shipped");
    } catch (error) {
      if (options.signal.aborted) break;
      failedRounds += 1;
      options.log.error({ error: redact(String(error)) }, "spool round failed; retrying");
    }
    await options.onRound?.(round).catch((error: unknown) => {
      options.log.warn({ error: redact(String(error)) }, "could not report the spool round");
    });
    // While PostgreSQL keeps spooling, the next files arrived during this round: waiting an
    // interval before looking would only add to the archive's lag (the PITR RPO). The interval
    // is for an idle spool, and after failures (no tight retry loop).
    if (!movedEverything(round)) {
      await sleep(options.intervalMs, undefined, { signal: options.signal }).catch(() => undefined);
    }
  }
  return { shipped, failedRounds };
}

/** True after a round that shipped at least one file and failed none: look again at once. */
function movedEverything(round: DrainResult | null): boolean {
  return (
    round !== null && round.failed.length === 0 && round.stored.length + round.alreadyArchived.length > 0
  );
}

/** Files waiting in the spool; null when the directory is not on this host (status may run elsewhere). */
export async function spoolBacklog(dir: string): Promise<ArchiveFreshness["backlog"]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw error;
  }
  let files = 0;
  let bytes = 0;
  let oldest: Date | null = null;
  for (const name of names) {
    if (name.startsWith(".") || parseWalFileName(name) === null) continue;
    const info = await stat(path.join(dir, name)).catch(() => null); // shipped meanwhile
    if (info === null || !info.isFile()) continue;
    files += 1;
    bytes += info.size;
    if (oldest === null || info.mtime < oldest) oldest = info.mtime;
  }
  return { dir, files, bytes, oldest };
}
