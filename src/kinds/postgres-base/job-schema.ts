/** `postgres-base`: pg_basebackup base backups plus a continuous WAL archive, for point-in-time restore. */
import * as z from "zod";
import { connectionSchema, toolsSchema } from "../postgres/config-schema.js";
import { jobBaseShape } from "../../schema/job-base.js";
import { durationSchema } from "../../schema/common.js";

export const postgresBaseJobSchema = z.strictObject({
  ...jobBaseShape,
  kind: z.literal("postgres-base"),
  connection: connectionSchema.meta({
    description: "A user with the REPLICATION attribute (pg_basebackup).",
  }),
  tools: toolsSchema,
  archiveRpo: durationSchema.optional().meta({
    description:
      "The PITR RPO: `status` turns red (and the job is not ok) when the newest archived WAL file is older. " +
      "Default: the policy's `rpo`. Set archive_timeout below it, or an idle database breaches it.",
  }),
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
