/** What `validate` and the config loader ask of an `s3-bucket` job. */
import type { Policy } from "../../schema/policy.js";
import { retentionHorizon } from "../../schema/retention-horizon.js";
import { safeUrl } from "../../schema/show.js";
import { secretField } from "../../secrets/resolve.js";
import type { FieldIssue, JobSource, SecretSpec } from "../contract.js";
import type { S3BucketJob } from "./job-schema.js";

export function describeS3BucketJob(job: S3BucketJob): string {
  const endpoint = job.endpoint === undefined ? "AWS" : safeUrl(job.endpoint);
  const prefix = job.prefix === undefined || job.prefix === "" ? "" : `/${job.prefix}`;
  const mode = [job.copy ? "copy versions" : "version manifest only", job.modify ? "enforce" : "check only"];
  return `s3://${job.bucket}${prefix} at ${endpoint}; ${mode.join(", ")}`;
}

export function s3BucketSecrets({ file, job }: JobSource<S3BucketJob>): SecretSpec {
  const secrets: SecretSpec["secrets"] = [];
  for (const stem of ["accessKeyId", "secretAccessKey"]) {
    const field = secretField(job, stem, { file, path: "" });
    if (field !== undefined) secrets.push(field);
  }
  return { secrets, recipients: [] };
}

export function checkS3BucketPolicy(job: S3BucketJob, policy: Policy): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const repository = policy.repository;
  if (repository.type === "s3" && repository.bucket === job.bucket) {
    issues.push({
      path: "bucket",
      message: `is the repository bucket of policy ${policy.name}; backing a bucket up into itself protects nothing`,
    });
  }
  // Without copies, a snapshot restores changed or deleted objects only from their old versions:
  // once those expire, every snapshot older than that is a list of versions that no longer exist.
  const expiry = job.lifecycle?.noncurrentVersionExpirationDays;
  const horizon = retentionHorizon(policy.retention, policy);
  if (!job.copy && expiry !== undefined && horizon !== undefined && horizon.days > expiry) {
    issues.push({
      path: "lifecycle.noncurrentVersionExpirationDays",
      message:
        `old object versions expire after ${expiry} days, but policy ${policy.name} keeps snapshots up to ` +
        `${horizon.days} days (${horizon.rule}) and copy is false: snapshots older than ${expiry} days could not ` +
        `restore objects changed or deleted since; raise noncurrentVersionExpirationDays to at least ${horizon.days}, ` +
        `set copy: true, or keep snapshots for at most ${expiry} days`,
    });
  }
  return issues;
}
