import { loadConfig } from "../config/load.js";
import type { Config, LoadedJob, LoadedPolicy } from "../config/types.js";
import { UsageError } from "../errors.js";
import { didYouMean } from "../schema/suggest.js";

export async function openConfig(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  return loadConfig({ dir, env });
}

/** The named jobs (or all with `all`), with a did-you-mean for unknown names. Exit 2 on mistakes. */
export function selectJobs(config: Config, names: readonly string[], all: boolean): LoadedJob[] {
  if (all && names.length > 0) throw new UsageError("give job names or --all, not both");
  if (all) return [...config.jobs.values()];
  if (names.length === 0) throw new UsageError("name at least one job, or pass --all");
  return names.map((name) => jobByName(config, name));
}

export function jobByName(config: Config, name: string): LoadedJob {
  const job = config.jobs.get(name);
  if (job === undefined) {
    const known = [...config.jobs.keys()];
    throw new UsageError(
      `unknown job "${name}"${didYouMean(name, known)} (configured jobs: ${known.join(", ") || "none"})`,
    );
  }
  return job;
}

export function policyOf(config: Config, job: LoadedJob): LoadedPolicy {
  const policy = config.policies.get(job.job.policy);
  // The loader already checked cross references; this guards library callers that built a Config.
  if (policy === undefined) throw new UsageError(`${job.file}: policy: unknown policy "${job.job.policy}"`);
  return policy;
}
