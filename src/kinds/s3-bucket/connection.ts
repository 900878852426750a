/**
 * S3 clients of the s3-bucket engine: the job's bucket (credentials from the job's *Env fields,
 * or the SDK's default chain when neither is set: instance roles, ~/.aws), and a restore target
 * given on the command line.
 *
 * Restore target connection (documented in `backdrill restore --help` by the CLI):
 *   endpoint     extra.endpoint  | BACKDRILL_RESTORE_S3_ENDPOINT   | the job's endpoint
 *   region       extra.region    | BACKDRILL_RESTORE_S3_REGION     | the job's region
 *   path style                     BACKDRILL_RESTORE_S3_FORCE_PATH_STYLE=true|false | the job's
 *   credentials                    BACKDRILL_RESTORE_S3_ACCESS_KEY + BACKDRILL_RESTORE_S3_SECRET_KEY
 *                                  | the job's credentials
 * Secrets only ever come from the environment, never from flags (argv is visible in `ps`).
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { S3BucketJob } from "./job-schema.js";
import { resolveSecret } from "../../secrets/resolve.js";
import { UsageError } from "../../errors.js";
import { createS3Client } from "../../storage/s3/client.js";

export interface S3Connection {
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
}

/**
 * The shared client factory: the repository's timeouts and bounded retries apply to the job's
 * bucket too (a frozen server must fail the job, not hang it). No configured keys: the SDK's
 * default provider chain.
 */
export function clientFor(connection: S3Connection): S3Client {
  return createS3Client({
    endpoint: connection.endpoint,
    region: connection.region,
    forcePathStyle: connection.forcePathStyle,
    credentials: connection.credentials,
  });
}

/** The job's bucket connection; `file` (the job's config file) names the fields in messages. */
export async function jobConnection(
  job: S3BucketJob,
  env: NodeJS.ProcessEnv,
  file: string,
): Promise<S3Connection> {
  let credentials: S3Connection["credentials"];
  if (job.accessKeyIdEnv !== undefined && job.secretAccessKeyEnv !== undefined) {
    credentials = {
      accessKeyId: await resolveSecret({ env: job.accessKeyIdEnv }, { file, path: "accessKeyIdEnv" }, env),
      secretAccessKey: await resolveSecret(
        { env: job.secretAccessKeyEnv },
        { file, path: "secretAccessKeyEnv" },
        env,
      ),
    };
  }
  return {
    endpoint: job.endpoint === undefined || job.endpoint === "" ? undefined : job.endpoint,
    region: job.region,
    forcePathStyle: job.forcePathStyle,
    credentials,
  };
}

export async function restoreConnection(
  job: S3BucketJob,
  override: { endpoint: string | undefined; region: string | undefined },
  env: NodeJS.ProcessEnv,
  file: string,
): Promise<{ connection: S3Connection; sameServer: boolean }> {
  const base = await jobConnection(job, env, file);
  const pick = (...values: Array<string | undefined>) => values.find((v) => v !== undefined && v !== "");
  const endpoint = pick(override.endpoint, env.BACKDRILL_RESTORE_S3_ENDPOINT) ?? base.endpoint;
  const region = pick(override.region, env.BACKDRILL_RESTORE_S3_REGION) ?? base.region;
  const pathStyle = pick(env.BACKDRILL_RESTORE_S3_FORCE_PATH_STYLE);
  if (pathStyle !== undefined && pathStyle !== "true" && pathStyle !== "false") {
    throw new UsageError(`BACKDRILL_RESTORE_S3_FORCE_PATH_STYLE must be true or false, got "${pathStyle}"`);
  }
  const accessKeyId = pick(env.BACKDRILL_RESTORE_S3_ACCESS_KEY);
  const secretAccessKey = pick(env.BACKDRILL_RESTORE_S3_SECRET_KEY);
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new UsageError(
      "set both BACKDRILL_RESTORE_S3_ACCESS_KEY and BACKDRILL_RESTORE_S3_SECRET_KEY, or neither (then the job's credentials are used)",
    );
  }
  const credentials =
    accessKeyId !== undefined && secretAccessKey !== undefined
      ? { accessKeyId, secretAccessKey }
      : base.credentials;
  const connection: S3Connection = {
    endpoint,
    region,
    forcePathStyle: pathStyle === undefined ? base.forcePathStyle : pathStyle === "true",
    credentials,
  };
  const sameServer =
    normalizeEndpoint(endpoint) === normalizeEndpoint(base.endpoint) &&
    region === base.region &&
    credentials === base.credentials;
  return { connection, sameServer };
}

function normalizeEndpoint(endpoint: string | undefined): string {
  return (endpoint ?? "").replace(/\/+$/, "").toLowerCase();
}
