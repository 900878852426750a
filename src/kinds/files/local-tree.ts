/**
 * Scanning and hashing a directory tree on this machine. Scanning never follows symlinks
 * (lstat) and reads no file content. Hashing reads each file once, streaming, with bounded
 * concurrency: small files in one read (a stream costs more than the file), large ones in 1 MiB
 * pieces so memory stays flat whatever the file size.
 */
import { forEachLimit } from "../../util/for-each-limit.js";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";
import { type EntryType, modeString, type ScannedEntry } from "./entries.js";

const SMALL_FILE = 1024 * 1024;
const READ_SIZE = 1024 * 1024;
/** Enough to keep libuv's pool (4 threads) and the disk busy; more only queues. */
export const DEFAULT_HASH_CONCURRENCY = 8;

function typeOf(stats: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): EntryType {
  if (stats.isFile()) return "file";
  if (stats.isDirectory()) return "dir";
  if (stats.isSymbolicLink()) return "symlink";
  return "other";
}

/** Every entry under `root` (root itself excluded), unsorted. */
export async function scanLocalTree(root: string, signal?: AbortSignal): Promise<ScannedEntry[]> {
  const out: ScannedEntry[] = [];
  const walk = async (relative: string): Promise<void> => {
    signal?.throwIfAborted();
    const names = await readdir(relative === "" ? root : path.join(root, relative));
    const children: string[] = [];
    await Promise.all(
      names.map(async (name) => {
        const rel = relative === "" ? name : `${relative}/${name}`;
        const full = path.join(root, rel);
        const stats = await lstat(full, { bigint: true });
        const type = typeOf(stats);
        const entry: ScannedEntry = {
          path: rel,
          type,
          size: Number(stats.size),
          mode: modeString(Number(stats.mode)),
          uid: Number(stats.uid),
          gid: Number(stats.gid),
          ino: stats.ino.toString(),
          mtimeNs: stats.mtimeNs.toString(),
        };
        if (type === "symlink") entry.target = await readlink(full);
        out.push(entry);
        if (type === "dir") children.push(rel);
      }),
    );
    for (const child of children) await walk(child);
  };
  await walk("");
  return out;
}

/** sha256 (hex) of one file, read once. */
export async function hashLocalFile(file: string, size: number, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  if (size <= SMALL_FILE) {
    hash.update(await readFile(file, signal === undefined ? {} : { signal }));
    return hash.digest("hex");
  }
  const stream = createReadStream(file, {
    highWaterMark: READ_SIZE,
    ...(signal === undefined ? {} : { signal }),
  });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Hashes the given files (relative paths with their sizes) under `root`. */
export async function hashLocalFiles(
  root: string,
  files: ReadonlyArray<{ path: string; size: number }>,
  options: { concurrency?: number; signal?: AbortSignal } = {},
): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  await forEachLimit(files, options.concurrency ?? DEFAULT_HASH_CONCURRENCY, async (file) => {
    options.signal?.throwIfAborted();
    result.set(file.path, await hashLocalFile(path.join(root, file.path), file.size, options.signal));
  });
  return result;
}
