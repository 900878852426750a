/**
 * `backdrill restore <s3-bucket job> --to s3://bucket[/prefix] [--endpoint URL] [--region R]`.
 * Credentials of another server come from the environment (connection.ts). Pure.
 */
import { UsageError } from "../../errors.js";
import type { RestoreSpec } from "../contract.js";
import type { S3BucketJob } from "./job-schema.js";
import { parseS3Target } from "./objects.js";

export interface S3BucketRestoreOptions {
  bucket: string;
  prefix: string;
  endpoint: string | undefined;
  region: string | undefined;
}

const text = (value: string | boolean | undefined): string | undefined =>
  typeof value === "string" && value !== "" ? value : undefined;

export const s3BucketRestore: RestoreSpec<S3BucketJob, S3BucketRestoreOptions> = {
  to: "s3://bucket or s3://bucket/prefix",
  flags: [
    {
      name: "endpoint",
      type: "string",
      describe: "S3 endpoint of the target (default $BACKDRILL_RESTORE_S3_ENDPOINT, else the job's)",
    },
    { name: "region", type: "string", describe: "region of the target" },
  ],
  options({ to, flags }) {
    const parsed = parseS3Target(to);
    if (parsed === undefined)
      throw new UsageError(`--to: expected s3://bucket or s3://bucket/prefix, got "${to}"`);
    return { ...parsed, endpoint: text(flags.endpoint), region: text(flags.region) };
  },
};
