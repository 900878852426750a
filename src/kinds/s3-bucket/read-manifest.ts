/** Reads the encrypted `objects.jsonl` of a snapshot, line by line. */
import { readArtifactLines } from "../artifact-read.js";
import type { ArtifactReader } from "../contract.js";
import { OBJECTS_ARTIFACT, parseObjectLine, type ObjectEntry } from "./objects.js";

export async function readObjectEntries(
  artifacts: ArtifactReader,
  name: string,
  signal: AbortSignal,
): Promise<ObjectEntry[]> {
  return readArtifactLines(artifacts, name, signal, parseObjectLine);
}

/** The per-object artifacts the entries name, for requireArtifacts (before anything is uploaded). */
export function objectArtifacts(entries: readonly ObjectEntry[]): Array<{ name: string; field: string }> {
  return entries.flatMap((entry, index) =>
    entry.artifact === undefined
      ? []
      : [{ name: entry.artifact, field: `${OBJECTS_ARTIFACT} line ${index + 1}` }],
  );
}
