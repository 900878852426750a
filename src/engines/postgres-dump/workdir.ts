/**
 * Temporary directories for the directory format. pg_dump -Fd and pg_restore -j need a real
 * directory, so a directory-format dump exists as plaintext on local disk for as long as it takes
 * to dump and pack it (backup) or unpack and restore it (drill, restore). We keep that window
 * small and the exposure low: the directory is created with mode 0700 under the system temp dir
 * (TMPDIR), owned by the operation's scope, and removed as soon as the step is done, or at the
 * latest when the scope closes (success, failure or Ctrl-C). The custom format never touches disk.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Release, Scope } from "../../lifecycle/scope.js";

export interface WorkDir {
  path: string;
  /** Removes the directory now (also forgets it in the scope). */
  remove(): Promise<void>;
}

export async function makeWorkDir(scope: Scope, purpose: string): Promise<WorkDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "backdrill-pg-"));
  // mkdtemp already creates 0700; say so explicitly in case the umask or platform differs.
  await chmod(dir, 0o700);
  const release: Release = scope.defer(`temporary directory for ${purpose}`, () =>
    rm(dir, { recursive: true, force: true }),
  );
  return { path: dir, remove: () => scope.release(release) };
}
