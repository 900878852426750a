/**
 * Packing a pg_dump directory-format dump into one tar stream (one artifact per database) and
 * unpacking it again. Uses the host's tar: the format is flat (toc.dat plus one file per table),
 * tar streams with flat memory, and every Linux backup host has it.
 */
import type { Readable } from "node:stream";
import { spawnStream } from "../../exec/process.js";
import { untilExit, waitWithInput } from "./streams.js";
import { TarGuard } from "./tar-guard.js";

/** A tar stream of the directory's contents; errors if tar fails. */
export function packDirectory(dir: string, signal: AbortSignal): Readable {
  const tar = spawnStream("tar", ["-C", dir, "-cf", "-", "."], {
    signal,
    description: `packing the dump directory with tar`,
  });
  return untilExit(tar.stdout, tar);
}

/**
 * Unpacks a tar stream from a snapshot into `dir`. Every member header passes through a TarGuard
 * first (tar-guard.ts): a member that would land outside `dir`, a link out of it, or a special
 * file fails the stream before tar sees it. GNU tar's own defaults (no absolute names, no `..`,
 * links out of the tree created last) stay on as a second line.
 */
export async function unpackInto(
  dir: string,
  input: Readable,
  signal: AbortSignal,
  what: string,
  links: { symlinks: boolean; hardLinks: boolean } = { symlinks: false, hardLinks: false },
): Promise<void> {
  const guard = new TarGuard({ what, allowSymlinks: links.symlinks, allowHardLinks: links.hardLinks });
  input.once("error", (error) => guard.destroy(error));
  const guarded = input.pipe(guard);
  const tar = spawnStream("tar", ["-C", dir, "-xf", "-", "--no-same-owner", "--no-same-permissions"], {
    signal,
    stdin: guarded,
    stdout: "ignore",
    description: `unpacking ${what} with tar`,
  });
  await waitWithInput(tar, guarded, what);
}
