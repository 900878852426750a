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
 * A cache that is missing or unreadable only costs time: every file is hashed.
 */
import type { ScannedEntry } from "./entries.js";
import type { SourceRecord, StoredCopy } from "./source-changes.js";

/** 2: the device joined the key (format 1 caches are ignored: one full hash, then reuse). */
const FORMAT = 2;
const SHA256_HEX = /^[0-9a-f]{64}$/;

type CacheRecord = [dev: string, ino: string, size: number, mtimeNs: string, sha256: string];

export interface HashCache {
  format: typeof FORMAT;
  /** The snapshot's files, as stored in the destination. */
  files: Record<string, CacheRecord>;
  /** The source files as this snapshot saw them (source-changes.ts); absent in a remote-written cache. */
  source?: Record<string, SourceRecord>;
}

export function buildHashCache(
  entries: ReadonlyArray<ScannedEntry>,
  hashes: ReadonlyMap<string, string>,
  source?: Record<string, SourceRecord>,
): HashCache {
  // No prototype: a file named "__proto__" is a key like any other.
  const files = Object.create(null) as Record<string, CacheRecord>;
  for (const entry of entries) {
    const sha = hashes.get(entry.path);
    if (entry.type === "file" && sha !== undefined)
      files[entry.path] = [entry.dev, entry.ino, entry.size, entry.mtimeNs, sha];
  }
  return source === undefined ? { format: FORMAT, files } : { format: FORMAT, files, source };
}

export function parseHashCache(text: string | null): HashCache | undefined {
  if (text === null) return undefined;
  try {
    const value = JSON.parse(text) as Partial<HashCache>;
    if (value.format !== FORMAT || typeof value.files !== "object" || value.files === null) return undefined;
    if (value.source !== undefined && (typeof value.source !== "object" || value.source === null))
      return undefined;
    return value as HashCache;
  } catch {
    return undefined;
  }
}

/** The cached sha256 of `entry`, when the cache knows this very inode unchanged. */
export function cachedHash(cache: HashCache | undefined, entry: ScannedEntry): string | undefined {
  // Own properties only: a path named "__proto__" or "constructor" must not find Object's.
  const files = cache?.files;
  if (files === undefined || !Object.hasOwn(files, entry.path)) return undefined;
  const record = files[entry.path];
  if (!Array.isArray(record) || record.length !== 5) return undefined;
  const [dev, ino, size, mtimeNs, sha] = record;
  const same = dev === entry.dev && ino === entry.ino && size === entry.size && mtimeNs === entry.mtimeNs;
  // The cache sits in the destination: a damaged one costs a re-hash, never a bogus checksum.
  return same && typeof sha === "string" && SHA256_HEX.test(sha) ? sha : undefined;
}

/** Size and mtime of the previous snapshot's copy of `path`, as its cache recorded them. */
export function storedCopy(cache: HashCache | undefined, path: string): StoredCopy | undefined {
  const files = cache?.files;
  if (files === undefined || !Object.hasOwn(files, path)) return undefined;
  const record = files[path];
  if (!Array.isArray(record) || record.length !== 5) return undefined;
  const [, , size, mtimeNs] = record;
  return typeof size === "number" && typeof mtimeNs === "string" ? { size, mtimeNs } : undefined;
}
