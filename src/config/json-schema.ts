/**
 * JSON Schema for editors (yaml-language-server), generated from the zod schemas so the two never
 * drift. The input side is described (defaults make fields optional), and every number or boolean
 * field also accepts a `${VAR}` string, because expansion happens before validation.
 */
import * as z from "zod";
import { drillSchema } from "./drill-schema.js";
import { jobSchema } from "../kinds/registry.js";
import { policySchema } from "../schema/policy.js";

export const JSON_SCHEMA_FILES = {
  policy: "schema/policy.schema.json",
  job: "schema/job.schema.json",
  drill: "schema/drill.schema.json",
} as const;

type SchemaName = keyof typeof JSON_SCHEMA_FILES;

const ENV_STRING = { type: "string", pattern: "\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}" };

function allowEnvReference(ctx: { jsonSchema: Record<string, unknown> }): void {
  const schema = ctx.jsonSchema;
  const type = schema.type;
  if (type !== "number" && type !== "integer" && type !== "boolean") return;
  const inner: Record<string, unknown> = {};
  for (const key of Object.keys(schema)) {
    if (key === "description" || key === "default" || key === "title") continue;
    inner[key] = schema[key];
    delete schema[key];
  }
  schema.anyOf = [inner, ENV_STRING];
}

const TITLES: Record<SchemaName, string> = {
  policy: "backdrill policy (policies/*.yaml)",
  job: "backdrill job (jobs/*.yaml)",
  drill: "backdrill drill (drills/*.yaml)",
};

function toJsonSchema(schema: z.ZodType, name: SchemaName): Record<string, unknown> {
  const generated = z.toJSONSchema(schema, {
    io: "input",
    target: "draft-2020-12",
    unrepresentable: "any",
    override: (ctx) => allowEnvReference(ctx as { jsonSchema: Record<string, unknown> }),
  }) as Record<string, unknown>;
  return { ...generated, title: TITLES[name] };
}

export function generateJsonSchemas(): Record<SchemaName, Record<string, unknown>> {
  return {
    policy: toJsonSchema(policySchema, "policy"),
    job: toJsonSchema(jobSchema, "job"),
    drill: toJsonSchema(drillSchema, "drill"),
  };
}

/** The exact text committed under schema/; the unit test compares against it. */
export function renderJsonSchema(schema: Record<string, unknown>): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
