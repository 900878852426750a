import type { Config, LoadedPolicy } from "../config/types.js";
import type { SnapshotManifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";
import { jobByName, policyOf } from "./config.js";
import { openRepository } from "../repository/open.js";

/**
 * The repositories a command must look at: the one of the named job's policy, or every policy's
 * (deduplicated: several policies may share one repository; `policyNames` lists them all).
 */
export async function repositoriesFor(
  config: Config,
  job: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<Array<{ policy: LoadedPolicy; repository: Repository; policyNames: string[] }>> {
  const policies =
    job === undefined ? [...config.policies.values()] : [policyOf(config, jobByName(config, job))];
  const seen = new Map<string, { policy: LoadedPolicy; repository: Repository; policyNames: string[] }>();
  for (const policy of policies) {
    const repository = await openRepository(policy, env);
    const existing = seen.get(repository.location);
    if (existing !== undefined) {
      existing.policyNames.push(policy.policy.name);
      await repository.backend.close();
      continue;
    }
    seen.set(repository.location, { policy, repository, policyNames: [policy.policy.name] });
  }
  return [...seen.values()];
}

export async function closeAll(repositories: Array<{ repository: Repository }>): Promise<void> {
  await Promise.all(repositories.map(({ repository }) => repository.backend.close()));
}

export interface SnapshotListing {
  snapshots: SnapshotManifest[];
  /** Manifests that could not be read, as `repository: key: problem`. */
  damaged: string[];
  /**
   * Manifests refused (never listed as snapshots, never acted on), one line each naming the
   * snapshot; `unsigned` says it only lacks a signature (written before signing was set up?).
   */
  refused: Array<{ problem: string; unsigned: boolean }>;
  /** Every repository looked at (its location), initialised or not. */
  repositories: string[];
}

/** Committed snapshots of one job or of all, oldest first. */
export async function listSnapshots(
  config: Config,
  options: { job?: string; env?: NodeJS.ProcessEnv },
): Promise<SnapshotListing> {
  const env = options.env ?? process.env;
  const repositories = await repositoriesFor(config, options.job, env);
  try {
    const snapshots: SnapshotManifest[] = [];
    const damaged: string[] = [];
    const refused: SnapshotListing["refused"] = [];
    for (const { repository } of repositories) {
      if (!(await repository.isInitialized())) continue;
      const listing = await repository.listSnapshots(options.job);
      snapshots.push(...listing.snapshots);
      damaged.push(
        ...listing.damaged.map((entry) => `${repository.location}: ${entry.key}: ${entry.problem}`),
      );
      refused.push(
        ...listing.refused.map((entry) => ({
          problem: `${repository.location}: ${entry.problem}`,
          unsigned: entry.reason === "unsigned",
        })),
      );
    }
    snapshots.sort((a, b) => a.id.localeCompare(b.id) || a.job.localeCompare(b.job));
    return {
      snapshots,
      damaged,
      refused,
      repositories: repositories.map(({ repository }) => repository.location),
    };
  } finally {
    await closeAll(repositories);
  }
}
