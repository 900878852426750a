/** The facts of an `s3-bucket` snapshot (stored encrypted). */
import { IntegrityError } from "../../errors.js";
import { OBJECTS_ARTIFACT } from "./objects.js";

export const S3_FACTS_FORMAT = 1;

export interface S3BucketFacts {
  format: typeof S3_FACTS_FORMAT;
  bucket: string;
  prefix: string;
  objects: number;
  bytes: number;
  /** Whether every object's bytes are also in the repository. */
  copied: boolean;
  /** What the bucket setup found or changed (versioning, lifecycle), for the record. */
  setup: Array<{ setting: string; status: string; detail: string }>;
  manifestArtifact: string;
  listedAt: string;
}

export function readS3Facts(facts: Record<string, unknown>, job: string): S3BucketFacts {
  const value = facts as Partial<S3BucketFacts>;
  if (value.format !== S3_FACTS_FORMAT || typeof value.bucket !== "string") {
    throw new IntegrityError(
      `job ${job}: the snapshot's facts are not s3-bucket facts (format ${String(value.format)})`,
    );
  }
  return { ...value, manifestArtifact: value.manifestArtifact ?? OBJECTS_ARTIFACT } as S3BucketFacts;
}
