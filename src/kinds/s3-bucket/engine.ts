/** The `s3-bucket` engine, loaded on first use (AWS SDK, containers): see index.ts. */
import type { KindEngine } from "../contract.js";
import { backupS3Bucket } from "./backup.js";
import { drillS3Bucket } from "./drill.js";
import type { S3BucketFacts } from "./facts.js";
import type { S3BucketJob } from "./job-schema.js";
import { applyS3BucketRestore, planS3BucketRestore, type S3BucketRestorePlan } from "./restore.js";
import type { S3BucketRestoreOptions } from "./restore-options.js";
import type { S3BucketTarget } from "./target.js";

export const s3BucketEngine: KindEngine<
  S3BucketJob,
  S3BucketTarget,
  S3BucketFacts,
  S3BucketRestoreOptions,
  S3BucketRestorePlan
> = {
  backup: backupS3Bucket,
  drill: drillS3Bucket,
  planRestore: planS3BucketRestore,
  applyRestore: applyS3BucketRestore,
};
