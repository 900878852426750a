/**
 * Doctor checks of an `s3-bucket` job: the bucket answers with the job's credentials, and its
 * versioning and lifecycle are as the job asks. Read-only: the bucket is inspected with
 * `apply: false`, which only reports drift.
 */
import type { S3BucketJob } from "./job-schema.js";
import { fail, ok, shared, SkipCheck, warn, type CheckSpec } from "../../preflight/runner.js";
import type { Finding } from "../../preflight/report.js";
import { ensureRepositoryBucket, type BucketSetupReport } from "../../storage/s3/bucket-setup.js";
import type { JobSource, KindDoctorContext } from "../contract.js";
import { clientFor, jobConnection } from "./connection.js";
import { lifecyclePolicyOf } from "./setup.js";

export function s3BucketDoctor(
  context: KindDoctorContext,
  { file, job }: JobSource<S3BucketJob>,
): CheckSpec[] {
  const subject = `job ${job.name}`;
  const setup = shared<BucketSetupReport>(async () => {
    const client = clientFor(await jobConnection(job, context.env, file));
    try {
      return await ensureRepositoryBucket(client, job.bucket, {
        prefix: job.prefix ?? "",
        lifecycle: lifecyclePolicyOf(job),
        apply: false,
      });
    } finally {
      client.destroy();
    }
  }, context);
  const item = (setting: "versioning" | "lifecycle") => async (): Promise<Finding> => {
    let report: BucketSetupReport;
    try {
      report = await setup();
    } catch (error) {
      if (setting === "lifecycle")
        throw new SkipCheck("bucket settings could not be read (see bucket versioning)");
      throw error;
    }
    const entry = report.items.find((candidate) => candidate.setting === setting);
    if (entry?.status !== "drift") return ok(`s3://${job.bucket}: ${entry?.detail || "as the job asks"}`);
    // modify: true lets the next backup repair it; modify: false makes that backup fail.
    return job.modify
      ? warn(
          `s3://${job.bucket}: ${entry.detail}`,
          `the next backup of ${job.name} changes it (modify: true)`,
        )
      : fail(
          `s3://${job.bucket}: ${entry.detail} and modify is false, so the backup will refuse to run`,
          `fix it on the bucket (aws s3api put-bucket-versioning / put-bucket-lifecycle-configuration), or set modify: true`,
        );
  };
  return [
    { subject, name: "bucket versioning", run: item("versioning") },
    { subject, name: "bucket lifecycle", run: item("lifecycle") },
  ];
}
