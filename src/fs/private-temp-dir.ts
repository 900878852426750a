/**
 * Private temporary directories (0700 under TMPDIR) that may briefly hold plaintext: a
 * directory-format dump, decrypted WAL for a drill, a staged file tree. Their owner (a Scope)
 * removes them on success, failure and Ctrl-C — but a SIGKILLed or OOM-killed process runs no
 * cleanup, and plaintext would then stay on disk indefinitely.
 *
 * So the name carries the creating pid (`<prefix><pid>-XXXXXX`), and every new directory first
 * sweeps directories of the same prefix whose pid is no longer alive on this host and that belong
 * to this user. A pid reused by an unrelated live process only delays the sweep (never removes a
 * live run's directory).
 */
import { lstat, mkdtemp, readdir, rm, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { isPidAlive } from "../lifecycle/pid.js";
import type { Scope } from "../lifecycle/scope.js";

/** Directories of `prefix` in `parent` left by processes that no longer exist; removed. */
export async function sweepDeadTempDirs(prefix: string, parent = tmpdir()): Promise<string[]> {
  const pattern = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(\\d+)-`);
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.[1] ?? Number.NaN);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || isPidAlive(pid)) continue;
    const dir = path.join(parent, name);
    try {
      const info = await lstat(dir);
      if (!info.isDirectory() || (process.getuid !== undefined && info.uid !== process.getuid())) continue;
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // Gone meanwhile, or not ours to remove: the next sweep tries again.
    }
  }
  return removed;
}

export interface PrivateTempDir {
  path: string;
  /** Removes the directory now (and forgets it in the scope). */
  remove(): Promise<void>;
}

/** A 0700 temp dir owned by `scope` (removed when it closes); sweeps dead runs' dirs first. */
export async function makePrivateTempDir(
  scope: Scope,
  prefix: string,
  what: string,
): Promise<PrivateTempDir> {
  await sweepDeadTempDirs(prefix);
  const dir = await mkdtemp(path.join(tmpdir(), `${prefix}${process.pid}-`));
  // mkdtemp creates 0700 already; explicit in case the platform differs.
  await chmod(dir, 0o700);
  const release = scope.defer(`${what} ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return { path: dir, remove: () => scope.release(release) };
}
