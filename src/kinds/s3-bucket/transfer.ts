/**
 * Moving object bytes: reading a version from the job's bucket, server-side copies of a version,
 * streaming uploads (multipart above 8 MiB, so memory stays flat), and a hashing tap so every
 * transfer also yields the bytes' MD5 and sha256.
 */
import { createHash, type Hash } from "node:crypto";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { CopyObjectCommand, GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { errorCodeOf, httpStatusOf, s3Error } from "../../storage/s3/s3-errors.js";
import type { ObjectEntry } from "./objects.js";

const PART_SIZE = 8 * 1024 * 1024;
const UPLOAD_QUEUE = 2;

/** Passes bytes through and hashes them on the way. */
export class HashTap extends Transform {
  private readonly md5: Hash = createHash("md5");
  private readonly sha: Hash = createHash("sha256");
  // Not called `size`: lib-storage's Upload reads Body.size as the stream's length.
  private bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.md5.update(chunk);
    this.sha.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
  digests(): { md5: string; sha256: string; size: number } {
    return { md5: this.md5.digest("hex"), sha256: this.sha.digest("hex"), size: this.bytes };
  }
}

/** The version no longer exists (expired by lifecycle, deleted), as opposed to a failure. */
export function isGone(error: unknown): boolean {
  const code = errorCodeOf(error);
  return code === "NoSuchVersion" || code === "NoSuchKey" || httpStatusOf(error) === 404;
}

export interface ObjectBody {
  body: Readable;
  contentType: string | undefined;
  metadata: Record<string, string> | undefined;
}

/** The bytes of one version, or "gone". */
export async function openVersion(
  client: S3Client,
  bucket: string,
  entry: ObjectEntry,
  signal: AbortSignal,
): Promise<ObjectBody | "gone"> {
  try {
    const result = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: entry.key, VersionId: entry.versionId }),
      { abortSignal: signal },
    );
    return { body: result.Body as Readable, contentType: result.ContentType, metadata: result.Metadata };
  } catch (error) {
    if (isGone(error)) return "gone";
    throw s3Error(`read version ${entry.versionId} of`, `s3://${bucket}/${entry.key}`, error);
  }
}

/** Server-side copy of a version to bucket/key (same server); keeps content type and metadata. */
export async function copyVersion(
  client: S3Client,
  from: { bucket: string; entry: ObjectEntry },
  to: { bucket: string; key: string },
  signal: AbortSignal,
): Promise<"copied" | "gone"> {
  // CopySource is "bucket/key?versionId=..." with the key URL-encoded ("/" may stay).
  const key = encodeURIComponent(from.entry.key).replace(/%2F/g, "/");
  const source = `${from.bucket}/${key}?versionId=${encodeURIComponent(from.entry.versionId)}`;
  try {
    await client.send(new CopyObjectCommand({ Bucket: to.bucket, Key: to.key, CopySource: source }), {
      abortSignal: signal,
    });
    return "copied";
  } catch (error) {
    if (isGone(error)) return "gone";
    throw s3Error(
      `copy version ${from.entry.versionId} of s3://${from.bucket}/${from.entry.key} to`,
      `s3://${to.bucket}/${to.key}`,
      error,
    );
  }
}

/** Streams `body` to bucket/key; returns the digests of what was sent. */
export async function uploadStream(
  client: S3Client,
  to: { bucket: string; key: string },
  source: ObjectBody,
  signal: AbortSignal,
): Promise<{ md5: string; sha256: string; size: number }> {
  const tap = new HashTap();
  const body = source.body.pipe(tap);
  source.body.on("error", (error) => tap.destroy(error));
  const upload = new Upload({
    client,
    params: {
      Bucket: to.bucket,
      Key: to.key,
      Body: body,
      ...(source.contentType === undefined ? {} : { ContentType: source.contentType }),
      ...(source.metadata === undefined ? {} : { Metadata: source.metadata }),
    },
    partSize: PART_SIZE,
    queueSize: UPLOAD_QUEUE,
    leavePartsOnError: false,
  });
  const abort = () => void upload.abort().catch(() => undefined);
  signal.addEventListener("abort", abort, { once: true });
  try {
    await upload.done();
  } catch (error) {
    throw s3Error("upload", `s3://${to.bucket}/${to.key}`, error);
  } finally {
    signal.removeEventListener("abort", abort);
  }
  return tap.digests();
}

/** Hashes a stream to the end. */
export async function digestStream(body: Readable): Promise<{ md5: string; sha256: string; size: number }> {
  const tap = new HashTap();
  for await (const chunk of Readable.from(body).pipe(tap)) void chunk;
  return tap.digests();
}
