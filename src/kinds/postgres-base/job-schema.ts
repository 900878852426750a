/** `postgres-base`: pg_basebackup base backups plus a continuous WAL archive, for point-in-time restore. */
import * as z from "zod";
import { connectionSchema, toolsSchema } from "../postgres/config-schema.js";
import { jobBaseShape } from "../../schema/job-base.js";
import { absolutePathSchema, durationSchema } from "../../schema/common.js";
import { type Compression, compressionSchema } from "../../streams/compression.js";

/** Base backups and WAL of a job without `compression` (measured: bench/results.md, "Compression"). */
export const DEFAULT_COMPRESSION = "brotli-1" satisfies Compression;

/**
 * PostgreSQL 17 incremental base backups (README, "Incremental base backups"). The parent's
 * backup_manifest comes from `stateDir` on the backup host, never from the repository: the
 * backup host holds only public recipients, so it cannot decrypt what it stored.
 */
export const incrementalSchema = z
  .strictObject({
    fullEvery: z
      .union([
        z.number().int().min(1, { error: "fullEvery must be at least 1 (1: every backup is full)" }),
        durationSchema,
      ])
      .meta({
        description:
          "When a full base backup is due: a count (7: every 7th backup of a chain is full) or a duration " +
          "(7d: once the chain's full backup is that old). Backups in between are incremental.",
      }),
    stateDir: absolutePathSchema.meta({
      description:
        "Directory on the backup host (mode 0700) that keeps the newest backup_manifest of the job, " +
        "the parent the next incremental backup is taken against. Lost: the next backup is full.",
    }),
  })
  .meta({
    description:
      "PostgreSQL 17 incremental base backups (pg_basebackup --incremental); needs summarize_wal = on. Default: every backup is full.",
  });

export type IncrementalConfig = z.infer<typeof incrementalSchema>;

export const postgresBaseJobSchema = z.strictObject({
  ...jobBaseShape,
  kind: z.literal("postgres-base"),
  connection: connectionSchema.meta({
    description: "A user with the REPLICATION attribute (pg_basebackup).",
  }),
  tools: toolsSchema,
  compression: compressionSchema.default(DEFAULT_COMPRESSION).meta({
    description:
      "How base backups and WAL are compressed before encryption: brotli-1 (default; about 0.35–0.45 of the " +
      "size for PostgreSQL data at >100 MiB/s per core), brotli-4 (a few percent smaller, about 5× the CPU), " +
      "or none. Each base backup and WAL file records its own: changing it never affects what is stored.",
  }),
  archiveRpo: durationSchema.optional().meta({
    description:
      "The PITR RPO: `status` turns red (and the job is not ok) when the newest archived WAL file is older. " +
      "Default: the policy's `rpo`. Set archive_timeout below it, or an idle database breaches it.",
  }),
  incremental: incrementalSchema.optional(),
  spool: z
    .string()
    .refine((value) => value.startsWith("/"), { message: "must be an absolute path" })
    .optional()
    .meta({
      description:
        "Absolute path of the spool directory PostgreSQL's archive_command copies WAL into (README, " +
        '"Spool"). With it, `backdrill cron` writes a unit for `backdrill wal ship`, and `status` ' +
        "reports the spool's backlog when the directory is on the host it runs on.",
    }),
});

export type PostgresBaseJob = z.infer<typeof postgresBaseJobSchema>;
