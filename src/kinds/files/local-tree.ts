/**
 * Scanning and hashing a directory tree on this machine. Scanning never follows symlinks
 * (lstat) and reads no file content. Hashing reads each file once.
 *
 * The cost of a files snapshot is per file, not per byte (issue 19): a tree of 10,000 small files
 * is 10,000 × (lstat, open, read, close). Through fs/promises each of those is a round trip
 * through libuv's thread pool (queue, thread wake-up, callback, promise) that costs several times
 * the syscall itself, and readFile adds an fstat and a second read. So the walk makes plain
 * synchronous syscalls on the event-loop thread, in slices of {@link SLICE} entries with a yield
 * between slices so timers, signals and aborts still run. The files were just written by rsync
 * and are in the page cache: each call is microseconds.
 *
 * Small files (≤ 1 MiB) are hashed by the native addon when it is loaded (hashFiles in
 * native/hash_files.c): one call per {@link NATIVE_CHUNK} files, which it splits across libuv's
 * thread pool, so the per-file syscalls and the sha256 run on every core instead of one after
 * the other on this thread while the other cores idle. Without the addon (or with
 * BACKDRILL_NATIVE_CRYPTO=0) they are hashed here with the same synchronous syscalls as the walk,
 * in slices. Large files (> 1 MiB) are streamed asynchronously in 1 MiB pieces, at the same time
 * as the small ones, so memory stays flat whatever the file size and a 10 GiB file never blocks
 * the loop.
 */
import { type NativeAgeStream, nativeAgeStream } from "../../crypto/age/native.js";
import { forEachLimit } from "../../util/for-each-limit.js";
import { createHash } from "node:crypto";
import {
  type BigIntStats,
  closeSync,
  constants,
  createReadStream,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
} from "node:fs";
import path from "node:path";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { type EntryType, modeString, type ScannedEntry } from "./entries.js";

const SMALL_FILE = 1024 * 1024;
const READ_SIZE = 1024 * 1024;
/** Entries handled synchronously between two yields to the event loop (a few ms of work). */
const SLICE = 256;
/**
 * Small files per native hashFiles call: enough to keep every pool thread busy for a while (the
 * call's own cost is a few µs), few enough that an abort is seen within milliseconds.
 */
export const NATIVE_CHUNK = 1024;
const DIGEST_SIZE = 32;
/** Large files streamed at once: two cores, and the small files keep the main thread busy. */
export const DEFAULT_HASH_CONCURRENCY = 2;

function typeOf(stats: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): EntryType {
  if (stats.isFile()) return "file";
  if (stats.isDirectory()) return "dir";
  if (stats.isSymbolicLink()) return "symlink";
  return "other";
}

/**
 * Every entry under `root` (root itself excluded), in tree order (tree-order.ts), in batches of
 * at most {@link SLICE}: memory holds the open directories' name lists, not the tree. With
 * `skipVanished` (a live source tree) an entry that disappears or cannot be read between readdir
 * and lstat is left out instead of failing the walk.
 */
export async function* walkLocalTree(
  root: string,
  signal?: AbortSignal,
  options: { skipVanished?: boolean } = {},
): AsyncGenerator<ScannedEntry[]> {
  const skipVanished = options.skipVanished === true;
  // Joined by hand (readdir names hold no "/"): path.join's normalising is measurable at 10⁵ entries.
  const base = path.resolve(root).replace(/\/$/, "");
  const open: Array<{ relative: string; names: string[]; index: number }> = [
    { relative: "", names: listDir(base, skipVanished).sort(), index: 0 },
  ];
  let batch: ScannedEntry[] = [];
  signal?.throwIfAborted();
  while (open.length > 0) {
    const dir = open[open.length - 1] as (typeof open)[number];
    const name = dir.names[dir.index];
    if (name === undefined) {
      open.pop();
      continue;
    }
    dir.index += 1;
    const rel = dir.relative === "" ? name : `${dir.relative}/${name}`;
    const full = `${base}/${rel}`;
    const entry = scanEntry(full, rel, skipVanished);
    if (entry === undefined) continue;
    batch.push(entry);
    // Pre-order with sorted names: the directory, then everything under it.
    if (entry.type === "dir")
      open.push({ relative: rel, names: listDir(full, skipVanished).sort(), index: 0 });
    if (batch.length === SLICE) {
      yield batch;
      batch = [];
      await yieldToLoop();
      signal?.throwIfAborted();
    }
  }
  if (batch.length > 0) yield batch;
}

/** Every entry under `root` (root itself excluded), in tree order, as one array. */
export async function scanLocalTree(
  root: string,
  signal?: AbortSignal,
  options: { skipVanished?: boolean } = {},
): Promise<ScannedEntry[]> {
  const out: ScannedEntry[] = [];
  for await (const batch of walkLocalTree(root, signal, options)) out.push(...batch);
  return out;
}

