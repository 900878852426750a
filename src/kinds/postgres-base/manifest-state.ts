/**
 * The backup_manifest of a job's newest base backups, kept on the backup host in the job's
 * `incremental.stateDir` for the next `pg_basebackup --incremental`. Kept here, not read back from
 * the repository: the backup host only holds the policy's public recipients and cannot decrypt
 * what it stored, and should not be able to. The copy is checked against the SHA-256 the parent's
 * (trusted, signed) manifest recorded before pg_basebackup sees it.
 *
 * Layout: `<stateDir>/<job>/<snapshot id>.backup_manifest`, files 0600, directories 0700.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { ensurePrivateDir, writePrivateFile } from "../../fs/private-files.js";
import { isSnapshotId } from "../../repository/snapshot-id.js";

const SUFFIX = ".backup_manifest";

export function manifestSha256(text: Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}

export function jobStateDir(stateDir: string, job: string): string {
  return path.join(stateDir, job);
}

/** The parent's manifest file when present and matching `sha256`; else why not (for the log). */
export async function parentManifestFile(
  stateDir: string,
  job: string,
  parent: string,
  sha256: string,
): Promise<{ file: string } | { missing: string }> {
  const file = path.join(jobStateDir(stateDir, job), `${parent}${SUFFIX}`);
  let text: Buffer;
  try {
    text = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT")
      return { missing: `${file} is missing (a new backup host, or the state directory was lost)` };
    throw error;
  }
  if (manifestSha256(text) !== sha256)
    return { missing: `${file} does not match the checksum snapshot ${parent} recorded` };
  return { file };
}

/** Stores the new backup's manifest and removes those of snapshots no longer in `keep`. */
export async function storeManifest(
  stateDir: string,
  job: string,
  snapshot: string,
  text: Buffer,
  keep: ReadonlySet<string>,
): Promise<void> {
  const dir = jobStateDir(stateDir, job);
  await ensurePrivateDir(dir);
  await writePrivateFile(path.join(dir, `${snapshot}${SUFFIX}`), text);
  for (const name of await readdir(dir)) {
    const id = name.endsWith(SUFFIX) ? name.slice(0, -SUFFIX.length) : "";
    if (isSnapshotId(id) && id !== snapshot && !keep.has(id)) await rm(path.join(dir, name), { force: true });
  }
}

/** Snapshot ids whose backup_manifest the state directory holds, oldest first (ids sort by time). */
export async function keptManifests(stateDir: string, job: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(jobStateDir(stateDir, job));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return names
    .map((name) => (name.endsWith(SUFFIX) ? name.slice(0, -SUFFIX.length) : ""))
    .filter(isSnapshotId)
    .sort();
}

/** After pg_basebackup refused the parent: forget it, so the next backup is full. */
export async function forgetManifest(stateDir: string, job: string, parent: string): Promise<void> {
  await rm(path.join(jobStateDir(stateDir, job), `${parent}${SUFFIX}`), { force: true });
}
