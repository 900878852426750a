/**
 * Layout of a `files` destination:
 *
 *   <destination>/<id>/                 a complete snapshot (renamed into place as the last step)
 *   <destination>/<id>.partial/         a snapshot being written, or left by an interrupted run
 *   <destination>/.backdrill/<id>.json  the hash cache of snapshot <id> (see hash-cache.ts)
 *
 * Only names of exactly these shapes are ever renamed or removed, so a destination shared with
 * other files is safe. `<id>` has the repository's snapshot id format, so names sort by time.
 */
import { UsageError } from "../../errors.js";
import { isSnapshotId, newSnapshotId } from "../../repository/snapshot-id.js";

export const PARTIAL_SUFFIX = ".partial";
export const STATE_DIR = ".backdrill";

export interface DestinationListing {
  /** Complete snapshot names, oldest first. */
  complete: string[];
  /** Leftover `.partial` names (with the suffix), oldest first. */
  partial: string[];
}

export function classifyDestination(names: readonly string[]): DestinationListing {
  const complete = names.filter((name) => isSnapshotId(name)).sort();
  const partial = names
    .filter((name) => name.endsWith(PARTIAL_SUFFIX) && isSnapshotId(name.slice(0, -PARTIAL_SUFFIX.length)))
    .sort();
  return { complete, partial };
}

/**
 * The snapshot directory's name: the runner's snapshot id when the writer exposes it (the
 * repository's SnapshotWriter does), so the directory and the repository snapshot share one
 * name; otherwise a fresh id of the same shape.
 */
export function snapshotDirName(writer: unknown, now: Date = new Date()): string {
  const id = (writer as { id?: unknown } | null)?.id;
  return typeof id === "string" && isSnapshotId(id) ? id : newSnapshotId(now);
}

export function joinRemote(root: string, name: string): string {
  return `${root.replace(/\/+$/, "")}/${name}`;
}

export function assertSnapshotDirName(name: string, what: string): void {
  if (!isSnapshotId(name)) throw new UsageError(`${what}: "${name}" is not a snapshot directory name`);
}

export function cacheFile(root: string, name: string): string {
  return joinRemote(joinRemote(root, STATE_DIR), `${name}.json`);
}
