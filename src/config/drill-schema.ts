/** A drill: restore chosen snapshots into throwaway containers, check them, time them, report. */
import * as z from "zod";
import {
  absolutePathSchema,
  cronSchema,
  descriptionSchema,
  durationSchema,
  nameSchema,
  nonEmptyString,
  timezoneSchema,
} from "../schema/common.js";
import type { JobKind } from "../kinds/registry-jobs.js";
import { showValue } from "../schema/show.js";

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/;
const SNAPSHOT_ID = /^\d{8}T\d{6}Z-[0-9a-f]+$/;

export const pitrSchema = z
  .string()
  .superRefine((value, ctx) => {
    if (value === "latest" || value === "random") return;
    if (!ISO_TIME.test(value) || Number.isNaN(Date.parse(value))) {
      ctx.addIssue({
        code: "custom",
        message: `expected latest, random or an ISO time with a zone like 2026-11-28T02:15:00Z, got ${showValue(value)}`,
      });
    }
  })
  .meta({
    description: "Point in time to recover to: latest, random (within the snapshot's WAL) or an ISO time.",
  });

export const sqlCheckSchema = z.strictObject({
  name: nonEmptyString.meta({ description: "Shown in the report." }),
  database: nonEmptyString,
  query: nonEmptyString.meta({ description: "Must return one row whose first column is true." }),
});

export const drillChecksSchema = z
  .strictObject({
    rowCounts: z
      .boolean()
      .optional()
      .meta({ description: "postgres-dump: row counts equal the backup's facts. Default: true." }),
    checksums: z.boolean().optional().meta({
      description: "postgres-dump: content checksums of small tables equal the facts. Default: true.",
    }),
    amcheck: z.boolean().optional().meta({ description: "PostgreSQL: run pg_amcheck. Default: true." }),
    extensions: z
      .array(nonEmptyString)
      .optional()
      .meta({ description: "PostgreSQL: extensions that must be installed, e.g. [vector]." }),
    sql: z.array(sqlCheckSchema).optional().meta({ description: "PostgreSQL: SQL assertions." }),
    sample: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta({ description: "files, s3-bucket: check this many random files/objects. Default: all." }),
    stripClassicMirroring: z.boolean().optional().meta({
      description: "rabbitmq: drop 3.x ha-* policy keys before import (4.x rejects them). Default: true.",
    }),
    secrets: z.array(nonEmptyString).optional().meta({
      description: "symfony-secrets: names that must be present (every secret must open regardless).",
    }),
  })
  .meta({ description: "Checks after the restore; which apply depends on the job's kind." });

export type DrillChecks = z.infer<typeof drillChecksSchema>;

/** Which check keys make sense for which job kind; the loader rejects the rest. */
export const CHECKS_BY_KIND: Record<JobKind, readonly (keyof DrillChecks)[]> = {
  "postgres-dump": ["rowCounts", "checksums", "amcheck", "extensions", "sql"],
  "postgres-base": ["amcheck", "extensions", "sql"],
  files: ["sample"],
  "s3-bucket": ["sample"],
  rabbitmq: ["stripClassicMirroring"],
  "symfony-secrets": ["secrets"],
};

export const drillTargetSchema = z.strictObject({
  job: nonEmptyString.meta({ description: "Name of the job whose snapshot is restored." }),
  snapshot: z
    .string()
    .refine((value) => value === "latest" || SNAPSHOT_ID.test(value), {
      error: (iss) =>
        `expected latest or a snapshot id like 20261128T021500Z-3f9a1c (see backdrill snapshots), got ${showValue(iss.input)}`,
    })
    .default("latest")
    .meta({ description: "latest, or a snapshot id like 20261128T021500Z-3f9a1c." }),
  image: nonEmptyString.optional().meta({ description: "Container image to restore into." }),
  rto: durationSchema.optional().meta({ description: "Time budget for fetch + restore + checks, e.g. 30m." }),
  pitr: pitrSchema.optional(),
  checks: drillChecksSchema.optional(),
  escrowIdentityFile: absolutePathSchema
    .optional()
    .meta({ description: "symfony-secrets: age identity of an escrow holder." }),
});

export const drillSchema = z
  .strictObject({
    name: nameSchema,
    description: descriptionSchema,
    schedule: cronSchema.optional(),
    timezone: timezoneSchema.optional(),
    identityFile: absolutePathSchema.meta({
      description: "age identity file that opens the policies' recipients.",
    }),
    reportDir: nonEmptyString
      .default("reports")
      .meta({ description: "Where reports go; relative paths are relative to the config directory." }),
    targets: z.array(drillTargetSchema).min(1),
    metricsFile: absolutePathSchema.optional().meta({
      description:
        "Prometheus textfile (node_exporter textfile collector) updated after each drill run. BACKDRILL_METRICS_FILE overrides it.",
    }),
  })
  .meta({ title: "backdrill drill", description: "drills/<name>.yaml" });

export type DrillTarget = z.infer<typeof drillTargetSchema>;
export type Drill = z.infer<typeof drillSchema>;
export type SqlCheck = z.infer<typeof sqlCheckSchema>;
