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
 * and are in the page cache: each call is microseconds. With the native addon a directory is
 * listed and every entry lstat'ed in one call (scanDir, native/scan_dir.c): lstatSync's
 * BigIntStats and Dates cost more than the syscall itself, twice per file per snapshot.
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
import { type DirScan, type NativeAgeStream, nativeAgeStream, SCAN_FIELDS } from "../../crypto/age/native.js";
import { OperationError } from "../../errors.js";
import { forEachLimit } from "../../util/for-each-limit.js";
import { printable } from "../../util/printable.js";
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
import { isUtf8 } from "node:buffer";
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

/**
 * A directory being walked: its entries' names in tree order and, when the native addon listed it
 * (scanDir), each name's slot in the scan's packed lstat fields.
 */
interface OpenDir {
  relative: string;
  names: string[];
  scan: ScanFields | undefined;
  /** slots[i]: names[i]'s index in `scan` (only with a scan). */
  slots: number[];
  index: number;
}

/**
 * The packed fields of one native directory scan (native/scan_dir.c), read as a ScannedEntry.
 * One scan per directory instead of one lstatSync per entry: node:fs builds a BigIntStats with
 * four Dates for each (~7 µs here against ~2.5 µs for the syscall), and the walks of a snapshot
 * make two per file (issue 19).
 */
class ScanFields {
  private readonly numbers: Float64Array;
  private readonly unsigned: BigUint64Array;
  private readonly signed: BigInt64Array;

  constructor(private readonly scan: DirScan) {
    this.numbers = new Float64Array(scan.fields);
    this.unsigned = new BigUint64Array(scan.fields);
    this.signed = new BigInt64Array(scan.fields);
  }

  /** The entry at `slot`, or null when the addon could not read it (then node:fs looks again). */
  entry(slot: number, rel: string): ScannedEntry | null {
    const k = slot * SCAN_FIELDS;
    if (this.numbers[k] !== 0) return null;
    const mode = this.numbers[k + 1] as number;
    const type = typeOfMode(mode);
    const entry: ScannedEntry = {
      path: rel,
      type,
      size: this.numbers[k + 2] as number,
      mode: modeString(mode),
      uid: this.numbers[k + 3] as number,
      gid: this.numbers[k + 4] as number,
      dev: (this.unsigned[k + 5] as bigint).toString(),
      ino: (this.unsigned[k + 6] as bigint).toString(),
      mtimeNs: (this.signed[k + 7] as bigint).toString(),
      ctimeNs: (this.signed[k + 8] as bigint).toString(),
    };
    if (type === "symlink") {
      const target = this.scan.targets[slot];
      if (target === undefined) return null;
      entry.target = target;
    }
    return entry;
  }
}

/** The entry type of an st_mode, for the node:fs walk and the native scan alike. */
function typeOfMode(mode: number): EntryType {
  const format = mode & constants.S_IFMT;
  if (format === constants.S_IFREG) return "file";
  if (format === constants.S_IFDIR) return "dir";
  if (format === constants.S_IFLNK) return "symlink";
  return "other";
}

/** Names compared as Array.prototype.sort compares strings (UTF-16 code units): tree order. */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A directory's names in tree order, with the native scan's fields when the addon is loaded and
 * could read the directory; otherwise through readdirSync, which throws (or, with
 * `skipVanished`, skips) as the walk always did.
 */
function openDir(
  relative: string,
  full: string,
  skipVanished: boolean,
  addon: NativeAgeStream | null,
): OpenDir {
  const scan = addon?.scanDir(full) ?? null;
  if (scan === null) {
    return { relative, names: listDir(full, skipVanished).sort(), scan: undefined, slots: [], index: 0 };
  }
  const raw = scan.names;
  const slots = raw.map((_, i) => i).sort((a, b) => byName(raw[a] as string, raw[b] as string));
  return { relative, names: slots.map((i) => raw[i] as string), scan: new ScanFields(scan), slots, index: 0 };
}

