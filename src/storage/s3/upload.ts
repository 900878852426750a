/**
 * Streaming upload of one object with a small set of reused part buffers.
 *
 * Why not lib-storage's `Upload`: it allocates a fresh buffer for every part (`Buffer.concat`)
 * and the previous ones become garbage that V8 frees only when external memory has grown by tens
 * of MiB since its last collection, so peak RSS for a 1 GiB upload was 60-90 MiB above the parts
 * actually in flight (bench/results.md, storage). Here `queueSize + 1` buffers of `partSize` are
 * allocated once (lazily, so a small object costs only what it needs): one fills from the body
 * while up to `queueSize` are being sent, and a buffer is refilled only after its part is stored.
 * Memory is therefore bounded by (queueSize + 1) × the part size, with no garbage per part. Parts
 * grow every 2,000 (part-size.ts); then the smaller buffers are dropped for larger ones. After
 * each part is handed off, a full garbage collection frees the source and ciphertext Buffers
 * already copied into it (see runtime/collect-garbage.ts: without it ~40–60 MiB of them piled up).
 *
 * Protocol: a body that fits in one part is one PutObject; anything larger is
 * CreateMultipartUpload, UploadPart × n (each a Buffer, so the client's retry strategy can resend
 * it), CompleteMultipartUpload. `ifNoneMatch` puts `If-None-Match: *` on PutObject / Complete.
 * On any failure (a part that failed all its attempts, the body's error, the signal) no new part
 * is started, the parts in flight settle, and the multipart upload is aborted before the error
 * is thrown (the caller destroys the body); if the abort cannot reach the server either, `abortIncompleteUploads` (next backup,
 * prune) or the bucket's lifecycle rule removes it later.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  type CompletedPart,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";
import { logger } from "../../log/logger.js";
import { collectGarbage } from "../../runtime/collect-garbage.js";
import { partSizeAt } from "./part-size.js";
import { errorCodeOf, httpStatusOf } from "./s3-errors.js";

export interface StreamUploadOptions {
  client: S3Client;
  bucket: string;
  key: string;
  /** Size of the first parts; later ones grow (partSizeAt). Also the single-PutObject limit. */
  partSize: number;
  /** Parts between two part-size steps; default PARTS_PER_STEP (tests use a few). */
  partsPerStep?: number | undefined;
  /** Parts sent concurrently. */
  queueSize: number;
  ifNoneMatch: boolean;
  signal?: AbortSignal | undefined;
  /** For log lines. */
  location: string;
}

/** Marks where a failure happened, for the error message: which request of the upload failed. */
export class UploadStepError extends Error {
  constructor(
    readonly step: string,
    readonly uploadError: unknown,
  ) {
    super(uploadError instanceof Error ? uploadError.message : String(uploadError), { cause: uploadError });
    this.name = "UploadStepError";
  }
}

