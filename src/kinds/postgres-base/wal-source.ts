/**
 * Where drill and restore read the WAL archive from: the snapshot's repository, decrypted with the
 * identities that opened the snapshot (both handed to the kind in its context).
 */
import type { Repository } from "../../repository/repository.js";
import type { WalSource } from "./types.js";
import { WalArchive } from "./wal-archive.js";

export function walSourceFor(repository: Repository, job: string, identities: readonly string[]): WalSource {
  const archive = new WalArchive(repository, job);
  return {
    list: () => archive.list(),
    fetch: (name, dest, options = {}) => archive.fetch(name, dest, identities, options),
  };
}
