/**
 * Builds the S3Client every backdrill S3 path uses, with the settings S3-compatible servers need
 * (a MinIO or moto server, or AWS): path-style addressing for MinIO/moto, checksums only when
 * an operation requires them, Content-MD5 on uploads (Object Lock buckets demand an integrity
 * header), bounded timeouts so a dead or frozen server fails a request instead of hanging a nightly
 * job, and our retry strategy (`retry-strategy.ts`) for individual requests — the only layer that
 * can retry an upload part, because it still holds the part's bytes.
 *
 * Timeouts (the SDK has none by default):
 *   - connect: a TCP connection that is not established within this fails (ETIMEDOUT-like
 *     TimeoutError, retried);
 *   - idle: a request whose socket sees no byte in either direction this long fails (TimeoutError,
 *     retried). An idle timeout, not a total one, because an 8 MiB part over a slow link may
 *     legitimately take minutes while bytes keep flowing; a paused or dead server sends nothing.
 * With both, a request to a frozen server fails after at most `attempts × (connect or idle
 * timeout + backoff)`: 6 × (60 s + ≤ 15 s) ≈ 7.5 min with the defaults, never forever.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { parseDurationSeconds } from "../../schema/duration.js";
import { UsageError } from "../../errors.js";
import { registerSecret } from "../../log/redact.js";
import { installContentMd5 } from "./content-md5.js";
import { BackoffRetryStrategy, DEFAULT_S3_RETRY, type S3RetryOptions } from "./retry-strategy.js";

export interface S3ConnectionOptions {
  /** S3-compatible endpoint URL (MinIO, moto); empty or absent: AWS. */
  endpoint?: string | undefined;
  region: string;
  /** Path-style URLs (`endpoint/bucket/key`); needed by most S3-compatible servers. */
  forcePathStyle?: boolean | undefined;
  /** Static credentials; absent: the SDK's default chain (AWS_* env vars, instance/task role, ...). */
  credentials?:
    { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined } | undefined;
  /** Retries per HTTP request (attempts include the first). Default `DEFAULT_S3_RETRY`. */
  retry?: Partial<S3RetryOptions> | undefined;
  /** TCP connect timeout. Default 10 s. */
  connectTimeoutMs?: number | undefined;
  /**
   * A request whose socket is idle (no byte either way) this long fails. Default 60 s: long
   * enough for a server assembling a large CompleteMultipartUpload (AWS sends keep-alive
   * whitespace meanwhile), short enough that a frozen server is noticed within minutes.
   */
  idleTimeoutMs?: number | undefined;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

export function createS3Client(options: S3ConnectionOptions): S3Client {
  // Registered before anything can log or throw with the secret in it.
  const credentials = options.credentials;
  registerSecret(credentials?.secretAccessKey);
  registerSecret(credentials?.sessionToken);
  const endpoint = options.endpoint === undefined || options.endpoint === "" ? undefined : options.endpoint;
  const retryStrategy = new BackoffRetryStrategy({ ...DEFAULT_S3_RETRY, ...options.retry });
  const client = new S3Client({
    region: options.region,
    ...(endpoint === undefined ? {} : { endpoint }),
    forcePathStyle: options.forcePathStyle ?? false,
    ...(credentials === undefined
      ? {}
      : {
          credentials: {
            accessKeyId: credentials.accessKeyId,
            secretAccessKey: credentials.secretAccessKey,
            ...(credentials.sessionToken === undefined ? {} : { sessionToken: credentials.sessionToken }),
          },
        }),
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // maxAttempts only feeds the amz-sdk-request header; the strategy decides.
    maxAttempts: retryStrategy.attempts,
    retryStrategy,
    requestHandler: {
      connectionTimeout: positiveMs(
        "connect timeout",
        options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      ),
      socketTimeout: positiveMs("idle timeout", options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS),
    },
  });
  installContentMd5(client);
  return client;
}

function positiveMs(what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError(`S3 ${what} must be a positive number of milliseconds, got ${value}`);
  }
  return value;
}

/** The repository config's timeouts and retries (durations as written there) as client options. */
export function s3Tuning(repository: {
  timeouts?: { connect?: string | undefined; idle?: string | undefined } | undefined;
  retries?: { attempts?: number | undefined; maxDelay?: string | undefined } | undefined;
}): Pick<S3ConnectionOptions, "connectTimeoutMs" | "idleTimeoutMs" | "retry"> {
  const ms = (duration: string | undefined) =>
    duration === undefined ? undefined : parseDurationSeconds(duration) * 1000;
  const connect = ms(repository.timeouts?.connect);
  const idle = ms(repository.timeouts?.idle);
  const maxDelay = ms(repository.retries?.maxDelay);
  const attempts = repository.retries?.attempts;
  return {
    ...(connect === undefined ? {} : { connectTimeoutMs: connect }),
    ...(idle === undefined ? {} : { idleTimeoutMs: idle }),
    ...(attempts === undefined && maxDelay === undefined
      ? {}
      : {
          retry: {
            ...(attempts === undefined ? {} : { attempts }),
            // A cap below the base would make the base meaningless: lower both.
            ...(maxDelay === undefined
              ? {}
              : { maxDelayMs: maxDelay, baseDelayMs: Math.min(DEFAULT_S3_RETRY.baseDelayMs, maxDelay) }),
          },
        }),
  };
}

/** "s3://bucket/prefix", plus the endpoint's host for S3-compatible servers; never credentials. */
export function describeS3Location(bucket: string, prefix: string, endpoint?: string): string {
  const base = `s3://${bucket}/${prefix}`;
  if (endpoint === undefined || endpoint === "") return base;
  try {
    const url = new URL(endpoint);
    return `${base} (${url.protocol}//${url.host})`;
  } catch {
    return `${base} (custom endpoint)`;
  }
}
