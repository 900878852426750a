import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { JSON_SCHEMA_FILES, generateJsonSchemas, renderJsonSchema } from "./json-schema.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

describe("JSON Schema", () => {
  const schemas = generateJsonSchemas();

  it.each(Object.keys(JSON_SCHEMA_FILES) as (keyof typeof JSON_SCHEMA_FILES)[])(
    "committed %s schema is up to date (run `npm run schema` after changing a schema)",
    async (name) => {
      const committed = await readFile(resolve(repoRoot, JSON_SCHEMA_FILES[name]), "utf8");
      expect(committed).toBe(renderJsonSchema(schemas[name]));
    },
  );

  it("describes each job kind as a variant, closed to unknown fields", () => {
    const variants = schemas.job.oneOf as {
      properties: { kind: { const: string } };
      additionalProperties: boolean;
    }[];
    expect(variants.map((variant) => variant.properties.kind.const)).toEqual([
      "postgres-dump",
      "postgres-base",
      "files",
      "s3-bucket",
      "rabbitmq",
      "symfony-secrets",
    ]);
    expect(variants.every((variant) => variant.additionalProperties === false)).toBe(true);
  });

  it("lets number and boolean fields hold a ${VAR} reference, as expansion runs first", () => {
    const port = (
      (schemas.job.oneOf as { properties: Record<string, { properties?: Record<string, unknown> }> }[])[0]
        ?.properties.connection?.properties ?? {}
    ).port as { anyOf: { type: string; pattern?: string }[] };
    expect(port.anyOf.map((option) => option.type)).toEqual(["integer", "string"]);
    expect(new RegExp(port.anyOf[1]?.pattern ?? "^$").test("${TASK_DB_PORT:-5432}")).toBe(true);
  });
});
