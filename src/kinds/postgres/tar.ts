/**
 * Packing a pg_dump directory-format dump into one tar stream (one artifact per database) and
 * unpacking it again. Uses the host's tar: the format is flat (toc.dat plus one file per table),
 * tar streams with flat memory, and every Linux backup host has it.
 */
import type { Readable } from "node:stream";
import { spawnStream } from "../../exec/process.js";
import { untilExit, waitWithInput } from "./streams.js";

/** A tar stream of the directory's contents; errors if tar fails. */
export function packDirectory(dir: string, signal: AbortSignal): Readable {
  const tar = spawnStream("tar", ["-C", dir, "-cf", "-", "."], {
    signal,
    description: `packing the dump directory with tar`,
  });
  return untilExit(tar.stdout, tar);
}

/** Unpacks a tar stream into `dir`, refusing absolute names and links out of it (GNU tar defaults). */
export async function unpackInto(
  dir: string,
  input: Readable,
  signal: AbortSignal,
  what: string,
): Promise<void> {
  const tar = spawnStream("tar", ["-C", dir, "-xf", "-", "--no-same-owner", "--no-same-permissions"], {
    signal,
    stdin: input,
    stdout: "ignore",
    description: `unpacking ${what} with tar`,
  });
  await waitWithInput(tar, input, what);
}
