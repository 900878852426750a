/**
 * The hash cache that makes an incremental snapshot cost a directory walk instead of reading
 * every byte again.
 *
 * rsync --link-dest hard-links each unchanged file to the previous snapshot: same inode, same
 * content. So a file in the new snapshot whose inode, size and mtime equal those recorded for the
 * same path in the previous snapshot has the sha256 recorded there. The cache lives in the
 * destination next to the snapshots (`.backdrill/<id>.json`, 0600): it tells nothing the
 * plaintext files beside it do not, and the backup host cannot read the encrypted facts in the
 * repository (it holds no private key).
 *
 * Format 3 (issue 19, memory flat at any file count) is JSON lines: a header `{"format":3}`, then
 * one line per path in tree order (tree-order.ts), `[path, stored, source]`: what the snapshot
 * stored at that path (dev, ino, size, mtime, sha256; null when the path is no file of the
 * snapshot) and the source file as this snapshot saw it (source-changes.ts; null when none). The
 * next backup merges it with its own sorted walks, one line at a time. Format 2 (one JSON object,
 * written before) is still read, in memory, so the first backup after an upgrade reuses it.
 *
 * The cache sits in the destination: every line is checked, and a damaged or missing cache (or
 * one out of order) only costs time — files are hashed and copied again — never a bogus checksum.
 */
import type { ScannedEntry } from "./entries.js";
import { LineCursor } from "./line-files.js";
import type { SourceRecord } from "./source-changes.js";
import { compareTreePaths } from "./tree-order.js";

const FORMAT = 3;
const LEGACY_FORMAT = 2;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export type StoredRecord = [dev: string, ino: string, size: number, mtimeNs: string, sha256: string];

export interface CacheLine {
  path: string;
  stored: StoredRecord | null;
  source: SourceRecord | null;
}

export function cacheHeader(): string {
  return JSON.stringify({ format: FORMAT });
}

export function cacheLineText(line: CacheLine): string {
  return JSON.stringify([line.path, line.stored, line.source]);
}

export function storedRecord(entry: ScannedEntry, sha256: string): StoredRecord {
  return [entry.dev, entry.ino, entry.size, entry.mtimeNs, sha256];
}

function asStored(value: unknown): StoredRecord | null {
  if (!Array.isArray(value) || value.length !== 5) return null;
  const [dev, ino, size, mtimeNs, sha] = value as unknown[];
  return typeof dev === "string" &&
    typeof ino === "string" &&
    typeof size === "number" &&
    typeof mtimeNs === "string" &&
    typeof sha === "string" &&
    SHA256_HEX.test(sha)
    ? [dev, ino, size, mtimeNs, sha]
    : null;
}

function asSource(value: unknown): SourceRecord | null {
  if (!Array.isArray(value) || value.length !== 5) return null;
  const [dev, ino, size, mtimeNs, ctimeNs] = value as unknown[];
  return typeof dev === "string" &&
    typeof ino === "string" &&
    typeof size === "number" &&
    typeof mtimeNs === "string" &&
    (ctimeNs === null || typeof ctimeNs === "string")
    ? [dev, ino, size, mtimeNs, ctimeNs]
    : null;
}

/** One format-3 line, or undefined when it is not one (a damaged line is skipped). */
export function parseCacheLine(text: string): CacheLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== 3 || typeof value[0] !== "string") return undefined;
  return { path: value[0], stored: asStored(value[1]), source: asSource(value[2]) };
}

/** A format-2 cache (one JSON object) as format-3 lines, sorted; undefined when it is not one. */
function legacyLines(value: unknown): CacheLine[] | undefined {
  const { files, source } = (value ?? {}) as { files?: unknown; source?: unknown };
  if (typeof files !== "object" || files === null) return undefined;
  const lines = new Map<string, CacheLine>();
  const line = (path: string): CacheLine => {
    let found = lines.get(path);
    if (found === undefined) lines.set(path, (found = { path, stored: null, source: null }));
    return found;
  };
  for (const [path, record] of Object.entries(files)) line(path).stored = asStored(record);
  if (typeof source === "object" && source !== null) {
    for (const [path, record] of Object.entries(source)) line(path).source = asSource(record);
  }
  return [...lines.values()].sort((a, b) => compareTreePaths(a.path, b.path));
}

