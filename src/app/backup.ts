import { runJobBackup, type BackupResult } from "../backup/run-backup.js";
import { readRecipients } from "../config/secrets.js";
import type { Config } from "../config/types.js";
import { engineFor } from "../engines/registry.js";
import type { Logger } from "../log/logger.js";
import { policyOf, selectJobs } from "./config.js";
import { openRepository, prepareRepositoryBucket } from "./open-repository.js";

export interface BackupOptions {
  jobs: string[];
  all: boolean;
  log: Logger;
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs the selected jobs one after the other. A failing job does not stop the others (`--all`
 * at 2 a.m. should still back up RabbitMQ when the database is down); each gets its own result.
 */
export async function runBackups(config: Config, options: BackupOptions): Promise<BackupResult[]> {
  const env = options.env ?? process.env;
  const selected = selectJobs(config, options.jobs, options.all);
  const results: BackupResult[] = [];
  const prepared = new Set<string>();
  for (const loaded of selected) {
    if (options.signal.aborted) {
      results.push({ job: loaded.job.name, ok: false, snapshot: null, error: "not started: interrupted", durationMs: 0, bytes: 0 });
      continue;
    }
    try {
      const policy = policyOf(config, loaded);
      const engine = await engineFor(loaded.job.kind);
      const recipients = await readRecipients(policy);
      if (!prepared.has(policy.policy.name)) {
        const setup = await prepareRepositoryBucket(policy, env);
        for (const item of setup?.items ?? []) {
          if (item.status !== "ok") options.log.info({ policy: policy.policy.name, ...item }, "repository bucket setting");
        }
        prepared.add(policy.policy.name);
      }
      const repository = await openRepository(policy, env);
      try {
        const { result } = await runJobBackup(
          { job: loaded.job, engine, repository, recipients },
          { log: options.log, signal: options.signal, env, configDir: config.dir },
        );
        results.push(result);
      } finally {
        await repository.backend.close();
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      options.log.error({ job: loaded.job.name, error: message }, "backup could not start");
      results.push({ job: loaded.job.name, ok: false, snapshot: null, error: message, durationMs: 0, bytes: 0 });
    }
  }
  return results;
}
