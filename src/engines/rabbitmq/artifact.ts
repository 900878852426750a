/** Reads the definitions artifact of a snapshot into memory and validates it. */
import { OperationError } from "../../errors.js";
import type { ArtifactReader } from "../engine.js";
import { parseDefinitions, type Definitions } from "./definitions.js";

const MAX_BYTES = 512 * 1024 * 1024;

export async function readDefinitionsArtifact(
  artifacts: ArtifactReader,
  name: string,
  signal: AbortSignal,
): Promise<Definitions> {
  const stream = await artifacts.open(name, { signal });
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BYTES) throw new OperationError(`artifact ${name} is larger than ${MAX_BYTES} bytes`);
    parts.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(parts).toString("utf8"));
  } catch (error) {
    throw new OperationError(`artifact ${name} is not valid JSON: ${(error as Error).message}`);
  }
  return parseDefinitions(value, `artifact ${name}`);
}
