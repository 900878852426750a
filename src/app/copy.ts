/**
 * `backdrill copy <job> [--to N]`: copies the job's snapshots, WAL archive and drill history into
 * its policy's copies (`copies:`, each shaped like `repository`), every copy or only copy N.
 * The copying itself (commit protocol, resume, hash checks, trust) is repository/copy.ts; this
 * use case opens the repositories (the copy with the same trust as the source: a signed manifest
 * copied as is must verify there too), prepares an S3 copy's bucket like a backup does, holds the
 * job's lock in the copy while copying (exit 3 when another copy, or a prune of the copy, holds
 * it), and releases everything it opened.
 */
import type { Config, LoadedPolicy } from "../config/types.js";
import { UsageError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { copyJob, type CopyEvent, type CopyJobResult } from "../repository/copy.js";
import { withJobLock } from "../repository/locks.js";
import { copyPolicy, openRepository, prepareRepositoryBucket } from "../repository/open.js";
import type { Repository } from "../repository/repository.js";
import { jobByName, policyOf } from "./config.js";

export interface CopyOptions {
  job: string;
  /** Only copy N (1-based); default every copy of the job's policy. */
  to?: number;
  log: Logger;
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** Called after each object stored in a copy (progress; tests count writes with it). */
  onStored?: (copy: number, event: CopyEvent) => void;
}

export interface CopyTargetResult extends CopyJobResult {
  copy: number;
  location: string;
}

export interface CopyReport {
  job: string;
  source: string;
  copies: CopyTargetResult[];
  /** Nothing refused (unsigned snapshots from before signing are only warnings), no problem. */
  ok: boolean;
}

export async function copyToCopies(config: Config, options: CopyOptions): Promise<CopyReport> {
  const env = options.env ?? process.env;
  const loaded = jobByName(config, options.job);
  const policy = policyOf(config, loaded);
  const count = policy.policy.copies?.length ?? 0;
  if (count === 0) {
    throw new UsageError(`${policy.file}: policy ${policy.policy.name} of job ${options.job} has no copies`, {
      hint: "list the second repository under copies: in the policy (same fields as repository)",
    });
  }
  if (options.to !== undefined && (!Number.isInteger(options.to) || options.to < 1 || options.to > count)) {
    throw new UsageError(
      `--to ${options.to}: policy ${policy.policy.name} has ${count === 1 ? "copy 1 only" : `copies 1 to ${count}`}`,
    );
  }
  const numbers =
    options.to === undefined ? Array.from({ length: count }, (_, index) => index + 1) : [options.to];
  const source = await openRepository(policy, env);
  try {
    await source.assertInitialized();
    const results: CopyTargetResult[] = [];
    for (const n of numbers) {
      const view = copyPolicy(policy, n);
      await prepareRepositoryBucket(view, env);
      let target: Repository | undefined;
      try {
        target = await openRepository(view, env);
        const log = options.log.child({ job: options.job, copy: n, location: target.location });
        log.info("copy starting");
        await target.init();
        const into = target;
        // The job's lock in the copy: no second copy (nor a prune of the copy) meanwhile.
        const result = await withJobLock(
          into,
          options.job,
          (lock, signal) =>
            copyJob(source, into, options.job, {
              signal,
              onStored: (event) => options.onStored?.(n, event),
              confirmCommit: () => lock.confirm(),
            }),
          { signal: options.signal, log: options.log, purpose: "copy" },
        );
        for (const line of [...result.unsigned, ...result.refused, ...result.problems]) log.warn(line);
        log.info(
          {
            snapshots: result.snapshots.copied.length,
            present: result.snapshots.present.length,
            artifacts: result.artifacts.copied,
            kept: result.artifacts.kept,
            bytes: result.artifacts.bytes,
          },
          "copy finished",
        );
        results.push({ copy: n, location: target.location, ...result });
      } finally {
        await target?.backend.close();
      }
    }
    return {
      job: options.job,
      source: source.location,
      copies: results,
      ok: results.every((result) => result.refused.length === 0 && result.problems.length === 0),
    };
  } finally {
    await source.backend.close();
  }
}

/**
 * The policy a drill target reads its snapshot through: the job's policy, or its view onto copy
 * N with `fromCopy: N` (the loader checked that the copy exists; copyPolicy names it otherwise).
 */
export function drillTargetPolicy(config: Config, job: string, fromCopy: number | undefined): LoadedPolicy {
  const policy = policyOf(config, jobByName(config, job));
  return fromCopy === undefined ? policy : copyPolicy(policy, fromCopy);
}
