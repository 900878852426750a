/** Reads the encrypted `objects.jsonl` of a snapshot, line by line. */
import { readArtifactLines } from "../artifact-read.js";
import type { ArtifactReader } from "../contract.js";
import { parseObjectLine, type ObjectEntry } from "./objects.js";

export async function readObjectEntries(
  artifacts: ArtifactReader,
  name: string,
  signal: AbortSignal,
): Promise<ObjectEntry[]> {
  return readArtifactLines(artifacts, name, signal, parseObjectLine);
}