export async function uploadStream(body: Readable, options: StreamUploadOptions): Promise<void> {
  const { client, bucket, key, partSize, queueSize, signal } = options;
  const sendOptions = signal === undefined ? {} : { abortSignal: signal };
  const free: Buffer[] = [];
  const takeBuffer = (size: number): Buffer => {
    // Buffers of a smaller, earlier part size are dropped: parts never shrink again.
    for (let reused = free.pop(); reused !== undefined; reused = free.pop())
      if (reused.length >= size) return reused;
    // allocUnsafeSlow: never from Node's shared pool, and every byte is overwritten before use.
    return Buffer.allocUnsafeSlow(size);
  };

  let uploadId: string | undefined;
  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  // An object, not a `let`: TypeScript does not see the assignment inside the part tasks.
  const failure: { error?: unknown; failed: boolean } = { failed: false };
  let partNumber = 0;

  const sendPart = (buffer: Buffer, length: number): void => {
    const number = ++partNumber;
    const task = (async () => {
      try {
        const answer = await client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: number,
            Body: buffer.subarray(0, length),
            ContentLength: length,
          }),
          sendOptions,
        );
        parts.push({ PartNumber: number, ETag: answer.ETag });
      } catch (error) {
        if (!failure.failed) {
          failure.failed = true;
          failure.error = new UploadStepError(`upload part ${number}`, error);
        }
      } finally {
        free.push(buffer);
      }
    })();
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
  };

  /** Waits until a buffer may be filled: fewer than queueSize parts in flight. */
  const waitForSlot = async (): Promise<void> => {
    while (inFlight.size >= queueSize) await Promise.race(inFlight);
  };

  let current = takeBuffer(partSize);
  let currentSize = partSize;
  let filled = 0;
  try {
    // destroyOnReturn false: on failure the caller destroys the body with the real error;
    // a bare destroy here would surface upstream as "The operation was aborted".
    for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        if (filled === currentSize) {
          // A full buffer and more data: this is a multipart upload.
          if (uploadId === undefined) {
            try {
              const created = await client.send(
                new CreateMultipartUploadCommand({
                  Bucket: bucket,
                  Key: key,
                  ContentType: "application/octet-stream",
                }),
                sendOptions,
              );
              uploadId = created.UploadId;
            } catch (error) {
              throw new UploadStepError("start multipart upload", error);
            }
            if (uploadId === undefined) throw new Error("CreateMultipartUpload returned no UploadId");
          }
          await waitForSlot();
          if (failure.failed) throw failure.error;
          sendPart(current, filled);
          collectGarbage();
          currentSize = partSizeAt(partSize, partNumber + 1, options.partsPerStep);
          current = takeBuffer(currentSize);
          filled = 0;
        }
        const n = Math.min(currentSize - filled, chunk.length - offset);
        chunk.copy(current, filled, offset, offset + n);
        filled += n;
        offset += n;
      }
      if (failure.failed) throw failure.error;
    }

    if (uploadId === undefined) {
      // Everything fit in one part.
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: current.subarray(0, filled),
            ContentLength: filled,
            ContentType: "application/octet-stream",
            ...(options.ifNoneMatch ? { IfNoneMatch: "*" } : {}),
          }),
          sendOptions,
        );
      } catch (error) {
        throw new UploadStepError("put", error);
      }
      return;
    }

    await waitForSlot();
    if (failure.failed) throw failure.error;
    // The last part may be short (or empty only if the body ended exactly at a part boundary,
    // in which case the part before it was sent as full and this one is skipped).
    if (filled > 0) sendPart(current, filled);
    while (inFlight.size > 0) await Promise.race(inFlight);
    if (failure.failed) throw failure.error;
    parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    try {
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          ...(options.ifNoneMatch ? { IfNoneMatch: "*" } : {}),
        }),
        sendOptions,
      );
    } catch (error) {
      throw new UploadStepError("complete multipart upload", error);
    }
    uploadId = undefined; // committed: nothing to abort
  } catch (error) {
    // No new parts start now; let those in flight settle before aborting, or a part stored
    // after the abort would survive it.
    while (inFlight.size > 0) await Promise.race(inFlight);
    if (uploadId !== undefined) await abortUpload(client, bucket, key, uploadId, options.location);
    throw error;
  }
}

/**
 * AbortMultipartUpload, with the client's retries. Failure is logged, not thrown: the upload
 * already failed with the error that matters, and the cleanup paths remove the rest later.
 */
async function abortUpload(
  client: S3Client,
  bucket: string,
  key: string,
  uploadId: string,
  location: string,
): Promise<void> {
  try {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
  } catch (error) {
    if (errorCodeOf(error) === "NoSuchUpload" || httpStatusOf(error) === 404) return;
    logger().warn(
      { location, key, err: error instanceof Error ? error.message : String(error) },
      "could not abort the multipart upload; the next backup of the job, prune, or the bucket's lifecycle rule will remove it",
    );
  }
}
