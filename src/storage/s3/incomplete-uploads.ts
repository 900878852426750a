/**
 * The S3 backend's `abortIncompleteUploads` capability: listing the incomplete multipart uploads
 * under a prefix and aborting them. When and why backdrill calls it for a job:
 * repository/upload-cleanup.ts.
 */
import {
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
  type S3Client,
} from "@aws-sdk/client-s3";
import type {
  AbortIncompleteUploadsOptions,
  AbortIncompleteUploadsResult,
  IncompleteUpload,
} from "../backend.js";
import { errorCodeOf, httpStatusOf, s3Error } from "./s3-errors.js";

export interface MultipartTarget {
  client: S3Client;
  bucket: string;
  /** The backend's normalised key prefix inside the bucket ("" or ending with "/"). */
  rootPrefix: string;
  /** For messages: "s3://bucket/prefix". */
  describe: (key: string) => string;
}

/** Every incomplete upload whose key starts with `rootPrefix + prefix`, keys relative to the root. */
export async function listIncompleteUploads(
  target: MultipartTarget,
  prefix: string,
): Promise<IncompleteUpload[]> {
  const uploads: IncompleteUpload[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    let page: ListMultipartUploadsCommandOutput;
    try {
      page = await target.client.send(
        new ListMultipartUploadsCommand({
          Bucket: target.bucket,
          Prefix: target.rootPrefix + prefix,
          ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
          ...(uploadIdMarker === undefined ? {} : { UploadIdMarker: uploadIdMarker }),
        }),
      );
    } catch (error) {
      throw s3Error("list incomplete multipart uploads under", target.describe(prefix), error);
    }
    for (const upload of page.Uploads ?? []) {
      // Filtered here too: not every S3-compatible server honours Prefix on this call.
      if (upload.Key === undefined || upload.UploadId === undefined) continue;
      if (!upload.Key.startsWith(target.rootPrefix + prefix)) continue;
      uploads.push({
        key: upload.Key.slice(target.rootPrefix.length),
        uploadId: upload.UploadId,
        initiated: upload.Initiated ?? new Date(0),
      });
    }
    const nextKey = page.NextKeyMarker;
    const nextId = page.NextUploadIdMarker;
    if (
      page.IsTruncated !== true ||
      nextKey === undefined ||
      (nextKey === keyMarker && nextId === uploadIdMarker)
    ) {
      return uploads;
    }
    keyMarker = nextKey;
    uploadIdMarker = nextId;
  }
}

/** Aborts the incomplete uploads under `prefix` (see `Backend.abortIncompleteUploads`). */
export async function abortIncompleteUploads(
  target: MultipartTarget,
  prefix: string,
  options: AbortIncompleteUploadsOptions = {},
): Promise<AbortIncompleteUploadsResult> {
  const result: AbortIncompleteUploadsResult = { aborted: [], kept: [], failed: [] };
  for (const upload of await listIncompleteUploads(target, prefix)) {
    options.signal?.throwIfAborted();
    if (options.olderThan !== undefined && upload.initiated.getTime() >= options.olderThan.getTime()) {
      result.kept.push(upload);
      continue;
    }
    try {
      await target.client.send(
        new AbortMultipartUploadCommand({
          Bucket: target.bucket,
          Key: target.rootPrefix + upload.key,
          UploadId: upload.uploadId,
        }),
        options.signal === undefined ? {} : { abortSignal: options.signal },
      );
      result.aborted.push(upload);
    } catch (error) {
      // Gone meanwhile (completed or aborted by its owner): nothing left to free.
      if (errorCodeOf(error) === "NoSuchUpload" || httpStatusOf(error) === 404) continue;
      if (options.signal?.aborted) throw options.signal.reason;
      result.failed.push({
        ...upload,
        error: s3Error("abort multipart upload of", target.describe(upload.key), error).message,
      });
    }
  }
  return result;
}
