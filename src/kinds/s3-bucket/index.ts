/**
 * The `s3-bucket` engine: versioning + lifecycle enforced on an application bucket, snapshots as
 * manifests of object versions (optionally with copies), drills into a throwaway S3 server, and
 * restores to s3://bucket/prefix.
 */
import type { DrillTarget } from "../../config/drill-schema.js";
import type { S3BucketJob } from "./job-schema.js";
import type { Engine } from "../engine.js";
import { backupS3Bucket } from "./backup.js";
import { drillS3Bucket } from "./drill.js";
import { planS3BucketRestore, restoreS3Bucket } from "./restore.js";

export const s3BucketEngine: Engine<S3BucketJob, DrillTarget> = {
  kind: "s3-bucket",
  backup: backupS3Bucket,
  drill: drillS3Bucket,
  planRestore: planS3BucketRestore,
  restore: restoreS3Bucket,
};