function scanEntry(full: string, rel: string, skipVanished: boolean): ScannedEntry | undefined {
  const stats = statOf(full, skipVanished);
  if (stats === undefined) return undefined;
  const type = typeOf(stats);
  const entry: ScannedEntry = {
    path: rel,
    type,
    size: Number(stats.size),
    mode: modeString(Number(stats.mode)),
    uid: Number(stats.uid),
    gid: Number(stats.gid),
    dev: stats.dev.toString(),
    ino: stats.ino.toString(),
    mtimeNs: stats.mtimeNs.toString(),
    ctimeNs: stats.ctimeNs.toString(),
  };
  if (type === "symlink") {
    const target = readLink(full, skipVanished);
    if (target === undefined) return undefined;
    entry.target = target;
  }
  return entry;
}

function vanished(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR" || code === "EACCES" || code === "EPERM";
}

function listDir(dir: string, skipVanished: boolean): string[] {
  try {
    return readdirSync(dir);
  } catch (error) {
    if (skipVanished && vanished(error)) return [];
    throw error;
  }
}

function statOf(file: string, skipVanished: boolean): BigIntStats | undefined {
  try {
    return lstatSync(file, { bigint: true });
  } catch (error) {
    if (skipVanished && vanished(error)) return undefined;
    throw error;
  }
}

function readLink(file: string, skipVanished: boolean): string | undefined {
  try {
    return readlinkSync(file);
  } catch (error) {
    if (skipVanished && vanished(error)) return undefined;
    throw error;
  }
}

/**
 * sha256 (hex) of a small file in as few syscalls as it can be: open, one read of `size + 1`
 * bytes, close. Getting exactly `size` bytes when `size + 1` were asked for is end of file; any
 * other count (the file grew or shrank since it was scanned) reads on to a read of 0 bytes, so
 * the hash is always of every byte the file holds when it is read.
 */
export function hashSmallFileSync(file: string, size: number, buffer: Buffer): string {
  const hash = createHash("sha256");
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const want = Math.min(size + 1, buffer.length);
    let got = readSync(fd, buffer, 0, want, null);
    hash.update(buffer.subarray(0, got));
    if (!(got === size && size < want)) {
      while ((got = readSync(fd, buffer, 0, buffer.length, null)) > 0) hash.update(buffer.subarray(0, got));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/** sha256 (hex) of one file, streamed in 1 MiB pieces (memory flat at any size). */
export async function hashLocalFile(file: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
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
  const { signal } = options;
  const result = new Map<string, string>();
  const large = files.filter((file) => file.size > SMALL_FILE);
  // Started first: the streams read on libuv's pool while this thread hashes the small files.
  const streamed = forEachLimit(large, options.concurrency ?? DEFAULT_HASH_CONCURRENCY, async (file) => {
    signal?.throwIfAborted();
    result.set(file.path, await hashLocalFile(path.join(root, file.path), signal));
  });
  // Observed now, awaited below: a stream failing while the small files are hashed is not an
  // unhandled rejection.
  streamed.catch(() => undefined);
  const small = files.filter((file) => file.size <= SMALL_FILE);
  // Read per call, as nativeAgeStream() documents: BACKDRILL_NATIVE_CRYPTO=0 applies at once.
  const addon = nativeAgeStream();
  try {
    if (addon === null) await hashSmallFilesHere(root, small, result, signal);
    else await hashSmallFilesNative(addon, root, small, result, signal);
  } catch (error) {
    // The streams must not outlive this call (nor reject unobserved): wait for them, keep ours.
    await streamed.catch(() => undefined);
    throw error;
  }
  await streamed;
  return result;
}

type SmallFiles = ReadonlyArray<{ path: string; size: number }>;

/** Small files through the addon, {@link NATIVE_CHUNK} per call (see the header comment). */
async function hashSmallFilesNative(
  addon: NativeAgeStream,
  root: string,
  files: SmallFiles,
  result: Map<string, string>,
  signal: AbortSignal | undefined,
): Promise<void> {
  // Absolute, no trailing "/": the addon joins root + "/" + path, as the walk does.
  const base = path.resolve(root);
  for (let start = 0; start < files.length; start += NATIVE_CHUNK) {
    signal?.throwIfAborted();
    const chunk = files.slice(start, start + NATIVE_CHUNK);
    const digests = await addon.hashFiles(
      base,
      chunk.map((file) => file.path),
      chunk.map((file) => file.size),
    );
    chunk.forEach((file, i) =>
      result.set(file.path, digests.toString("hex", i * DIGEST_SIZE, (i + 1) * DIGEST_SIZE)),
    );
  }
}

/** Small files on this thread, synchronously, with a yield every {@link SLICE} files. */
async function hashSmallFilesHere(
  root: string,
  files: SmallFiles,
  result: Map<string, string>,
  signal: AbortSignal | undefined,
): Promise<void> {
  // One read buffer kept between calls: a backup hashes in batches, and a fresh 1 MiB per batch is
  // external memory the GC frees late (peak RSS, issue 19). A concurrent call gets its own.
  const buffer = spareBuffer ?? Buffer.allocUnsafe(SMALL_FILE + 1);
  spareBuffer = undefined;
  try {
    let sinceYield = 0;
    for (const file of files) {
      result.set(file.path, hashSmallFileSync(path.join(root, file.path), file.size, buffer));
      if (++sinceYield === SLICE) {
        sinceYield = 0;
        await yieldToLoop();
        signal?.throwIfAborted();
      }
    }
  } finally {
    spareBuffer = buffer;
  }
}

let spareBuffer: Buffer | undefined;
