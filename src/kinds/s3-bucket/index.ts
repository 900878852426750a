/**
 * The `s3-bucket` kind: a versioned S3 bucket, recorded as the list of its object versions
 * (optionally with every version's bytes copied into the repository) and kept restorable by the
 * bucket's own versioning and lifecycle rules (backup.ts, setup.ts); drilled into a throwaway S3
 * server (drill.ts); restored object by object at its snapshot version (restore.ts).
 */
import { defineKind } from "../contract.js";
import { checkS3BucketPolicy, describeS3BucketJob, s3BucketSecrets } from "./config.js";
import { s3BucketFactsSchema } from "./facts.js";
import { s3BucketJobSchema } from "./job-schema.js";
import { s3BucketRestore } from "./restore-options.js";
import { s3BucketTarget } from "./target.js";

export const s3BucketKind = defineKind({
  kind: "s3-bucket",
  summary: "a versioned S3 bucket: its object versions, kept by versioning and lifecycle rules",
  jobSchema: s3BucketJobSchema,
  target: s3BucketTarget,
  factsSchema: s3BucketFactsSchema,
  restore: s3BucketRestore,
  describe: describeS3BucketJob,
  secrets: s3BucketSecrets,
  checkPolicy: checkS3BucketPolicy,
  usesDocker: () => false,
  doctor: async (context, source) => (await import("./doctor.js")).s3BucketDoctor(context, source),
  drillDoctor: async () => [],
  retention: null,
  archive: null,
  engine: async () => (await import("./engine.js")).s3BucketEngine,
});
