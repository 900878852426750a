/**
 * Reading a snapshot artifact back inside an engine, the two ways engines need: as parsed lines
 * (JSONL manifests of files or objects, streamed, any size) or whole into memory (definitions,
 * escrow bundles), bounded so a damaged or hostile artifact cannot exhaust memory.
 */
import { createInterface } from "node:readline";
import { IntegrityError, OperationError } from "../errors.js";
import type { ArtifactReader } from "./contract.js";

/** Parses every non-empty line of a JSONL artifact; damage surfaces as an IntegrityError. */
export async function readArtifactLines<T>(
  artifacts: ArtifactReader,
  name: string,
  signal: AbortSignal,
  parseLine: (line: string, lineNumber: number) => T,
): Promise<T[]> {
  const stream = await artifacts.open(name, { signal });
  const entries: T[] = [];
  let lineNumber = 0;
  try {
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
      lineNumber += 1;
      if (line !== "") entries.push(parseLine(line, lineNumber));
    }
  } catch (error) {
    if (error instanceof IntegrityError) throw error;
    throw new IntegrityError(
      `cannot read ${name} of the snapshot: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  return entries;
}

/** The whole artifact in memory; refuses more than `maxBytes`. */
export async function readArtifactBuffer(
  artifacts: ArtifactReader,
  name: string,
  signal: AbortSignal,
  maxBytes: number,
): Promise<Buffer> {
  const stream = await artifacts.open(name, { signal });
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      stream.destroy();
      throw new OperationError(`artifact ${name} is larger than ${maxBytes} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
