/**
 * The rsync invocations of the files engine. Flags, and why:
 *   -a            recursive, symlinks as symlinks, permissions, times, owner, group, devices
 *   -H            hard links inside the tree stay hard links (else restored as copies)
 *   --numeric-ids uid/gid as numbers: the backup and restore hosts need not share user names
 *   -s            arguments (paths with spaces, unicode) reach the remote side unsplit
 *   --delete --delete-excluded   only matters when resuming into a leftover .partial directory
 *   --link-dest   unchanged files become hard links to the previous complete snapshot
 *   -I --from0 --files-from=-   the second pass for files rsync would wrongly link (source-changes.ts)
 */
import { run } from "../../exec/process.js";

/** Exit 24: some source files vanished while rsync ran. Normal on a live file store. */
export const RSYNC_VANISHED = 24;

export interface RsyncResult {
  exitCode: number;
  /** "Total transferred file size" from --stats, when rsync printed it. */
  transferredBytes: number | undefined;
}

export function baseRsyncArgs(): string[] {
  return ["-aH", "--numeric-ids", "-s"];
}

/** A directory argument meaning "the contents of" (trailing slash). */
export function contentsOf(path: string): string {
  return path.endsWith("/") ? path : `${path}/`;
}

export async function runRsync(
  args: string[],
  options: { signal: AbortSignal; description: string; allowVanished?: boolean; input?: string },
): Promise<RsyncResult> {
  const result = await run("rsync", [...args, "--stats"], {
    signal: options.signal,
    ...(options.input === undefined ? {} : { input: options.input }),
    description: options.description,
    okExitCodes: options.allowVanished === true ? [0, RSYNC_VANISHED] : [0],
  });
  const match = /Total transferred file size: ([\d,.]+) bytes/.exec(result.stdout);
  const transferredBytes = match?.[1] === undefined ? undefined : Number(match[1].replace(/[,.]/g, ""));
  return { exitCode: result.exitCode, transferredBytes };
}
