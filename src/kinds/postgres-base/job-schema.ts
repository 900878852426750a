/** `postgres-base`: pg_basebackup base backups plus a continuous WAL archive, for point-in-time restore. */
import * as z from "zod";
import { connectionSchema, toolsSchema } from "../postgres/config-schema.js";
import { jobBaseShape } from "../../schema/job-base.js";

export const postgresBaseJobSchema = z.strictObject({
  ...jobBaseShape,
  kind: z.literal("postgres-base"),
  connection: connectionSchema.meta({
    description: "A user with the REPLICATION attribute (pg_basebackup).",
  }),
  tools: toolsSchema,
});

export type PostgresBaseJob = z.infer<typeof postgresBaseJobSchema>;
