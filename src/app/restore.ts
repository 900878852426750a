/**
 * `backdrill restore`: the job from the config, the identity, its policy's repository, then the
 * restore itself (runner/restore.ts): snapshot, facts, the kind's plan, and unless --dry-run
 * that same plan applied. Kind usage mistakes are reported before the identity is read or the
 * repository is touched.
 */
import type { Config } from "../config/types.js";
import type { RestoreFlagValues } from "../kinds/contract.js";
import { kindOf } from "../kinds/registry.js";
import type { Logger } from "../log/logger.js";
import { openRepository } from "../repository/open.js";
import { restoreOptions, restoreSnapshot, type RestoreOutcome } from "../runner/restore.js";
import { jobByName, policyOf } from "./config.js";
import { requireIdentities } from "./identity.js";

export type { PrintedPlan, RestoreOutcome } from "../runner/restore.js";

export interface RestoreCommandOptions {
  job: string;
  to: string;
  snapshot: string;
  identityFile: string | undefined;
  dryRun: boolean;
  force: boolean;
  /**
   * Accept a snapshot without a signature although the policy configures signing (snapshots
   * written before signing was set up). A bad signature is refused all the same.
   */
  allowUnsigned?: boolean;
  /** The kind's own flags, as given (`Kind.restore.flags`); checked by the kind. */
  flags: RestoreFlagValues;
  log: Logger;
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

export async function restore(config: Config, options: RestoreCommandOptions): Promise<RestoreOutcome> {
  const env = options.env ?? process.env;
  const loaded = jobByName(config, options.job);
  const kind = kindOf(loaded.job.kind);
  const input = { job: loaded.job, jobFile: loaded.file, kind, to: options.to, flags: options.flags };
  restoreOptions(input, env);
  const { file: identityFile, identities } = await requireIdentities(
    options.identityFile,
    env,
    "restore",
    "or set BACKDRILL_IDENTITY_FILE; the identity is kept off the backup host, fetch it from where it is held",
  );
  const repository = await openRepository(policyOf(config, loaded), env, {
    allowUnsigned: options.allowUnsigned === true,
  });
  try {
    await repository.assertInitialized();
    return await restoreSnapshot(
      {
        ...input,
        repository,
        snapshot: options.snapshot,
        identities,
        identityFile,
        force: options.force,
        dryRun: options.dryRun,
      },
      { log: options.log, signal: options.signal, env, configDir: config.dir },
    );
  } finally {
    await repository.backend.close();
  }
}
