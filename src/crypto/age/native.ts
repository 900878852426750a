/**
 * The optional native age STREAM addon (native/age_stream.c, age_file.c, hash_files.c and
 * scan_dir.c, built by scripts/build-native.mjs into build/native/age_stream.node on `npm ci`):
 * seals and opens batches of 64 KiB chunks with node's own OpenSSL, several times faster than
 * node:crypto's per-chunk cipher objects, and whole files on its own threads; it also hashes
 * batches of small files on the thread pool (a files snapshot's manifest) and lists a directory
 * with its entries' lstat fields (the snapshot's walks). When it is missing or
 * BACKDRILL_NATIVE_CRYPTO=0, callers fall back to node:crypto and node:fs (same bytes, slower).
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Set to "0" to force the node:crypto implementation (e.g. to rule the addon out). */
export const NATIVE_CRYPTO_ENV = "BACKDRILL_NATIVE_CRYPTO";
const ADDON_PATH = ["build", "native", "age_stream.node"] as const;

/**
 * One batch call: the 32-byte payload key, the index of the batch's first chunk, whether the
 * batch ends the payload (its last chunk gets the last-chunk flag), the input as pieces (never
 * concatenated) and the caller's output buffer.
 */
export type BatchCall<Bytes extends Uint8Array, Result> = (
  key: Bytes,
  counter: number,
  final: boolean,
  pieces: readonly Bytes[],
  output: Bytes,
) => Result;

/** An opaque handle that can stop a running file job (`abort`). */
export interface AbortToken {
  readonly __abortToken: unique symbol;
}

/**
 * How a file job ended (native/age_file.c). `index`, `finalChunk` and `flippedAuthenticates`
 * describe the chunk that failed to open (outcomes auth, short-final, empty-final); `errno` the
 * failed read or write.
 */
export interface FileResult {
  outcome:
    | "ok"
    | "read-error"
    | "write-error"
    | "aborted"
    | "auth"
    | "short-final"
    | "empty-payload"
    | "empty-final"
    | "internal";
  errno: number;
  index: number;
  finalChunk: boolean;
  flippedAuthenticates: boolean;
  /** Payload bytes read from the input (after any prefix) and written to the output. */
  bytesIn: number;
  bytesOut: number;
}

/**
 * The addon's functions (see native/age_stream.c and native/age_file.c for the exact contracts).
 * Plaintext chunks are 64 KiB, ciphertext chunks 64 KiB + 16.
 */
export interface NativeAgeStream {
  /** Seals the chunks of `pieces` starting at chunk `counter`; returns the bytes written. */
  seal: BatchCall<Uint8Array, number>;
  /**
   * Opens the chunks of `pieces`; returns how many leading chunks authenticated. The chunk at
   * that index (if any) did not, and its range of `output` has been zeroed.
   */
  open: BatchCall<Uint8Array, number>;
  /** `seal` on the libuv thread pool. */
  sealAsync: BatchCall<Uint8Array, Promise<number>>;
  /** `open` on the libuv thread pool. */
  openAsync: BatchCall<Uint8Array, Promise<number>>;
  /** glibc mallopt(M_MMAP_THRESHOLD / M_TRIM_THRESHOLD); false where it does not apply. */
  tuneAllocator(mmapThreshold: number, trimThreshold: number): boolean;
  /**
   * Seals everything from `inFd` (read to its end) as the payload, appended to `outFd`, on
   * `threads` worker threads in blocks of `blockChunks` chunks. The descriptors must stay open
   * until the promise settles.
   */
  sealFile(
    key: Uint8Array,
    inFd: number,
    outFd: number,
    threads: number,
    blockChunks: number,
    abortToken: AbortToken,
  ): Promise<FileResult>;
  /** Opens the payload: `prefix` (bytes already read after the nonce), then `inFd` to its end. */
  openFile(
    key: Uint8Array,
    inFd: number,
    outFd: number,
    threads: number,
    blockChunks: number,
    abortToken: AbortToken,
    prefix: Uint8Array,
  ): Promise<FileResult>;
  createAbortToken(): AbortToken;
  /** Stops the job holding `token` at its next block (outcome "aborted"). */
  abort(token: AbortToken): void;
  /**
   * SHA-256 of each `root + "/" + paths[i]` on the libuv thread pool (split into one range per
   * pool thread): `paths.length` × 32 bytes of digests in input order. Same semantics as
   * hashSmallFileSync (src/kinds/files/local-tree.ts): never through a symlink (O_NOFOLLOW), and a
   * file whose size is no longer `sizes[i]` is hashed as it is when read. Rejects with a node:fs
   * style error (`code`, `errno`, `syscall`, `path`) for the first file, in input order, that
   * cannot be opened or read, and with ERR_INVALID_ARG_VALUE for a path holding a NUL byte.
   * Throws TypeError for arguments of the wrong types or lengths.
   */
  hashFiles(root: string, paths: readonly string[], sizes: readonly number[]): Promise<Buffer>;
  /**
   * One directory's entries (readdir order, no "." / "..") with their lstat fields packed in
   * `fields`, {@link SCAN_FIELDS} 8-byte slots per entry, and each symlink's target at its index
   * in `targets`; null when the directory cannot be opened or read. The layout and when an
   * entry's slot 0 holds an errno instead: native/scan_dir.c. Throws TypeError for a NUL byte.
   */
  scanDir(dir: string): DirScan | null;
}

