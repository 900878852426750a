/**
 * Brings the job's bucket to the state snapshots rely on — versioning Enabled (an overwrite or a
 * delete then keeps the snapshot's version) and the job's lifecycle rules — by reusing the
 * repository bucket setup (storage/s3/bucket-setup.ts): same read-before-write, same merge that
 * keeps every foreign rule, same verification by reading back.
 *
 * modify: false only reads: any drift (versioning off, rules missing or different) fails the
 * backup with the list of what differs, and nothing on the bucket is touched.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { S3BucketJob } from "./job-schema.js";
import { OperationError } from "../../errors.js";
import { ensureRepositoryBucket, type BucketSetupReport } from "../../storage/s3/bucket-setup.js";
import type { LifecyclePolicy } from "../../storage/s3/lifecycle-rules.js";

/** Without `lifecycle` in the job: only the harmless abort-incomplete-multipart-uploads rule. */
export const DEFAULT_ABORT_INCOMPLETE_DAYS = 7;

export function lifecyclePolicyOf(job: S3BucketJob): LifecyclePolicy {
  return {
    abortIncompleteMultipartUploadDays:
      job.lifecycle?.abortIncompleteMultipartUploadDays ?? DEFAULT_ABORT_INCOMPLETE_DAYS,
    noncurrentVersionExpirationDays: job.lifecycle?.noncurrentVersionExpirationDays,
  };
}

export async function ensureJobBucket(client: S3Client, job: S3BucketJob): Promise<BucketSetupReport> {
  const report = await ensureRepositoryBucket(client, job.bucket, {
    prefix: job.prefix ?? "",
    lifecycle: lifecyclePolicyOf(job),
    apply: job.modify,
  });
  if (report.drift) {
    const drift = report.items.filter((item) => item.status === "drift");
    throw new OperationError(
      `job ${job.name}: bucket ${job.bucket} does not meet the job's settings and modify is false: ` +
        drift.map((item) => `${item.setting}: ${item.detail}`).join("; "),
      {
        hint:
          "enable versioning and add the rules on the bucket yourself (e.g. aws s3api put-bucket-versioning " +
          `--bucket ${job.bucket} --versioning-configuration Status=Enabled), or set modify: true so backdrill does it`,
      },
    );
  }
  return report;
}
