import { errorLine, runJobBackup, type BackupResult } from "../runner/backup.js";
import { readRecipients } from "../secrets/resolve.js";
import type { Config } from "../config/types.js";
import { kindOf } from "../kinds/registry.js";
import { ExitCode, exitCodeOf, LockHeldError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { redact } from "../log/redact.js";
import { withJobLock } from "../repository/locks.js";
import { backupFinished, runStarting } from "../ops/run-hooks.js";
import { abortDeadBackupUploads } from "../repository/upload-cleanup.js";
import { policyOf, selectJobs } from "./config.js";
import { openRepository, prepareRepositoryBucket } from "../repository/open.js";

/** A job's result; `locked` when another run held the job's lock (nothing was attempted). */
export interface JobBackupResult extends BackupResult {
  locked?: boolean;
}

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
export async function runBackups(config: Config, options: BackupOptions): Promise<JobBackupResult[]> {
  const env = options.env ?? process.env;
  const selected = selectJobs(config, options.jobs, options.all);
  const results: JobBackupResult[] = [];
  const prepared = new Set<string>();
  for (const loaded of selected) {
    if (options.signal.aborted) {
      results.push({
        job: loaded.job.name,
        ok: false,
        snapshot: null,
        error: "not started: interrupted",
        durationMs: 0,
        bytes: 0,
      });
      continue;
    }
    const hooks = {
      log: options.log,
      env,
      metricsFile: config.policies.get(loaded.job.policy)?.policy.metricsFile,
    };
    try {
      const policy = policyOf(config, loaded);
      const kind = kindOf(loaded.job.kind);
      const recipients = await readRecipients(policy);
      if (!prepared.has(policy.policy.name)) {
        const setup = await prepareRepositoryBucket(policy, env);
        for (const item of setup?.items ?? []) {
          if (item.status !== "ok")
            options.log.info({ policy: policy.policy.name, ...item }, "repository bucket setting");
        }
        prepared.add(policy.policy.name);
      }
      // With `sign`: what this run writes is signed with the policy's signing key.
      const repository = await openRepository(policy, env, { sign: true });
      try {
        // The job's lock in the repository: no second run of this job, on any host, meanwhile.
        const result = await withJobLock(
          repository,
          loaded.job.name,
          async (lock, signal) => {
            await runStarting(loaded.job.name, hooks);
            // With the lock held, incomplete uploads under data/<job>/ are a dead run's (S3).
            await abortDeadBackupUploads(repository.backend, loaded.job.name, { log: options.log, signal });
            const { result: run } = await runJobBackup(
              {
                job: loaded.job,
                jobFile: loaded.file,
                kind,
                repository,
                recipients,
                confirmCommit: () => lock.confirm(),
              },
              { log: options.log, signal, env, configDir: config.dir },
            );
            return run;
          },
          { signal: options.signal, log: options.log, purpose: "backup" },
        );
        await backupFinished(result, hooks);
        results.push(result);
      } finally {
        await repository.backend.close();
      }
    } catch (error) {
      const message = redact(errorLine(error));
      const locked = error instanceof LockHeldError;
      options.log.error(
        { job: loaded.job.name, error: message },
        locked ? "backup skipped: another run holds the job's lock" : "backup could not start",
      );
      const result: JobBackupResult = {
        job: loaded.job.name,
        ok: false,
        snapshot: null,
        error: message,
        durationMs: 0,
        bytes: 0,
        ...(locked ? { locked } : {}),
        ...(!locked && exitCodeOf(error) === ExitCode.usage ? { usage: true as const } : {}),
      };
      // A locked job is the other run's business: its own pings and metrics report it.
      if (!locked) await backupFinished(result, hooks);
      results.push(result);
    }
  }
  return results;
}

/**
 * The exit code for a set of backup results: 0 all committed; 1 any failed; 2 when every failure
 * was bad usage or configuration (a missing secret or tool: nothing to retry until it is fixed);
 * else 3 when the only problem is that another run held a job's lock.
 */
export function backupExitCode(results: readonly JobBackupResult[]): 0 | 1 | 2 | 3 {
  const failed = results.filter((result) => !result.ok && result.locked !== true);
  if (failed.length > 0) return failed.every((result) => result.usage === true) ? 2 : 1;
  if (results.some((result) => result.locked === true)) return 3;
  return 0;
}
