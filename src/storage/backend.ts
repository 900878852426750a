/**
 * The storage seam. A `Backend` is a flat key → bytes store; everything above it (the repository
 * layout, manifests, encryption) is written once against this interface, and `local/` and `s3/`
 * implement it. One conformance suite (`test/support/backend-conformance.ts`) holds both to the
 * same contract, so a test that passes on local disk says something about S3 too.
 *
 * Modelled on restic's `internal/backend`: small, stream-based, atomic writes, idempotent deletes,
 * "not found" as a distinguishable permanent error, and retries layered on top (`retry.ts`)
 * instead of sprinkled through the implementations.
 *
 * Error contract, common to every method:
 *   - `UsageError`: the key or prefix is invalid (see `validateKey`). Permanent; nothing was done.
 *   - `NotFoundError`: the key does not exist (only `get`). Permanent.
 *   - `AlreadyExistsError`: `put` with `overwrite: false` on an existing key. Permanent.
 *   - an `AbortError` (the signal's reason): the caller aborted. Permanent, not retried.
 *   - `OperationError` naming the location and key, with the backend's error as `cause`:
 *     everything else. Whether it is worth retrying is decided by `isTransientError` in `retry.ts`
 *     from the cause (HTTP 5xx/429, connection resets, ...); disk full, permission denied and
 *     HTTP 4xx are permanent.
 */
import type { Readable } from "node:stream";
import { UsageError } from "../errors.js";

export interface ObjectInfo {
  /** The key relative to the backend's root, `/`-separated. */
  key: string;
  /** Size in bytes. */
  size: number;
  /** Last modification time as reported by the store (mtime / S3 LastModified). */
  modified: Date;
}

export interface ByteRange {
  /** First byte to return, 0-based. */
  offset: number;
  /** Number of bytes to return; fewer are returned if the object ends first. */
  length: number;
}

export interface PutOptions {
  /** Replace an existing object. Default false: an existing key fails with `AlreadyExistsError`. */
  overwrite?: boolean;
  /** Aborting stops the write and leaves nothing behind; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * The expected body length, when known. A body that ends shorter or longer fails the put (and
   * leaves nothing behind), which catches a truncated upstream stream. S3 also uses it to pick a
   * part size large enough for objects above the default part size × 10,000.
   */
  contentLength?: number;
}

export interface GetOptions {
  /** Only these bytes. Past the end of the object the stream is short or empty, never an error. */
  range?: ByteRange;
  /** Aborting destroys the returned stream (and the request behind it). */
  signal?: AbortSignal;
}

/** A multipart upload that was started but neither completed nor aborted (S3). */
export interface IncompleteUpload {
  /** The key it would have created, relative to the backend's root. */
  key: string;
  uploadId: string;
  initiated: Date;
}

export interface AbortIncompleteUploadsOptions {
  /** Only uploads initiated before this moment; default: every upload under the prefix. */
  olderThan?: Date;
  signal?: AbortSignal;
}

export interface AbortIncompleteUploadsResult {
  aborted: IncompleteUpload[];
  /** Uploads under the prefix left alone because they are newer than `olderThan`. */
  kept: IncompleteUpload[];
  /** Uploads whose abort failed, with the reason (one line each). */
  failed: Array<IncompleteUpload & { error: string }>;
}

export interface Backend {
  /** Human-readable location without credentials, e.g. "s3://bucket/prefix" or "/var/backups/task". */
  readonly location: string;

  /**
   * Stores `body` under `key` and resolves with the number of bytes stored.
   *
   * Atomic: until the promise resolves, readers (`get`, `stat`, `list`) see the previous state
   * (nothing, or the old object when overwriting); afterwards, the complete new object. A failure
   * of any kind, including an error from `body` and an abort through `signal`, leaves no object
   * and no visible temporary behind. (On S3 an aborted multipart upload can linger invisibly for a
   * moment; see `s3-backend.ts`.)
   *
   * `overwrite: false` (the default) is a conditional create: if the key exists, or another writer
   * creates it concurrently, exactly one writer wins and the others get `AlreadyExistsError`; the
   * existing content is never changed.
   *
   * Not idempotent in general (a consumed stream cannot be re-sent), so the retry wrapper only
   * retries a put whose body was not read at all. `body` is consumed (and destroyed on failure).
   */
  put(key: string, body: Readable, options?: PutOptions): Promise<{ size: number }>;

  /**
   * Opens the object for reading. Rejects with `NotFoundError` if it does not exist; the check
   * happens before the promise resolves, so a missing key never surfaces as a stream error. Errors
   * after that (connection reset mid-download) are emitted by the stream.
   */
  get(key: string, options?: GetOptions): Promise<Readable>;

  /** Size and modification time, or `null` if the key does not exist. Idempotent. */
  stat(key: string): Promise<ObjectInfo | null>;

