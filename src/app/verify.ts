import { readIdentityFile } from "../crypto/keys.js";
import type { Config } from "../config/types.js";
import { verifyRepository, type VerifyReport } from "../repository/verify.js";
import type { Logger } from "../log/logger.js";
import { closeAll, repositoriesFor } from "./snapshots.js";

export interface VerifyCommandOptions {
  job?: string;
  /** With an identity file: decrypt every artifact too. */
  identityFile?: string;
  /** Put deleted manifests back from their copies (after checking the copies' artifacts). */
  repair?: boolean;
  log: Logger;
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

export interface RepositoryVerification extends VerifyReport {
  repository: string;
}

export async function verify(
  config: Config,
  options: VerifyCommandOptions,
): Promise<RepositoryVerification[]> {
  const env = options.env ?? process.env;
  const identities =
    options.identityFile === undefined ? undefined : await readIdentityFile(options.identityFile);
  const repositories = await repositoriesFor(config, options.job, env);
  try {
    const reports: RepositoryVerification[] = [];
    for (const { repository } of repositories) {
      if (!(await repository.isInitialized())) {
        options.log.warn({ repository: repository.location }, "no repository here yet (no backup has run)");
        continue;
      }
      const report = await verifyRepository(repository, {
        ...(options.job === undefined ? {} : { job: options.job }),
        ...(identities === undefined ? {} : { identities }),
        ...(options.repair === true ? { repair: true } : {}),
        signal: options.signal,
        onSnapshot: (manifest) =>
          options.log.debug({ job: manifest.job, snapshot: manifest.id }, "verifying"),
      });
      for (const entry of report.repaired) {
        options.log.warn(
          { job: entry.job, snapshot: entry.snapshot, repository: repository.location },
          "manifest restored from its copy",
        );
      }
      reports.push({ repository: repository.location, ...report });
    }
    return reports;
  } finally {
    await closeAll(repositories);
  }
}
