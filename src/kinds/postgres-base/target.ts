/**
 * A drill target of a `postgres-base` job: the point in time to recover to (`pitr`, only this
 * kind replays a WAL archive) and the PostgreSQL checks.
 */
import * as z from "zod";
import { showValue } from "../../schema/show.js";
import type { TargetOf, TargetSpec } from "../contract.js";
import { postgresChecks } from "../postgres/target-checks.js";
import type { PostgresBaseJob } from "./job-schema.js";

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/;

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

const fields = {
  pitr: { schema: pitrSchema, why: "point-in-time recovery replays a WAL archive" },
};
const checks = { ...postgresChecks };

export type PostgresBaseTarget = TargetOf<typeof fields, typeof checks>;

export const postgresBaseTarget: TargetSpec<PostgresBaseJob, PostgresBaseTarget> = {
  fields,
  checks,
  image: { example: "pgvector/pgvector:pg17" },
  validate: () => [],
};
