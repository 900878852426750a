/**
 * Where drill and restore read the WAL archive from. The runners hold the repository and the
 * identities and should pass `walSource` in the context (`walSourceFor(repository, job, ids)`);
 * until they do, the engine opens the job's repository from the configuration itself and takes
 * the identity from $BACKDRILL_IDENTITY_FILE, with a clear error when that is not possible.
 */
import { jobByName, openConfig, policyOf } from "../../app/config.js";
import { openRepository } from "../../repository/open.js";
import { readIdentityFile } from "../../crypto/keys.js";
import type { Scope } from "../../lifecycle/scope.js";
import { UsageError } from "../../errors.js";
import type { Repository } from "../../repository/repository.js";
import type { WalSource, WithWalSource } from "./types.js";
import { WalArchive } from "./wal-archive.js";

export function walSourceFor(repository: Repository, job: string, identities: readonly string[]): WalSource {
  const archive = new WalArchive(repository, job);
  return {
    list: () => archive.list(),
    fetch: (name, dest, options = {}) => archive.fetch(name, dest, identities, options),
  };
}

export async function requireWalSource(
  context: WithWalSource & { env: NodeJS.ProcessEnv; configDir: string; scope: Scope },
  job: string,
): Promise<WalSource> {
  if (context.walSource !== undefined) return context.walSource;
  const identityFile = context.env.BACKDRILL_IDENTITY_FILE;
  if (identityFile === undefined || identityFile === "") {
    throw new UsageError(`job ${job}: reading the WAL archive needs the age identity`, {
      hint: "set BACKDRILL_IDENTITY_FILE to the identity file that opens the policy's recipients",
    });
  }
  const identities = await readIdentityFile(identityFile);
  const config = await openConfig(context.configDir, context.env);
  const repository = await openRepository(policyOf(config, jobByName(config, job)), context.env);
  context.scope.defer(`repository ${repository.location} (WAL archive)`, () => repository.backend.close());
  return walSourceFor(repository, job, identities);
}
