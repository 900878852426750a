import { readIdentityFile } from "../crypto/keys.js";
import type { Config } from "../config/types.js";
import { verifyRepository, type VerifyReport } from "../repository/verify.js";
import type { Logger } from "../log/logger.js";
import { closeAll, repositoriesFor } from "./snapshots.js";
import { kindOf } from "../kinds/registry.js";

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

/** A job's continuous archive (postgres-base's WAL archive), checked beside its snapshots. */
export interface ArchiveVerificationReport {
  job: string;
  label: string;
  checked: number;
  summary: string;
  /** Damage: missing ranges, records that do not match or are not trusted, files that do not decrypt. */
  problems: string[];
}

export interface RepositoryVerification extends VerifyReport {
  repository: string;
  archives: ArchiveVerificationReport[];
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
    for (const { repository, policyNames } of repositories) {
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
      const archives: ArchiveVerificationReport[] = [];
      for (const loaded of config.jobs.values()) {
        const archive = kindOf(loaded.job.kind).archive;
        if (archive === null || (options.job !== undefined && loaded.job.name !== options.job)) continue;
        if (!policyNames.includes(loaded.job.policy)) continue;
        options.log.debug({ job: loaded.job.name }, `verifying the ${archive.label}`);
        const checked = await archive.verify({
          job: loaded.job,
          repository,
          snapshots: await repository.snapshots(loaded.job.name),
          identities,
          signal: options.signal,
        });
        archives.push({ job: loaded.job.name, label: archive.label, ...checked });
      }
      reports.push({ repository: repository.location, ...report, archives });
    }
    return reports;
  } finally {
    await closeAll(repositories);
  }
}
