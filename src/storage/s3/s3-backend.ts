/**
 * A `Backend` on an S3 bucket (AWS, MinIO, moto, ...), every key under `prefix/`.
 *
 * Writes stream through `uploadStream` (upload.ts): a body up to one part is a single PutObject,
 * anything larger a multipart upload from (queueSize + 1) part buffers allocated once and reused,
 * so memory is bounded by (queueSize + 1) × the part size with no garbage per part (measured:
 * `bench/results.md`, storage; lib-storage with 16 MiB × 3 took 215 MiB for 1 GiB). The defaults,
 * 5 MiB parts × 2 in flight, growing every 2,000 parts (part-size.ts), cap an object of unknown
 * length at 146 GiB, and a put fails as soon as its body grows past that (not after uploading
 * it all). A larger starting part size (policy `repository.partSizeMiB`, 5 MiB to 5 GiB) raises
 * the cap in proportion and the memory with it; a put with a known `contentLength` picks a
 * starting size that fits by itself.
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
 * Failure and abort: a failing body, a part that failed all its attempts, or an aborted signal
 * stops the upload: no new part starts, those in flight settle (an abort cuts them short), and
 * AbortMultipartUpload is sent before the put rejects. When the server is unreachable, the abort
 * cannot land: the upload stays, invisible to `list`/`stat`/`get` but costing storage, until
 * `abortIncompleteUploads` (called by the next backup of the job and by prune, see
 * `multipart-cleanup.ts`) or the AbortIncompleteMultipartUpload lifecycle rule
 * (`ensureRepositoryBucket`) removes it.
 *
 * Retries and timeouts live in the client (`client.ts`, `retry-strategy.ts`): each request,
 * including every UploadPart, is retried there, so a failed put is final.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { addAbortSignal, Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AlreadyExistsError, NotFoundError, OperationError, UsageError } from "../../errors.js";
import { logger } from "../../log/logger.js";
import {
  type AbortIncompleteUploadsOptions,
  type AbortIncompleteUploadsResult,
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
import { abortIncompleteUploads } from "./incomplete-uploads.js";
import {
  DEFAULT_PART_SIZE,
  MAX_PARTS,
  MAX_PART_SIZE,
  MIN_PART_SIZE,
  basePartSize,
  multipartCapacity,
} from "./part-size.js";
import { UploadStepError, uploadStream } from "./upload.js";
import { errorCodeOf, httpStatusOf, isNoSuchKey, isPreconditionFailed, s3Error } from "./s3-errors.js";

export interface S3BackendOptions extends S3ConnectionOptions {
  bucket: string;
  /** Key prefix inside the bucket ("prod" and "prod/" are the same); "" = bucket root. */
  prefix?: string;
  /**
   * Starting multipart part size; default 5 MiB (objects up to 146 GiB of unknown length, see
   * part-size.ts). 5 MiB to 5 GiB (S3's limits for a part).
   */
  partSizeBytes?: number;
  /** Parts uploaded in parallel; default 2. */
  queueSize?: number;
  /** Parts between two part-size steps (part-size.ts); only tests change the default 2,000. */
  partsPerStep?: number;
  /** How `put` with `overwrite: false` is enforced; see the file comment. Default "if-none-match". */
  conditionalWrites?: "if-none-match" | "head-only";
}

export const DEFAULT_QUEUE_SIZE = 2;

export class S3Backend implements Backend {
  readonly location: string;
  readonly bucket: string;
  /** Normalised: "" or ending with "/". */
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly partsPerStep: number | undefined;
  private readonly conditionalWrites: "if-none-match" | "head-only";
  private closed = false;

