/** A policy: where a job's snapshots go, who can decrypt them, how long they stay, how often. */
import * as z from "zod";
import {
  absolutePathSchema,
  ageRecipientSchema,
  cronSchema,
  descriptionSchema,
  durationSchema,
  EVEN_WITH_FIELD_ERRORS,
  envNameSchema,
  nameSchema,
  nonEmptyString,
  regionSchema,
  requireBothOrNeither,
  s3EndpointSchema,
  timezoneSchema,
} from "./common.js";
import { showValue } from "./show.js";

export const localRepositorySchema = z.strictObject({
  type: z.literal("local"),
  path: absolutePathSchema.meta({ description: "Directory that holds the repository." }),
  // Listed only to explain itself: a local directory cannot lock objects.
  objectLock: z
    .never({
      error:
        "objectLock needs an S3 repository with Object Lock enabled (type: s3); remove it for a local repository",
    })
    .optional(),
});

export const objectLockSchema = z
  .strictObject({
    mode: z.enum(["GOVERNANCE", "COMPLIANCE"]),
    days: z.number().int().min(1),
  })
  .meta({ description: "Write artifacts with an Object Lock retention of this many days." });

export const s3RepositorySchema = z
  .strictObject({
    type: z.literal("s3"),
    bucket: nonEmptyString,
    prefix: z
      .string()
      .default("")
      .refine((value) => !value.startsWith("/"), { error: "write the prefix without a leading /" })
      .meta({ description: "Key prefix inside the bucket, e.g. prod." }),
    endpoint: s3EndpointSchema,
    region: regionSchema,
    forcePathStyle: z.boolean().default(false).meta({ description: "Path-style addressing (MinIO: true)." }),
    accessKeyIdEnv: envNameSchema.optional(),
    secretAccessKeyEnv: envNameSchema.optional(),
    objectLock: objectLockSchema.optional(),
    partSizeMiB: z
      .number()
      .int()
      .min(5, { error: "S3 parts must be at least 5 MiB" })
      .max(5120, { error: "S3 parts can be at most 5120 MiB (5 GiB)" })
      .optional()
      .meta({
        description:
          "Starting multipart upload part size in MiB (default 5). Parts grow by this size every 2,000 parts, so the largest artifact (10,000 parts) is 146 GiB at 5 MiB, 234 GiB at 8; memory per upload is about 3 × the current part size.",
      }),
    timeouts: z
      .strictObject({
        connect: durationSchema.optional().meta({ description: "TCP connect timeout (default 10s)." }),
        idle: durationSchema.optional().meta({
          description:
            "A request whose connection carries no byte this long fails and is retried (default 60s).",
        }),
      })
      .optional()
      .meta({
        description: "S3 request timeouts; a frozen server fails a request instead of hanging the run.",
      }),
    retries: z
      .strictObject({
        attempts: z.number().int().min(1).max(20).optional().meta({
          description: "Requests per S3 operation including the first (default 6; 1 = no retries).",
        }),
        maxDelay: durationSchema
          .optional()
          .meta({ description: "Longest wait between two attempts (default 15s); backoff starts at 0.5 s." }),
      })
      .optional()
      .meta({
        description:
          "Retries of failed S3 requests (5xx, SlowDown/throttling, timeouts, dropped connections), with exponential backoff and jitter.",
      }),
  })
  .superRefine((value, ctx) => requireBothOrNeither(value, ctx), EVEN_WITH_FIELD_ERRORS);

export const repositorySchema = z.discriminatedUnion("type", [localRepositorySchema, s3RepositorySchema]);

export const encryptionSchema = z
  .strictObject({
    recipients: z
      .array(ageRecipientSchema)
      .default([])
      .meta({ description: "age public keys; the backup host never holds a private key." }),
    recipientsFile: absolutePathSchema
      .optional()
      .meta({ description: "File with more recipients, one per line, # comments allowed." }),
  })
  .superRefine((value, ctx) => {
    if (
      Array.isArray(value.recipients) &&
      value.recipients.length === 0 &&
      value.recipientsFile === undefined
    ) {
      ctx.addIssue({
        code: "custom",
        message:
          "no recipients: list at least one age public key (age1...) in recipients, or set recipientsFile; without one nothing can be encrypted",
      });
    }
  }, EVEN_WITH_FIELD_ERRORS);