/**
 * The previous snapshot's cache, read forward as the backup's walk goes: `find(path)` with paths
 * in tree order returns that path's line. Lines out of order end the cache there (they could
 * otherwise hide a path from the merge); what follows is treated as not cached.
 */
export class HashCacheReader {
  private current: CacheLine | undefined;
  private previousPath: string | undefined;
  private ended = false;

  private constructor(
    private readonly next: () => Promise<CacheLine | undefined>,
    /** Releases the file being read when the backup stops before its end. */
    readonly close: () => Promise<void> = () => Promise.resolve(),
  ) {}

  /** Opens the cache's lines; undefined (no cache) when they are missing or of another format. */
  static async open(lines: AsyncIterable<string[]> | null): Promise<HashCacheReader | undefined> {
    if (lines === null) return undefined;
    const cursor = LineCursor.of(lines);
    const first = await cursor.next();
    let header: unknown;
    try {
      header = JSON.parse(first ?? "");
    } catch {
      header = undefined;
    }
    const format = (header as { format?: unknown } | null | undefined)?.format;
    if (format === FORMAT) {
      return new HashCacheReader(
        async () => {
          for (let text = await cursor.next(); text !== undefined; text = await cursor.next()) {
            const line = parseCacheLine(text);
            if (line !== undefined) return line;
          }
          return undefined;
        },
        () => cursor.close(),
      );
    }
    await cursor.close();
    const legacy = format === LEGACY_FORMAT ? legacyLines(header) : undefined;
    if (legacy === undefined) return undefined;
    let index = 0;
    return new HashCacheReader(() => Promise.resolve(legacy[index++]));
  }

  /** The next line in order, or undefined at the end (or where the order breaks). */
  async nextLine(): Promise<CacheLine | undefined> {
    if (this.ended) return undefined;
    const line = await this.next();
    if (
      line === undefined ||
      (this.previousPath !== undefined && compareTreePaths(line.path, this.previousPath) <= 0)
    ) {
      this.ended = true;
      return undefined;
    }
    this.previousPath = line.path;
    return line;
  }

  /** The line of `path` (paths asked in tree order), or undefined. */
  async find(path: string): Promise<CacheLine | undefined> {
    for (;;) {
      this.current ??= await this.nextLine();
      if (this.current === undefined) return undefined;
      const order = compareTreePaths(this.current.path, path);
      if (order === 0) return this.current;
      if (order > 0) return undefined;
      this.current = undefined;
    }
  }
}

/** The cached sha256 of `entry`, when the cache knows this very inode unchanged. */
export function cachedHash(line: CacheLine | undefined, entry: ScannedEntry): string | undefined {
  const stored = line?.stored;
  if (stored === null || stored === undefined) return undefined;
  const [dev, ino, size, mtimeNs, sha] = stored;
  return dev === entry.dev && ino === entry.ino && size === entry.size && mtimeNs === entry.mtimeNs
    ? sha
    : undefined;
}

/** Every line of a whole cache file's text (tests, tools); undefined when it is no cache. */
export async function parseHashCacheText(text: string | null): Promise<CacheLine[] | undefined> {
  const reader = await HashCacheReader.open(text === null ? null : oneBatch(text.split("\n")));
  if (reader === undefined) return undefined;
  const out: CacheLine[] = [];
  for (let line = await reader.nextLine(); line !== undefined; line = await reader.nextLine()) out.push(line);
  return out;
}

async function* oneBatch(lines: string[]): AsyncGenerator<string[]> {
  yield lines;
}
