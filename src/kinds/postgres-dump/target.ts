/**
 * A drill target of a `postgres-dump` job: its checks (row counts and content checksums against
 * the facts, plus the PostgreSQL checks), and SQL assertions may only name databases the job
 * backs up.
 */
import * as z from "zod";
import { didYouMean } from "../../schema/suggest.js";
import type { FieldIssue, TargetOf, TargetSpec } from "../contract.js";
import { postgresChecks } from "../postgres/target-checks.js";
import type { PostgresDumpJob } from "./job-schema.js";

const fields = {};
const checks = {
  rowCounts: z
    .boolean()
    .meta({ description: "postgres-dump: row counts equal the backup's facts. Default: true." }),
  checksums: z.boolean().meta({
    description: "postgres-dump: content checksums of small tables equal the facts. Default: true.",
  }),
  ...postgresChecks,
};

export type PostgresDumpTarget = TargetOf<typeof fields, typeof checks>;

export const postgresDumpTarget: TargetSpec<PostgresDumpJob, PostgresDumpTarget> = {
  fields,
  checks,
  image: { example: "pgvector/pgvector:pg17" },
  validate(target, job) {
    const databases = job.databases;
    if (databases === undefined) return [];
    const issues: FieldIssue[] = [];
    target.checks?.sql?.forEach((check, index) => {
      if (databases.includes(check.database)) return;
      issues.push({
        path: `checks.sql.${index}.database`,
        message: `job ${job.name} does not back up database "${check.database}"${didYouMean(check.database, databases)} (its databases: ${databases.join(", ")})`,
      });
    });
    return issues;
  },
};
