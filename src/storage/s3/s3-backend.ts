/**
 * A `Backend` on an S3 bucket (AWS, MinIO, moto, ...), every key under `prefix/`.
 *
 * Writes stream through lib-storage's `Upload`: a body up to one part is a single PutObject,
 * anything larger a multipart upload; memory stays bounded at about (queueSize + 1) × partSize.
 * S3 publishes an object only when PutObject / CompleteMultipartUpload succeeds, which gives the
 * atomicity the interface promises.
 *
 * `overwrite: false` is a conditional write, `If-None-Match: *` on PutObject and on
 * CompleteMultipartUpload (AWS since 2024, MinIO, moto 5.1 all honour it: HTTP 412), so two
 * concurrent writers cannot both win. A HEAD before the upload fails fast in the common case, so
 * we do not stream gigabytes only to be refused at Complete. For servers that ignore the header,
 * `conditionalWrites: "head-only"` keeps just the HEAD check, with a race window between the HEAD
 * and the end of the upload; only use it where a single writer per key is guaranteed.
 *
 * Failure and abort: a failing body or an aborted signal destroys the stream feeding `Upload`, so
 * its part uploaders stop, the in-flight parts settle and `Upload` sends AbortMultipartUpload
 * before `done()` rejects. If that does not happen within `abortGraceMs` (a hung request), we
 * force `Upload.abort()`, whose AbortMultipartUpload then lands later, in the background; we also
 * send our own AbortMultipartUpload for the upload id we know. An incomplete upload is invisible to
 * `list`/`stat`/`get`, but costs storage: keep the AbortIncompleteMultipartUpload lifecycle rule
 * (`ensureRepositoryBucket`) as the backstop.
 */
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { addAbortSignal, Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AlreadyExistsError, NotFoundError, OperationError, UsageError } from "../../errors.js";
import { logger } from "../../log/logger.js";
import {
  type Backend,
  type GetOptions,
  keyProblem,
  type ObjectInfo,
  type PutOptions,
  validateKey,
  validatePrefix,
  validateRange,
} from "../backend.js";
import { createS3Client, describeS3Location, type S3ConnectionOptions } from "./client.js";
import { errorCodeOf, httpStatusOf, isNoSuchKey, isPreconditionFailed, s3Error } from "./s3-errors.js";

export interface S3BackendOptions extends S3ConnectionOptions {
  bucket: string;
  /** Key prefix inside the bucket ("prod" and "prod/" are the same); "" = bucket root. */
  prefix?: string;
  /** Multipart part size; default 16 MiB (objects up to ~156 GiB of unknown length). Min 5 MiB. */
  partSizeBytes?: number;
  /** Parts uploaded in parallel; default 3. */
  queueSize?: number;
  /** How `put` with `overwrite: false` is enforced; see the file comment. Default "if-none-match". */
  conditionalWrites?: "if-none-match" | "head-only";
  /** How long an aborted/failed upload may take to clean up before it is forced. Default 30 s. */
  abortGraceMs?: number;
}

const MIB = 1024 * 1024;
const DEFAULT_PART_SIZE = 16 * MIB;
const MIN_PART_SIZE = 5 * MIB;
const MAX_PARTS = 10_000;
const DEFAULT_QUEUE_SIZE = 3;
const DEFAULT_ABORT_GRACE_MS = 30_000;

export class S3Backend implements Backend {
  readonly location: string;
  readonly bucket: string;
  /** Normalised: "" or ending with "/". */
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly conditionalWrites: "if-none-match" | "head-only";
  private readonly abortGraceMs: number;
  private closed = false;

