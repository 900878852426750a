/**
 * The facts of an `s3-bucket` snapshot (stored encrypted). Every reader goes through
 * `s3BucketFactsSchema`: facts come from the repository and are checked before use.
 */
import * as z from "zod";
import type { ArtifactReader } from "../contract.js";
import { artifactNameSchema, hostileSnapshot, plainText, requireArtifacts } from "../facts-values.js";
import { OBJECTS_ARTIFACT } from "./objects.js";

export const S3_FACTS_FORMAT = 1;

const count = z.number().int().nonnegative();

export const s3BucketFactsSchema = z.object({
  format: z.literal(S3_FACTS_FORMAT),
  /** The job's bucket when the snapshot was made; a restore reads versions only from the job's bucket. */
  bucket: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, { error: "not a bucket name" }),
  prefix: plainText(1024),
  objects: count,
  bytes: count,
  /** Whether every object's bytes are also in the repository. */
  copied: z.boolean(),
  /** What the bucket setup found or changed (versioning, lifecycle), for the record. */
  setup: z.array(z.object({ setting: plainText(200), status: plainText(200), detail: plainText(2000) })),
  manifestArtifact: artifactNameSchema.default(OBJECTS_ARTIFACT),
  listedAt: plainText(64),
});

export type S3BucketFacts = z.output<typeof s3BucketFactsSchema>;

/**
 * Facts against the snapshot and the job: the object list is in the snapshot, and the bucket the
 * versions come from is the job's (facts naming another bucket would have a restore copy that
 * bucket's objects with the job's credentials into the target).
 */
export function checkS3Facts(
  facts: S3BucketFacts,
  artifacts: ArtifactReader,
  job: { name: string; bucket: string },
): void {
  if (facts.bucket !== job.bucket) {
    throw hostileSnapshot(
      artifacts,
      `its facts say it lists bucket ${facts.bucket}, but job ${job.name}'s bucket is ${job.bucket}`,
    );
  }
  requireArtifacts(artifacts, [{ name: facts.manifestArtifact, field: "manifestArtifact" }]);
}