/** A signing public key as `backdrill keys signing-keygen` prints it (crypto/signing.ts). */
export const signingPublicKeySchema = z.string().regex(/^ed25519:[A-Za-z0-9+/]{43}=$/, {
  error: (iss) =>
    `expected a signing public key like ed25519:<44 base64 characters> (printed by backdrill keys signing-keygen), got ${showValue(iss.input)}`,
});

export const signingSchema = z
  .strictObject({
    keyFile: absolutePathSchema.optional().meta({
      description:
        "Ed25519 private key (PKCS#8 PEM, mode 0600) the backup host signs every manifest and WAL record with; made by `backdrill keys signing-keygen --out FILE`. Only on the backup host.",
    }),
    publicKeys: z.array(signingPublicKeySchema).default([]).meta({
      description:
        "Public keys (ed25519:…) whose signatures drill, restore, verify, prune and status accept. The key of keyFile is trusted as well when that file is readable.",
    }),
  })
  .superRefine((value, ctx) => {
    if (value.keyFile === undefined && Array.isArray(value.publicKeys) && value.publicKeys.length === 0) {
      ctx.addIssue({
        code: "custom",
        message:
          "signing names no key: set keyFile (on the backup host) and/or publicKeys (on hosts that only read the repository)",
      });
    }
  }, EVEN_WITH_FIELD_ERRORS)
  .meta({
    description:
      "Signed snapshots: without them anyone who can write to the repository can forge a snapshot that drills and restores act on.",
  });

export const RETENTION_KEYS = [
  "keepLast",
  "keepHourly",
  "keepDaily",
  "keepWeekly",
  "keepMonthly",
  "keepYearly",
] as const;

const keep = z.number().int().min(0).optional();

export const retentionSchema = z
  .strictObject({
    keepLast: keep.meta({ description: "Keep the newest N snapshots." }),
    keepHourly: keep,
    keepDaily: keep,
    keepWeekly: keep,
    keepMonthly: keep,
    keepYearly: keep,
  })
  .superRefine((value, ctx) => {
    if (RETENTION_KEYS.every((key) => (value[key] ?? 0) === 0)) {
      ctx.addIssue({
        code: "custom",
        message: `keeps nothing: set at least one of ${RETENTION_KEYS.join(", ")} above 0 (prune would delete every snapshot)`,
      });
    }
  }, EVEN_WITH_FIELD_ERRORS);

export const policySchema = z
  .strictObject({
    name: nameSchema,
    description: descriptionSchema,
    repository: repositorySchema,
    copies: z.array(repositorySchema).optional().meta({
      description:
        "Second repositories (each like `repository`) that `backdrill copy <job>` copies snapshots, WAL and drill history into, ciphertext as is; `copy N` is the Nth entry.",
    }),
    encryption: encryptionSchema,
    retention: retentionSchema,
    signing: signingSchema.optional(),
    schedule: cronSchema.optional(),
    timezone: timezoneSchema.optional(),
    rpo: durationSchema.meta({
      description: "Max age of the newest good snapshot before `backdrill status` alarms, e.g. 26h.",
    }),
    metricsFile: absolutePathSchema.optional().meta({
      description:
        "Prometheus textfile (node_exporter textfile collector) updated after each backup run, e.g. /var/lib/node_exporter/textfile/backdrill.prom. BACKDRILL_METRICS_FILE overrides it.",
    }),
  })
  .meta({ title: "backdrill policy", description: "policies/<name>.yaml" });

export type LocalRepositoryConfig = z.infer<typeof localRepositorySchema>;
export type S3RepositoryConfig = z.infer<typeof s3RepositorySchema>;
export type RepositoryConfig = z.infer<typeof repositorySchema>;
export type ObjectLockConfig = z.infer<typeof objectLockSchema>;
export type EncryptionConfig = z.infer<typeof encryptionSchema>;
export type RetentionConfig = z.infer<typeof retentionSchema>;
export type SigningConfig = z.infer<typeof signingSchema>;
export type Policy = z.infer<typeof policySchema>;