  constructor(options: S3BackendOptions) {
    if (options.bucket === "") throw new UsageError("S3 repository bucket is empty");
    this.bucket = options.bucket;
    this.prefix = normalizePrefix(options.prefix ?? "");
    this.partSize = options.partSizeBytes ?? DEFAULT_PART_SIZE;
    if (!Number.isSafeInteger(this.partSize) || this.partSize < MIN_PART_SIZE) {
      throw new UsageError(
        `S3 part size must be at least ${MIN_PART_SIZE} bytes (5 MiB), got ${this.partSize}`,
      );
    }
    this.queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
    if (!Number.isSafeInteger(this.queueSize) || this.queueSize < 1) {
      throw new UsageError(`S3 queue size must be a positive integer, got ${this.queueSize}`);
    }
    this.conditionalWrites = options.conditionalWrites ?? "if-none-match";
    this.abortGraceMs = options.abortGraceMs ?? DEFAULT_ABORT_GRACE_MS;
    this.location = describeS3Location(this.bucket, this.prefix, options.endpoint);
    this.client = createS3Client(options);
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<{ size: number }> {
    const { signal, overwrite = false, contentLength } = options;
    try {
      validateKey(key);
      signal?.throwIfAborted();
      if (!overwrite && (await this.stat(key)) !== null) throw new AlreadyExistsError(key);
    } catch (error) {
      body.destroy();
      throw error;
    }
    const objectKey = this.objectKey(key);
    const counter = new ByteCounter(contentLength);
    let bodyError: unknown;
    // pipeline: an error in `body` destroys `counter` with it, which fails the Upload's reader.
    pipeline(body, counter).catch((error: unknown) => (bodyError ??= error));

    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: objectKey,
        Body: counter,
        ContentType: "application/octet-stream",
        ...(!overwrite && this.conditionalWrites === "if-none-match" ? { IfNoneMatch: "*" } : {}),
      },
      partSize: partSizeFor(this.partSize, contentLength),
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });

    let forceTimer: NodeJS.Timeout | undefined;
    const stop = (reason: unknown): void => {
      // Graceful first: a destroyed body makes Upload abort the multipart upload itself.
      counter.destroy(reason instanceof Error ? reason : new Error(String(reason)));
      forceTimer ??= setTimeout(() => void upload.abort(), this.abortGraceMs);
      forceTimer.unref();
    };
    const onAbort = (): void => stop(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    // An abort during the HEAD above fired no event for us: honour it now.
    if (signal?.aborted) onAbort();
    try {
      await upload.done();
      return { size: counter.bytes };
    } catch (error) {
      body.destroy();
      counter.destroy();
      await this.abortMultipart(objectKey, upload.uploadId);
      if (signal?.aborted) throw signal.reason;
      if (isPreconditionFailed(error)) throw new AlreadyExistsError(key, { cause: error });
      if (bodyError !== undefined) throw counter.lengthError ?? bodyError;
      if (counter.lengthError !== undefined) throw counter.lengthError;
      throw s3Error("write", this.describe(key), error);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      clearTimeout(forceTimer);
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    validateKey(key);
    const range = options.range === undefined ? undefined : validateRange(options.range);
    const { signal } = options;
    signal?.throwIfAborted();
    if (range?.length === 0) {
      if ((await this.stat(key)) === null) throw new NotFoundError(key);
      return Readable.from([]);
    }
    let body: unknown;
    try {
      const response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          ...(range === undefined
            ? {}
            : { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` }),
        }),
        signal === undefined ? {} : { abortSignal: signal },
      );
      body = response.Body;
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (isNoSuchKey(error)) throw new NotFoundError(key, { cause: error });
      // 416: the range starts at or past the end of an existing object; like a file read, empty.
      if (httpStatusOf(error) === 416 || errorCodeOf(error) === "InvalidRange") return Readable.from([]);
      throw s3Error("read", this.describe(key), error);
    }
    if (body === undefined) return Readable.from([]);
    if (!(body instanceof Readable)) {
      throw new OperationError(`cannot read ${this.describe(key)}: the SDK returned a non-Node stream`);
    }
    return signal === undefined ? body : addAbortSignal(signal, body);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    validateKey(key);
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      return { key, size: head.ContentLength ?? 0, modified: head.LastModified ?? new Date(0) };
    } catch (error) {
      // HEAD has no body, so a missing bucket also looks like a plain 404 here ("NotFound");
      // `list` and `put` report NoSuchBucket properly.
      if (isNoSuchKey(error)) return null;
      throw s3Error("stat", this.describe(key), error);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    validatePrefix(prefix);
    let continuationToken: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ...(continuationToken === undefined ? {} : { ContinuationToken: continuationToken }),
          }),
        );
      } catch (error) {
        throw s3Error("list", this.describe(prefix), error);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        const key = object.Key.slice(this.prefix.length);
        // Objects not written through a Backend ("folder" markers ending in /, foreign names)
        // would only fail later in get(); they are not part of the repository.
        if (keyProblem(key) !== null) {
          logger().debug(
            { location: this.location, key: object.Key },
            "ignoring object with a non-backdrill key",
          );
          continue;
        }
        yield { key, size: object.Size ?? 0, modified: object.LastModified ?? new Date(0) };
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    try {
      // S3 answers 204 for a missing key too: idempotent by nature.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    } catch (error) {
      if (isNoSuchKey(error)) return;
      throw s3Error("delete", this.describe(key), error);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
  }

  private objectKey(key: string): string {
    return this.prefix + key;
  }

  private describe(key: string): string {
    return `s3://${this.bucket}/${this.prefix}${key}`;
  }

  /**
   * Our own AbortMultipartUpload for an upload id we know, in addition to the one Upload sends:
   * idempotent (NoSuchUpload when Upload was first), and it covers the forced-abort path where
   * Upload's own lands late or never. Failure is logged, not thrown: the put already failed with
   * the error that matters, and the lifecycle rule is the backstop.
   */
  private async abortMultipart(objectKey: string, uploadId: string | undefined): Promise<void> {
    if (uploadId === undefined) return;
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId }),
      );
    } catch (error) {
      if (errorCodeOf(error) === "NoSuchUpload" || httpStatusOf(error) === 404) return;
      logger().warn(
        {
          location: this.location,
          key: objectKey,
          err: error instanceof Error ? error.message : String(error),
        },
        "could not abort the multipart upload; the bucket's AbortIncompleteMultipartUpload rule will remove it",
      );
    }
  }
}

/** "" stays ""; "prod", "/prod/", "prod/" become "prod/". */
function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  if (trimmed === "") return "";
  validatePrefix(`${trimmed}/`);
  return `${trimmed}/`;
}

/** The configured part size, raised if a known length would otherwise need more than 10,000 parts. */
function partSizeFor(configured: number, contentLength: number | undefined): number {
  if (contentLength === undefined) return configured;
  return Math.max(configured, Math.ceil(contentLength / MAX_PARTS));
}

/**
 * Counts the bytes passing through and enforces the expected length before the last part is
 * handed to Upload, so a short or long body fails the upload instead of committing it.
 */
class ByteCounter extends Transform {
  bytes = 0;
  lengthError: OperationError | undefined;

  constructor(private readonly expected: number | undefined) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expected !== undefined && this.bytes > this.expected) {
      callback(this.fail());
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expected !== undefined && this.bytes !== this.expected) {
      callback(this.fail());
      return;
    }
    callback();
  }

  private fail(): OperationError {
    this.lengthError = new OperationError(
      `body was ${this.bytes}${this.bytes > (this.expected ?? 0) ? "+" : ""} bytes, expected ${this.expected}; nothing was stored`,
    );
    return this.lengthError;
  }
}
