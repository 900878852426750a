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
import { ALL_KINDS, type AnyKind } from "../kinds/registry.js";
import { isSnapshotId } from "../repository/snapshot-id.js";
import { showValue } from "../schema/show.js";
import { signingPublicKeySchema } from "../schema/policy.js";
import { checkStack, serviceSchema, stackSchema } from "./stack-schema.js";
import { parseEngineUrl } from "../docker/engine.js";

/**
 * The drill target schema: the fields every target has, plus the fields and `checks:` keys of
 * every kind (each optional here; the loader then refuses those that do not belong to the kind of
 * the target's job, see cross-file.ts). Built from the registry, so a kind's fields appear in
 * the JSON schema for editors too.
 */
function mergedShape(
  what: string,
  shapeOf: (kind: AnyKind) => Record<string, z.ZodType>,
): Record<string, z.ZodType> {
  const merged: Record<string, z.ZodType> = {};
  for (const kind of ALL_KINDS) {
    for (const [key, schema] of Object.entries(shapeOf(kind))) {
      const other = merged[key];
      // A key two kinds share must be the same schema, or one of them would validate the other's.
      if (other !== undefined && other !== schema) {
        throw new Error(
          `drill target ${what} ${key} is declared twice with different schemas (${kind.kind})`,
        );
      }
      merged[key] = schema;
    }
  }
  return Object.fromEntries(Object.entries(merged).map(([key, schema]) => [key, schema.optional()]));
}

const kindFields = mergedShape("field", (kind) =>
  Object.fromEntries(Object.entries(kind.target.fields).map(([key, field]) => [key, field.schema])),
);
const kindChecks = mergedShape("check", (kind) => kind.target.checks);

export const drillChecksSchema = z
  .strictObject(kindChecks)
  .meta({ description: "Checks after the restore; which apply depends on the job's kind." });

export const drillTargetSchema = z.strictObject({
  job: nonEmptyString.meta({ description: "Name of the job whose snapshot is restored." }),
  snapshot: z
    .string()
    .refine((value) => value === "latest" || isSnapshotId(value), {
      error: (iss) =>
        `expected latest or a snapshot id like 20261128T021500Z-3f9a1c (see backdrill snapshots), got ${showValue(iss.input)}`,
    })
    .default("latest")
    .meta({ description: "latest, or a snapshot id like 20261128T021500Z-3f9a1c." }),
  image: nonEmptyString.optional().meta({ description: "Container image to restore into." }),
  rto: durationSchema.optional().meta({ description: "Time budget for fetch + restore + checks, e.g. 30m." }),
  fromCopy: z.number().int().min(1).optional().meta({
    description:
      "Drill the snapshot from the job's policy's copy N (the Nth entry of `copies`, 1-based) instead of its repository.",
  }),
  service: serviceSchema.optional(),
  ...kindFields,
  checks: drillChecksSchema.optional(),
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
    signing: z
      .strictObject({
        publicKeys: z.array(signingPublicKeySchema).min(1, {
          error: "list at least one signing public key (ed25519:…), or remove signing",
        }),
      })
      .optional()
      .meta({
        description:
          "Signing public keys this drill trusts on top of its jobs' policies' signing.publicKeys; with any, unsigned snapshots are refused.",
      }),
    pull: z.enum(["never", "missing", "always"]).default("never").meta({
      description:
        "Whether the drill may pull images (targets' image and the jobs' tools.image): never (default: a missing image fails the target, naming it), missing, or always.",
    }),
    metricsFile: absolutePathSchema.optional().meta({
      description:
        "Prometheus textfile (node_exporter textfile collector) updated after each drill run. BACKDRILL_METRICS_FILE overrides it.",
    }),
    stack: stackSchema.optional(),
    engine: z
      .string()
      .superRefine((value, context) => {
        const parsed = parseEngineUrl(value);
        if (typeof parsed === "string") context.addIssue({ code: "custom", message: parsed });
      })
      .optional()
      .meta({
        description:
          "Docker engine the drill's containers run on: unix:///path/to/docker.sock or tcp://host:port (TLS as Docker does it: DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH). Default: DOCKER_HOST, else the local engine.",
      }),
  })
  .superRefine(checkStack)
  .meta({ title: "backdrill drill", description: "drills/<name>.yaml" });

export type DrillTarget = z.infer<typeof drillTargetSchema>;
export type DrillChecks = z.infer<typeof drillChecksSchema>;
export type Drill = z.infer<typeof drillSchema>;
