/**
 * The facts of an `s3-bucket` snapshot (stored encrypted). Every reader goes through
 * `s3BucketFactsSchema`: facts come from the repository and are checked before use.
 */
import * as z from "zod";
import { OBJECTS_ARTIFACT } from "./objects.js";

export const S3_FACTS_FORMAT = 1;

const count = z.number().int().nonnegative();

export const s3BucketFactsSchema = z.object({
  format: z.literal(S3_FACTS_FORMAT),
  bucket: z.string().min(1),
  prefix: z.string(),
  objects: count,
  bytes: count,
  /** Whether every object's bytes are also in the repository. */
  copied: z.boolean(),
  /** What the bucket setup found or changed (versioning, lifecycle), for the record. */
  setup: z.array(z.object({ setting: z.string(), status: z.string(), detail: z.string() })),
  manifestArtifact: z.string().min(1).default(OBJECTS_ARTIFACT),
  listedAt: z.string(),
});

export type S3BucketFacts = z.output<typeof s3BucketFactsSchema>;
