/** Reads the definitions artifact of a snapshot into memory and validates it. */
import { OperationError } from "../../errors.js";
import { readArtifactBuffer } from "../artifact-read.js";
import type { ArtifactReader } from "../contract.js";
import { parseDefinitions, type Definitions } from "./definitions.js";

const MAX_BYTES = 512 * 1024 * 1024;

export async function readDefinitionsArtifact(
  artifacts: ArtifactReader,
  name: string,
  signal: AbortSignal,
): Promise<Definitions> {
  const raw = await readArtifactBuffer(artifacts, name, signal, MAX_BYTES);
  let value: unknown;
  try {
    value = JSON.parse(raw.toString("utf8"));
  } catch (error) {
    throw new OperationError(`artifact ${name} is not valid JSON: ${(error as Error).message}`);
  }
  return parseDefinitions(value, `artifact ${name}`);
}
