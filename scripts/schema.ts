/**
 * Writes schema/*.schema.json from the zod schemas (`npm run schema`). The files are committed so
 * editors find them next to the config; a unit test fails when they are out of date.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { JSON_SCHEMA_FILES, generateJsonSchemas, renderJsonSchema } from "../src/config/json-schema.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const schemas = generateJsonSchemas();
for (const [name, file] of Object.entries(JSON_SCHEMA_FILES) as [keyof typeof JSON_SCHEMA_FILES, string][]) {
  const target = resolve(root, file);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, renderJsonSchema(schemas[name]));
  console.log(`wrote ${file}`);
}
