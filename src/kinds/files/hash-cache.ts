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

const FORMAT = 1;

type CacheRecord = [ino: string, size: number, mtimeNs: string, sha256: string];

export interface HashCache {
  format: typeof FORMAT;
  files: Record<string, CacheRecord>;
}

export function buildHashCache(
  entries: ReadonlyArray<ScannedEntry>,
  hashes: ReadonlyMap<string, string>,
): HashCache {
  const files: Record<string, CacheRecord> = {};
  for (const entry of entries) {
    const sha = hashes.get(entry.path);
    if (entry.type === "file" && sha !== undefined)
      files[entry.path] = [entry.ino, entry.size, entry.mtimeNs, sha];
  }
  return { format: FORMAT, files };
}

export function parseHashCache(text: string | null): HashCache | undefined {
  if (text === null) return undefined;
  try {
    const value = JSON.parse(text) as Partial<HashCache>;
    if (value.format !== FORMAT || typeof value.files !== "object" || value.files === null) return undefined;
    return value as HashCache;
  } catch {
    return undefined;
  }
}

/** The cached sha256 of `entry`, when the cache knows this very inode unchanged. */
export function cachedHash(cache: HashCache | undefined, entry: ScannedEntry): string | undefined {
  const record = cache?.files[entry.path];
  if (record === undefined) return undefined;
  const [ino, size, mtimeNs, sha] = record;
  return ino === entry.ino && size === entry.size && mtimeNs === entry.mtimeNs ? sha : undefined;
}