/** What {@link NativeAgeStream.scanDir} returns for a directory it could read. */
export interface DirScan {
  names: string[];
  fields: ArrayBuffer;
  targets: Array<string | undefined>;
}

/** 8-byte slots per entry in {@link DirScan.fields} (SCAN_FIELDS in native/scan_dir.c). */
export const SCAN_FIELDS = 9;

/**
 * Allocator settings applied when the addon loads (see tune_allocator in native/age_stream.c):
 * 1 MiB stream buffers come from the heap and freed ones are reused instead of being returned to
 * the kernel and page-faulted (zeroed) again, which cost more CPU than the cipher. At most
 * TRIM_THRESHOLD of free heap stays mapped. Skipped when the user tunes glibc through MALLOC_*.
 */
const MMAP_THRESHOLD = 4 * 1024 * 1024;
const TRIM_THRESHOLD = 32 * 1024 * 1024;

/** The package root: the nearest ancestor with backdrill's package.json (works from src/, dist/, bench/out/). */
function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name === "backdrill")
          return dir;
      } catch {
        // An unreadable package.json on the way up is not ours; keep looking.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** Where the addon is expected (whether or not it was built), or null outside a backdrill package. */
export function nativeAddonPath(): string | null {
  const root = packageRoot();
  return root === null ? null : join(root, ...ADDON_PATH);
}

let loaded: { addon: NativeAgeStream | null; error: string | null } | undefined;

function load(): { addon: NativeAgeStream | null; error: string | null } {
  if (loaded !== undefined) return loaded;
  const path = nativeAddonPath();
  if (path === null || !existsSync(path)) {
    loaded = { addon: null, error: `not built (${path ?? "no package root"}); run npm run build:native` };
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(path) as Partial<NativeAgeStream>;
    const exported = [
      "seal",
      "open",
      "sealAsync",
      "openAsync",
      "tuneAllocator",
      "sealFile",
      "openFile",
      "createAbortToken",
      "abort",
      "hashFiles",
      "scanDir",
    ] as const;
    for (const name of exported)
      if (typeof addon[name] !== "function") throw new Error(`it does not export ${name} (stale build?)`);
    loaded = { addon: addon as NativeAgeStream, error: null };
    if (process.env.MALLOC_MMAP_THRESHOLD_ === undefined && process.env.MALLOC_TRIM_THRESHOLD_ === undefined)
      (addon as NativeAgeStream).tuneAllocator(MMAP_THRESHOLD, TRIM_THRESHOLD);
  } catch (error) {
    // A stale or foreign build must not break encryption: the fallback produces the same bytes.
    loaded = { addon: null, error: `cannot load ${path}: ${(error as Error).message}` };
  }
  return loaded;
}

/**
 * The addon, or null when it is not built, cannot be loaded, or BACKDRILL_NATIVE_CRYPTO=0.
 * The environment is read on every call so the switch applies to streams created afterwards.
 */
export function nativeAgeStream(): NativeAgeStream | null {
  if (process.env[NATIVE_CRYPTO_ENV] === "0") return null;
  return load().addon;
}

/** Why the addon is unavailable (null when it loaded); for diagnostics and tests. */
export function nativeLoadError(): string | null {
  return load().error;
}
