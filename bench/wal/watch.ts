/**
 * Watches where a WAL archiver stores segments (a directory on the host, bind-mounted into the
 * server's container) and PostgreSQL's own view (pg_stat_archiver), every POLL_MS, and records
 * when each segment first appeared. The segment names come from the stored file names (each
 * archiver's own naming: `<segment>.age`, `<segment>-<sha1>.lz4`, `<segment>`).
 *
 * Polling rather than inotify: the directories are written by another uid inside a container and
 * by several archivers with their own temp-file-and-rename habits; a readdir every 100 ms costs
 * next to nothing and gives the time to ±0.1 s, enough for runs of 10 s and more.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type pg from "pg";
import { scalar } from "./load.js";

const POLL_MS = 100;
const SEGMENT_PREFIX = /^[0-9A-F]{24}/;

export interface Timeline {
  /** Segment name → when it was first seen stored. */
  stored: Map<string, number>;
  /** [time, pg_stat_archiver.archived_count] at every change. */
  archived: Array<[number, number]>;
  /** pg_stat_archiver.failed_count at the end minus at the start. */
  failed: number;
}

/** Lists the segment names stored under `dir`, `depth` directory levels down (0: in `dir`). */
export async function storedSegments(dir: string, depth: number): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return []; // not created yet
  }
  if (depth > 0) {
    const nested = await Promise.all(
      entries
        .filter((entry) => entry.isDirectory())
        .map((entry) => storedSegments(join(dir, entry.name), depth - 1)),
    );
    return nested.flat();
  }
  return entries
    .filter((entry) => entry.isFile() && !entry.name.startsWith("."))
    .flatMap((entry) => SEGMENT_PREFIX.exec(entry.name)?.[0] ?? []);
}

/** Bytes of the stored segment files under `dir` (`depth` levels down), and how many there are. */
export async function storedBytes(dir: string, depth: number): Promise<{ files: number; bytes: number }> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return { files: 0, bytes: 0 };
  }
  let files = 0;
  let bytes = 0;
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (depth > 0 && entry.isDirectory()) {
      const nested = await storedBytes(path, depth - 1);
      files += nested.files;
      bytes += nested.bytes;
    } else if (
      depth === 0 &&
      entry.isFile() &&
      /^[0-9A-F]{24}(-[0-9a-f]{40})?(\.(age|gz|lz4|zst|bz2))?$/.test(entry.name)
    ) {
      // The segment itself (`<segment>`, `<segment>.age`, `<segment>-<sha1>.lz4`), not its record.
      files += 1;
      bytes += (await stat(path)).size;
    }
  }
  return { files, bytes };
}

export class ArchiveWatch {
  private readonly timeline: Timeline = { stored: new Map(), archived: [], failed: 0 };
  private stopped = false;
  private loop: Promise<void> | undefined;
  private failedAtStart = 0;

  constructor(
    private readonly dir: string,
    private readonly depth: number,
    private readonly client: pg.Client,
  ) {}

  async start(): Promise<void> {
    const [archived, failed] = await this.archiverCounts();
    this.failedAtStart = failed;
    this.timeline.archived.push([Date.now(), archived]);
    // What is there already is not part of this run.
    for (const name of await storedSegments(this.dir, this.depth)) this.timeline.stored.set(name, 0);
    this.loop = this.run();
    // Observed in waitFor / stop / abandon; never an unhandled rejection meanwhile.
    this.loop.catch(() => undefined);
  }

  /** Resolves once every name is stored (or throws after `timeoutMs`). */
  async waitFor(names: readonly string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (names.some((name) => !this.timeline.stored.has(name))) {
      if (Date.now() > deadline) {
        const missing = names.filter((name) => !this.timeline.stored.has(name));
        throw new Error(
          `${missing.length} of ${names.length} segments not stored in ${this.dir} after ${timeoutMs / 1000} s (first missing ${missing[0]})`,
        );
      }
      await sleep(POLL_MS);
    }
  }

  /**
   * Resolves once pg_stat_archiver counts `count` more archived files than at the start (an
   * asynchronous archiver acknowledges after it stored; a spool long before), or after `timeoutMs`.
   */
  async waitForArchiver(count: number, timeoutMs: number): Promise<void> {
    const base = this.timeline.archived[0]?.[1] ?? 0;
    const deadline = Date.now() + timeoutMs;
    while ((this.timeline.archived.at(-1)?.[1] ?? 0) < base + count && Date.now() < deadline) {
      await sleep(POLL_MS);
    }
  }

  async stop(): Promise<Timeline> {
    this.stopped = true;
    await this.loop;
    const [archived, failed] = await this.archiverCounts();
    this.note(archived);
    this.timeline.failed = failed - this.failedAtStart;
    return this.timeline;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const now = Date.now();
      for (const name of await storedSegments(this.dir, this.depth)) {
        if (!this.timeline.stored.has(name)) this.timeline.stored.set(name, now);
      }
      try {
        this.note((await this.archiverCounts())[0]);
      } catch (error) {
        // The server or its connection went away (a failing run closes them): stop watching; the
        // run's own error says why.
        if (this.stopped) return;
        this.stopped = true;
        throw error;
      }
      await sleep(POLL_MS);
    }
  }

  /** Stops polling without reading the final counts (after a failed run). */
  async abandon(): Promise<void> {
    this.stopped = true;
    await this.loop?.catch(() => undefined);
  }

  private note(archived: number): void {
    const last = this.timeline.archived.at(-1);
    if (last === undefined || last[1] !== archived) this.timeline.archived.push([Date.now(), archived]);
  }

  private async archiverCounts(): Promise<[number, number]> {
    const row = await scalar(
      this.client,
      "SELECT archived_count || ' ' || failed_count FROM pg_stat_archiver",
    );
    const [archived = "0", failed = "0"] = row.split(" ");
    return [Number(archived), Number(failed)];
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
