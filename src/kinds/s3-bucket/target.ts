/** A drill target of an `s3-bucket` job: its own check (`sample`), and the S3 server image. */
import { sampleCheckSchema } from "../../schema/drill-checks.js";
import type { TargetOf, TargetSpec } from "../contract.js";
import type { S3BucketJob } from "./job-schema.js";

const fields = {};
const checks = { sample: sampleCheckSchema };

export type S3BucketTarget = TargetOf<typeof fields, typeof checks>;

export const s3BucketTarget: TargetSpec<S3BucketJob, S3BucketTarget> = {
  fields,
  checks,
  image: { example: "minio/minio" },
  validate: () => [],
};
