/**
 * Does the S3 server honour `If-None-Match: *` on PutObject? backdrill's locks and every
 * "never overwrite" write (manifests, artifacts) rely on it: a server that ignores the header
 * lets two writers both win, silently. AWS (since 2024), MinIO and moto honour it with HTTP 412.
 *
 * The probe writes a tiny object, then writes it again with the header: a 412 means honoured; a
 * success means ignored. The probe object is deleted afterwards (on a versioned bucket its
 * version stays until the lifecycle's noncurrent expiry; under Object Lock until its retention).
 */
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";

export type ConditionalWrites = "honoured" | "ignored";

function isPreconditionFailed(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status === 412 || (error as { name?: string }).name === "PreconditionFailed";
}

export async function probeConditionalWrites(
  client: S3Client,
  bucket: string,
  key: string,
  signal?: AbortSignal,
): Promise<ConditionalWrites> {
  const options = signal === undefined ? {} : { abortSignal: signal };
  await client.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: "backdrill doctor probe\n" }),
    options,
  );
  try {
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: "backdrill doctor probe, again\n",
        IfNoneMatch: "*",
      }),
      options,
    );
    return "ignored";
  } catch (error) {
    if (isPreconditionFailed(error)) return "honoured";
    throw error;
  } finally {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), options).catch(() => undefined);
  }
}