  /**
   * Every object whose key starts with `prefix` (a plain string prefix: "data/a" matches
   * "data/a/x" and "data/ab"; "" lists everything), in ascending order of the keys' UTF-8 bytes
   * (S3's order; `compareKeys`). The order lets callers merge listings and lets the retry wrapper
   * resume a listing after a transient failure without duplicates.
   *
   * Not a snapshot: objects put or deleted during the listing may or may not appear.
   */
  list(prefix: string): AsyncIterable<ObjectInfo>;

  /**
   * Removes the object. Idempotent: deleting a missing key succeeds. On a versioned S3 bucket this
   * adds a delete marker; older versions stay until lifecycle or Object Lock lets them go.
   */
  delete(key: string): Promise<void>;

  /** Releases connections and handles. The backend must not be used afterwards. Idempotent. */
  close(): Promise<void>;

  /**
   * Optional capability: removes the incomplete writes under `prefix` (a plain prefix as in
   * `list`) that are invisible to `list`/`stat`/`get` but hold storage: S3's incomplete multipart
   * uploads, the local backend's temporary files. A `put` that fails cleans up its own, but when
   * the store is unreachable at that moment it cannot, and a killed process never does.
   * Callers must only pass prefixes no live writer uses (the job lock is held), or an `olderThan`
   * no live write can be older than. Idempotent. Throws only if the incomplete writes cannot be
   * listed; one that cannot be removed is reported in `failed`.
   */
  abortIncompleteUploads?(
    prefix: string,
    options?: AbortIncompleteUploadsOptions,
  ): Promise<AbortIncompleteUploadsResult>;
}

/** Longest key accepted, in UTF-8 bytes: S3's limit for a whole key (prefix included). */
export const MAX_KEY_BYTES = 1024;
/** Longest segment accepted, in UTF-8 bytes: NAME_MAX on the file systems we write to. */
export const MAX_SEGMENT_BYTES = 255;
/**
 * Segment names starting with this are reserved for the local backend's in-flight temporary
 * files. They are rejected as keys on every backend so keys stay portable between them.
 */
export const RESERVED_SEGMENT_PREFIX = ".tmp-";

/**
 * Why `key` is not a valid key, or `null` if it is. Keys are `/`-separated relative paths that
 * mean the same thing on every backend: no absolute paths, no empty, `.` or `..` segments (a
 * path-traversal guard for the local backend, and S3 would store them literally, making the two
 * backends disagree), no backslashes or control characters, no reserved temporary names.
 */
export function keyProblem(key: string): string | null {
  if (key === "") return "is empty";
  if (key.startsWith("/")) return "is absolute (starts with /)";
  if (key.endsWith("/")) return "ends with /";
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we reject
  if (/[\u0000-\u001f\u007f]/.test(key)) return "contains a control character";
  if (key.includes("\\")) return "contains a backslash";
  if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) return `is longer than ${MAX_KEY_BYTES} bytes`;
  // A lone surrogate does not survive UTF-8 encoding, so the stored name would differ from the key.
  if (Buffer.from(key, "utf8").toString("utf8") !== key) return "is not valid Unicode";
  for (const segment of key.split("/")) {
    if (segment === "") return "has an empty segment (//)";
    if (segment === "." || segment === "..") return `has a "${segment}" segment`;
    if (segment.startsWith(RESERVED_SEGMENT_PREFIX))
      return `has a segment starting with ${RESERVED_SEGMENT_PREFIX}`;
    if (Buffer.byteLength(segment, "utf8") > MAX_SEGMENT_BYTES) {
      return `has a segment longer than ${MAX_SEGMENT_BYTES} bytes`;
    }
  }
  return null;
}

/** Throws `UsageError` unless `key` is valid (see `keyProblem`). */
export function validateKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== null) throw new UsageError(`invalid storage key ${JSON.stringify(key)}: ${problem}`);
}

/**
 * Throws `UsageError` unless `prefix` is a valid list prefix: "" (everything), a directory
 * ("data/job/"), or a key-like string ("data/job/2026"). Same rules as keys, except that it may
 * be empty and may end with `/`, and its last segment may be partial.
 */
export function validatePrefix(prefix: string): void {
  if (prefix === "") return;
  const asKey = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  const problem = keyProblem(asKey);
  if (problem !== null) throw new UsageError(`invalid storage prefix ${JSON.stringify(prefix)}: ${problem}`);
}

/** Orders keys by their UTF-8 bytes, the order S3 lists in (which differs from JS string order). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Throws `UsageError` unless both numbers are non-negative safe integers; returns the range. */
export function validateRange(range: ByteRange): ByteRange {
  const ok = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
  if (!ok(range.offset) || !ok(range.length)) {
    throw new UsageError(`invalid byte range offset=${range.offset} length=${range.length}`);
  }
  return range;
}
