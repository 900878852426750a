/**
 * Temporary directories for the directory format. pg_dump -Fd and pg_restore -j need a real
 * directory, so a directory-format dump exists as plaintext on local disk for as long as it takes
 * to dump and pack it (backup) or unpack and restore it (drill, restore). We keep that window
 * small and the exposure low: the directory is created with mode 0700 under the system temp dir
 * (TMPDIR), owned by the operation's scope, and removed as soon as the step is done, or at the
 * latest when the scope closes (success, failure or Ctrl-C); a SIGKILLed run's directory is swept
 * by the next one (see private-temp-dir.ts). The custom format never touches disk.
 */
import { makePrivateTempDir, type PrivateTempDir } from "../../fs/private-temp-dir.js";
import type { Scope } from "../../lifecycle/scope.js";

export type WorkDir = PrivateTempDir;

export function makeWorkDir(scope: Scope, purpose: string): Promise<WorkDir> {
  return makePrivateTempDir(scope, "backdrill-pg-", `temporary directory for ${purpose}`);
}