/**
 * Every entry under `root` (root itself excluded), in tree order (tree-order.ts), in batches of
 * at most {@link SLICE}: memory holds the open directories' listings, not the tree. With
 * `skipVanished` (a live source tree) an entry that disappears or cannot be read between readdir
 * and lstat is left out instead of failing the walk. With the native addon each directory is
 * listed and lstat'ed in one call (ScanFields); an entry it could not read, and every directory
 * it could not open, is looked at again through node:fs, so errors and skips are node:fs's.
 */
export async function* walkLocalTree(
  root: string,
  signal?: AbortSignal,
  options: { skipVanished?: boolean } = {},
): AsyncGenerator<ScannedEntry[]> {
  const skipVanished = options.skipVanished === true;
  // Read per walk, as nativeAgeStream() documents: BACKDRILL_NATIVE_CRYPTO=0 applies at once.
  const addon = nativeAgeStream();
  // Joined by hand (readdir names hold no "/"): path.join's normalising is measurable at 10⁵ entries.
  const base = path.resolve(root).replace(/\/$/, "");
  const open: OpenDir[] = [openDir("", base, skipVanished, addon)];
  let batch: ScannedEntry[] = [];
  signal?.throwIfAborted();
  while (open.length > 0) {
    const dir = open[open.length - 1] as OpenDir;
    const at = dir.index;
    const name = dir.names[at];
    if (name === undefined) {
      open.pop();
      continue;
    }
    dir.index += 1;
    const rel = dir.relative === "" ? name : `${dir.relative}/${name}`;
    const entry =
      dir.scan?.entry(dir.slots[at] as number, rel) ?? scanNamed(`${base}/${rel}`, rel, name, skipVanished);
    if (entry === undefined) continue;
    batch.push(entry);
    // Pre-order with sorted names: the directory, then everything under it.
    if (entry.type === "dir") open.push(openDir(rel, `${base}/${rel}`, skipVanished, addon));
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

/**
 * scanEntry, and if the entry cannot be found under a name holding U+FFFD, the reason when it is
 * one: a name that is not UTF-8. readdir decodes such a name with replacement characters, so no
 * call can name the file (ENOENT), and the manifest, which records names as UTF-8, could not hold
 * it either. Without this the backup failed on an ENOENT for a file that plainly exists (the
 * stored tree), after the source walk had left it out without a word.
 */
function scanNamed(full: string, rel: string, name: string, skipVanished: boolean): ScannedEntry | undefined {
  let entry: ScannedEntry | undefined;
  try {
    entry = scanEntry(full, rel, skipVanished);
  } catch (error) {
    if (name.includes("\uFFFD") && (error as NodeJS.ErrnoException).code === "ENOENT")
      refuseNonUtf8Names(full);
    throw error;
  }
  if (entry === undefined && name.includes("\uFFFD")) refuseNonUtf8Names(full);
  return entry;
}

/** Throws naming the entries of `full`'s directory whose names are not UTF-8, if there are any. */
function refuseNonUtf8Names(full: string): void {
  const dir = path.dirname(full);
  let raw: Buffer[];
  try {
    raw = readdirSync(dir, { encoding: "buffer" });
  } catch {
    return; // The directory itself is gone: the entry vanished, as the caller thought.
  }
  const bad = raw.filter((name) => !isUtf8(name)).map(escapeBytes);
  if (bad.length === 0) return;
  const shown = bad.slice(0, 3).join(", ") + (bad.length > 3 ? ` and ${bad.length - 3} more` : "");
  throw new OperationError(`files: ${printable(dir)} holds file names that are not valid UTF-8: ${shown}`, {
    hint:
      "backdrill records file names as UTF-8; rename them (convmv -f latin1 -t utf-8 -r --notest DIR " +
      "converts a tree from Latin-1) and run the backup again",
  });
}

/** A file name's bytes as text: printable ASCII as is, every other byte as \xNN. */
function escapeBytes(name: Buffer): string {
  let out = "";
  for (const byte of name)
    out +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, "0")}`;
  return out;
}

function scanEntry(full: string, rel: string, skipVanished: boolean): ScannedEntry | undefined {
  const stats = statOf(full, skipVanished);
  if (stats === undefined) return undefined;
  const type = typeOfMode(Number(stats.mode));
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
