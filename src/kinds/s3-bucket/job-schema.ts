/** `s3-bucket`: an application bucket, versioned, each snapshot a manifest of object versions. */
import * as z from "zod";
import {
  envNameSchema,
  EVEN_WITH_FIELD_ERRORS,
  nonEmptyString,
  regionSchema,
  requireBothOrNeither,
  s3EndpointSchema,
} from "../../schema/common.js";
import { jobBaseShape } from "../../schema/job-base.js";

export const s3BucketJobSchema = z
  .strictObject({
    ...jobBaseShape,
    kind: z.literal("s3-bucket"),
    bucket: nonEmptyString.meta({ description: "The application's bucket to protect." }),
    prefix: z.string().optional().meta({ description: "Only objects under this key prefix. Default: all." }),
    endpoint: s3EndpointSchema,
    region: regionSchema,
    forcePathStyle: z.boolean().default(false),
    accessKeyIdEnv: envNameSchema.optional(),
    secretAccessKeyEnv: envNameSchema.optional(),
    lifecycle: z
      .strictObject({
        noncurrentVersionExpirationDays: z.number().int().min(1).meta({
          description:
            "Old versions expire after this many days; snapshots older than that cannot be restored unless copy: true.",
        }),
        abortIncompleteMultipartUploadDays: z.number().int().min(1),
      })
      .optional()
      .meta({ description: "Lifecycle rules backdrill enforces on the bucket (with modify: true)." }),
    copy: z
      .boolean()
      .default(false)
      .meta({ description: "Also copy every object version into the repository, encrypted." }),
    modify: z.boolean().default(true).meta({
      description: "Let backdrill enable versioning and set lifecycle rules; false: only check and report.",
    }),
  })
  .superRefine((value, ctx) => requireBothOrNeither(value, ctx), EVEN_WITH_FIELD_ERRORS);

export type S3BucketJob = z.infer<typeof s3BucketJobSchema>;
