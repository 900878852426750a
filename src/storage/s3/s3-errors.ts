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

/**
 * How many requests the SDK made before giving up (`$metadata.attempts`, set by the retry
 * middleware on the final error), or undefined for errors that did not come through it.
 */
export function attemptsOf(error: unknown): number | undefined {
  if (error === null || typeof error !== "object" || !("$metadata" in error)) return undefined;
  const metadata = (error as { $metadata?: { attempts?: unknown } }).$metadata;
  return typeof metadata?.attempts === "number" ? metadata.attempts : undefined;
}

/** A Node network error code (ECONNREFUSED, ECONNRESET, ...), if any. */
function systemCodeOf(error: unknown): string | undefined {
  if (error === null || typeof error !== "object") return undefined;
  const { code } = error as { code?: unknown };
  return typeof code === "string" && /^E[A-Z_]+$/.test(code) ? code : undefined;
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

/**
 * An `OperationError` naming the action, the S3 location, the server's answer and how many
 * requests were made, with the SDK error as cause; one line, e.g.
 * "cannot write s3://b/p/data/x.age: InternalError: We encountered an internal error (HTTP 500, gave up after 6 attempts)".
 */
export function s3Error(action: string, location: string, error: unknown): OperationError {
  const code = errorCodeOf(error);
  const status = httpStatusOf(error);
  const attempts = attemptsOf(error);
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ").trim();
  const systemCode = systemCodeOf(error);
  const detail = [code === "Error" ? systemCode : code, message].filter(
    (part) => part !== undefined && part !== "" && part !== "UnknownError",
  );
  const hint = code === undefined ? undefined : HINTS[code];
  const facts = [
    ...(status === undefined ? [] : [`HTTP ${status}`]),
    ...(attempts === undefined || attempts <= 1 ? [] : [`gave up after ${attempts} attempts`]),
  ];
  return new OperationError(
    `cannot ${action} ${location}: ${[...new Set(detail)].join(": ") || "unknown error"}${facts.length > 0 ? ` (${facts.join(", ")})` : ""}`,
    { cause: error, ...(hint === undefined ? {} : { hint }) },
  );
}
