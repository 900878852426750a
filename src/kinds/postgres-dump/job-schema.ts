/** `postgres-dump`: pg_dump per database plus pg_dumpall --globals-only, with row-count facts. */
import * as z from "zod";
import { connectionSchema, toolsSchema } from "../postgres/config-schema.js";
import { databaseNameSchema, jobBaseShape } from "../../schema/job-base.js";
import { pgDatabaseNameProblem } from "../postgres/names.js";

export const postgresDumpJobSchema = z
  .strictObject({
    ...jobBaseShape,
    kind: z.literal("postgres-dump"),
    connection: connectionSchema,
    databases: z
      .array(
        databaseNameSchema.superRefine((value, ctx) => {
          const problem = pgDatabaseNameProblem(value);
          if (problem !== undefined) {
            ctx.addIssue({
              code: "custom",
              message: `database name ${problem}; backdrill cannot restore it safely`,
            });
          }
        }),
      )
      .min(1)
      .optional()
      .meta({ description: "Databases to dump. Omit: every database except templates." }),
    format: z
      .enum(["custom", "directory"])
      .default("custom")
      .meta({ description: "pg_dump format: custom (one file) or directory (parallel)." }),
    parallel: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta({ description: "pg_dump -j: parallel jobs; directory format only." }),
    globals: z
      .boolean()
      .default(true)
      .meta({ description: "Also dump roles and tablespaces (pg_dumpall -g)." }),
    tools: toolsSchema,
    facts: z
      .strictObject({
        checksumMaxRows: z
          .number()
          .int()
          .min(0)
          .default(100_000)
          .meta({ description: "Tables up to this many rows also get a content checksum; 0 disables." }),
      })
      .default({ checksumMaxRows: 100_000 }),
    compress: z
      .number()
      .int()
      .min(0)
      .max(9)
      .optional()
      .meta({ description: "pg_dump --compress level 0-9. Default: pg_dump's." }),
  })
  .superRefine((value, ctx) => {
    if (value.parallel !== undefined && value.format !== "directory") {
      ctx.addIssue({
        code: "custom",
        path: ["parallel"],
        message: `parallel dumps need format: directory (pg_dump -j cannot write the ${value.format} format); set format: directory or remove parallel`,
      });
    }
    if (value.databases !== undefined) {
      const seen = new Set<string>();
      value.databases.forEach((db, index) => {
        if (seen.has(db)) {
          ctx.addIssue({
            code: "custom",
            path: ["databases", index],
            message: `database "${db}" is listed twice`,
          });
        }
        seen.add(db);
      });
    }
  });

export type PostgresDumpJob = z.infer<typeof postgresDumpJobSchema>;
