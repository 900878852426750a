/** Reads the encrypted `objects.jsonl` of a snapshot, line by line. */
import { createInterface } from "node:readline";
import { IntegrityError } from "../../errors.js";
import type { ArtifactReader } from "../engine.js";
import { parseObjectLine, type ObjectEntry } from "./objects.js";

export async function readObjectEntries(
  artifacts: ArtifactReader,
  name: string,
  signal: AbortSignal,
): Promise<ObjectEntry[]> {
  const stream = await artifacts.open(name, { signal });
  const entries: ObjectEntry[] = [];
  let lineNumber = 0;
  try {
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
      lineNumber += 1;
      if (line !== "") entries.push(parseObjectLine(line, lineNumber));
    }
  } catch (error) {
    if (error instanceof IntegrityError) throw error;
    throw new IntegrityError(
      `cannot read ${name} of the snapshot: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
  return entries;
}