  constructor(options: S3BackendOptions) {
    if (options.bucket === "") throw new UsageError("S3 repository bucket is empty");
    this.bucket = options.bucket;
    this.prefix = normalizePrefix(options.prefix ?? "");
    this.partSize = options.partSizeBytes ?? DEFAULT_PART_SIZE;
    if (
      !Number.isSafeInteger(this.partSize) ||
      this.partSize < MIN_PART_SIZE ||
      this.partSize > MAX_PART_SIZE
    ) {
      throw new UsageError(
        `S3 part size must be between ${MIN_PART_SIZE} bytes (5 MiB) and ${MAX_PART_SIZE} bytes (5 GiB), got ${this.partSize}`,
      );
    }
    this.queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
    if (!Number.isSafeInteger(this.queueSize) || this.queueSize < 1) {
      throw new UsageError(`S3 queue size must be a positive integer, got ${this.queueSize}`);
    }
    this.partsPerStep = options.partsPerStep;
    this.conditionalWrites = options.conditionalWrites ?? "if-none-match";
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
      destroyWith(body, error);
      throw error;
    }
    const partSize = basePartSize(this.partSize, contentLength);
    const counter = new ByteCounter(contentLength, multipartCapacity(partSize), partSize);
    let bodyError: unknown;
    // pipeline: an error in `body` destroys `counter` with it, which fails the upload's reader.
    pipeline(body, counter).catch((error: unknown) => (bodyError ??= error));
    // An abort while we wait for the body: destroying the reader ends the upload at once; parts
    // in flight get the signal themselves.
    const onAbort = (): void => {
      counter.destroy(signal?.reason instanceof Error ? signal.reason : new Error(String(signal?.reason)));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    // An abort during the HEAD above fired no event for us: honour it now.
    if (signal?.aborted) onAbort();
    try {
      await uploadStream(counter, {
        client: this.client,
        bucket: this.bucket,
        key: this.objectKey(key),
        partSize,
        queueSize: this.queueSize,
        partsPerStep: this.partsPerStep,
        ifNoneMatch: !overwrite && this.conditionalWrites === "if-none-match",
        signal,
        location: this.location,
      });
      return { size: counter.bytes };
    } catch (error) {
      const failure = this.putFailure(key, error, signal, bodyError, counter.lengthError);
      // Destroyed WITH the error: a producer piping into `body` then fails with this error, not
      // with a bare "premature close"/"aborted" that would hide the cause from the user.
      destroyWith(body, failure);
      counter.destroy();
      throw failure;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** The error a failed put rejects with: the most specific one available. */
  private putFailure(
    key: string,
    error: unknown,
    signal: AbortSignal | undefined,
    bodyError: unknown,
    lengthError: OperationError | undefined,
  ): unknown {
    if (signal?.aborted) return signal.reason;
    const step = error instanceof UploadStepError ? error.step : undefined;
    const cause = error instanceof UploadStepError ? error.uploadError : error;
    if (isPreconditionFailed(cause)) return new AlreadyExistsError(key, { cause });
    if (bodyError !== undefined) return lengthError ?? bodyError;
    if (lengthError !== undefined) return lengthError;
    return s3Error("write", `${this.describe(key)}${step === undefined ? "" : ` (${step})`}`, cause);
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

  /** See `Backend.abortIncompleteUploads` and `multipart-cleanup.ts`. */
  async abortIncompleteUploads(
    prefix: string,
    options: AbortIncompleteUploadsOptions = {},
  ): Promise<AbortIncompleteUploadsResult> {
    validatePrefix(prefix);
    return abortIncompleteUploads(
      {
        client: this.client,
        bucket: this.bucket,
        rootPrefix: this.prefix,
        describe: (key) => this.describe(key),
      },
      prefix,
      options,
    );
  }

  /** Largest object of unknown length a put can store in 10,000 (growing) parts. */
  get maxObjectBytes(): number {
    return multipartCapacity(this.partSize);
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
}

/**
 * Destroys the caller's body with our error when someone listens for it (a pipeline feeding it:
 * the producer then reports the real cause instead of "premature close"); without a listener an
 * 'error' event would crash the process, so then plainly.
 */
export function destroyWith(body: Readable, error: unknown): void {
  if (error instanceof Error && body.listenerCount("error") > 0) body.destroy(error);
  else body.destroy();
}

/** "" stays ""; "prod", "/prod/", "prod/" become "prod/". */
function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  if (trimmed === "") return "";
  validatePrefix(`${trimmed}/`);
  return `${trimmed}/`;
}

/**
 * Counts the bytes passing through and enforces the expected length before the last part is
 * handed to Upload, so a short or long body fails the upload instead of committing it.
 */
class ByteCounter extends Transform {
  bytes = 0;
  lengthError: OperationError | undefined;

  constructor(
    private readonly expected: number | undefined,
    /** What 10,000 parts hold: S3 cannot take more; failing here saves uploading it in vain. */
    private readonly limit: number,
    /** The upload's starting part size, for the message. */
    private readonly startPartSize: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expected !== undefined && this.bytes > this.expected) {
      callback(this.fail());
      return;
    }
    if (this.bytes > this.limit) {
      this.lengthError = new OperationError(
        `object is larger than ${(this.limit / 1024 ** 3).toFixed(1)} GiB, the most S3 takes in ${MAX_PARTS} parts starting at ${this.startPartSize / 1024 ** 2} MiB; nothing was stored`,
        {
          hint: "raise the policy's repository.partSizeMiB (the largest object grows in proportion: 146 GiB at 5)",
        },
      );
      callback(this.lengthError);
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
