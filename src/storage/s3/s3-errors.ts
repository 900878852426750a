/**
 * Reading AWS SDK v3 errors. The SDK throws `S3ServiceException`s with `name` (the S3 error code,
 * e.g. "NoSuchKey", or "NotFound" for bodiless HEAD responses) and `$metadata.httpStatusCode`;
 * S3-compatible servers fill them in less consistently than AWS, so we look at both.
 */
import { OperationError } from "../../errors.js";

export function httpStatusOf(error: unknown): number | undefined {
  if (error === null || typeof error !== "object" || !("$metadata" in error)) return undefined;
  const metadata = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata;
  return typeof metadata?.httpStatusCode === "number" ? metadata.httpStatusCode : undefined;
}

/** The S3 error code ("NoSuchKey", "SlowDown", ...), or the JS error name for other errors. */
export function errorCodeOf(error: unknown): string | undefined {
  if (error === null || typeof error !== "object") return undefined;
  const { Code, name } = error as { Code?: unknown; name?: unknown };
  if (typeof Code === "string") return Code;
  return typeof name === "string" ? name : undefined;
}

/** The object does not exist (but the bucket does, as far as the server tells us). */
export function isNoSuchKey(error: unknown): boolean {
  const code = errorCodeOf(error);
  if (code === "NoSuchKey" || code === "NotFound") return true;
  // Some servers send a bare 404 without a code for GET; a missing bucket always says NoSuchBucket.
  return httpStatusOf(error) === 404 && code !== "NoSuchBucket" && code !== "NoSuchUpload";
}

/** A conditional write (`If-None-Match: *`) lost: the key exists. */
export function isPreconditionFailed(error: unknown): boolean {
  return errorCodeOf(error) === "PreconditionFailed" || httpStatusOf(error) === 412;
}

const HINTS: Record<string, string> = {
  NoSuchBucket: "check the bucket name, region and endpoint; backdrill does not create repository buckets",
  AccessDenied:
    "check the credentials and the bucket policy (backdrill needs Get/Put/Delete/List on the prefix)",
  InvalidAccessKeyId: "check the access key id",
  SignatureDoesNotMatch: "check the secret access key (and that the endpoint and region are right)",
  InvalidContentMD5: "the server wants a Content-MD5 header (Object Lock bucket?)",
};

/** An `OperationError` naming the action and the S3 location, with the SDK error as cause. */
export function s3Error(action: string, location: string, error: unknown): OperationError {
  const code = errorCodeOf(error);
  const status = httpStatusOf(error);
  const message = error instanceof Error ? error.message : String(error);
  const detail = [code, message].filter(
    (part) => part !== undefined && part !== "" && part !== "UnknownError",
  );
  const hint = code === undefined ? undefined : HINTS[code];
  return new OperationError(
    `cannot ${action} ${location}: ${[...new Set(detail)].join(": ") || "unknown error"}${status ? ` (HTTP ${status})` : ""}`,
    { cause: error, ...(hint === undefined ? {} : { hint }) },
  );
}
