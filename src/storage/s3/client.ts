/**
 * Builds the S3Client every backdrill S3 path uses, with the settings S3-compatible servers need
 * (see design.md "Environment facts"): path-style addressing for MinIO/moto, checksums only when
 * an operation requires them, Content-MD5 on uploads (Object Lock buckets demand an integrity
 * header), bounded timeouts so a dead connection fails instead of hanging a nightly job, and the
 * SDK's own retries for individual requests — the only layer that can retry an upload part,
 * because it still holds the part's bytes.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { registerSecret } from "../../log/redact.js";
import { installContentMd5 } from "./content-md5.js";

export interface S3ConnectionOptions {
  /** S3-compatible endpoint URL (MinIO, moto); empty or absent: AWS. */
  endpoint?: string | undefined;
  region: string;
  /** Path-style URLs (`endpoint/bucket/key`); needed by most S3-compatible servers. */
  forcePathStyle?: boolean | undefined;
  /** Static credentials; absent: the SDK's default chain (AWS_* env vars, instance/task role, ...). */
  credentials?:
    { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined } | undefined;
  /** Attempts per HTTP request, including the first (SDK standard retry strategy). Default 5. */
  maxAttempts?: number | undefined;
}

const CONNECT_TIMEOUT_MS = 10_000;
/** A socket idle this long is dead; generous, because the server may think before answering a Complete. */
const SOCKET_IDLE_TIMEOUT_MS = 120_000;

export function createS3Client(options: S3ConnectionOptions): S3Client {
  // Registered before anything can log or throw with the secret in it.
  const credentials = options.credentials;
  registerSecret(credentials?.secretAccessKey);
  registerSecret(credentials?.sessionToken);
  const endpoint = options.endpoint === undefined || options.endpoint === "" ? undefined : options.endpoint;
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
    maxAttempts: options.maxAttempts ?? 5,
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: SOCKET_IDLE_TIMEOUT_MS },
  });
  installContentMd5(client);
  return client;
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
