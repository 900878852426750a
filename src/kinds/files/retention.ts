/**
 * Retention of a `files` destination: whole snapshot directories go, never parts of one, and
 * never the newest complete snapshot (the next backup hard-links against it, and it may be the
 * only good copy). Which snapshots to keep is the policy's decision (made on the repository's
 * snapshots by `prune`); this module maps it onto directories.
 *
 *   const plan = planDirectoryRetention(listing.complete, keep);   // pure
 *   await pruneFilesDestination(job, keep, { dryRun, signal });     // lists, then removes
 */
import type { FilesJob } from "./job-schema.js";
import type { SideRetention, SideRetentionResult } from "../contract.js";
import { locateDestination } from "./destination.js";
import { cacheFile, classifyDestination, joinRemote } from "./snapshot-dirs.js";

export interface DirectoryRetention {
  keep: string[];
  remove: string[];
}

/** `complete`: snapshot directory names; `keep`: names the policy keeps. The newest always stays. */
export function planDirectoryRetention(
  complete: readonly string[],
  keep: ReadonlySet<string>,
): DirectoryRetention {
  const sorted = [...complete].sort();
  const newest = sorted.at(-1);
  const result: DirectoryRetention = { keep: [], remove: [] };
  for (const name of sorted) (keep.has(name) || name === newest ? result.keep : result.remove).push(name);
  return result;
}

export async function pruneFilesDestination(
  job: FilesJob,
  keep: ReadonlySet<string>,
  options: { dryRun: boolean; signal: AbortSignal },
): Promise<DirectoryRetention> {
  const { place, root } = locateDestination(job);
  const listing = classifyDestination((await place.list(root, options.signal)) ?? []);
  const plan = planDirectoryRetention(listing.complete, keep);
  if (options.dryRun) return plan;
  for (const name of plan.remove) {
    // Cache first: a cache without its directory would be harmless, a directory without its
    // cache only costs the next run some hashing.
    await place.removeTree(cacheFile(root, name), options.signal);
    await place.removeTree(joinRemote(root, name), options.signal);
  }
  return plan;
}

/** The destination's snapshot directories follow the repository's retention decision. */
export async function pruneFilesSide({
  job,
  kept,
  dryRun,
  signal,
}: Parameters<SideRetention<FilesJob>["prune"]>[0]): Promise<SideRetentionResult> {
  // A directory is named by its snapshot id; the newest directory always stays.
  const report = await pruneFilesDestination(job, new Set(kept.map((snapshot) => snapshot.id)), {
    dryRun,
    signal,
  });
  return {
    report,
    summary: report.remove.map(
      (name) => `${(dryRun ? "remove" : "removed").padEnd(7)} ${name}  snapshot directory at the destination`,
    ),
  };
}
