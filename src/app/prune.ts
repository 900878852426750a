/**
 * Applies retention to one job in one repository: deletes the snapshots `selectRetention` removes
 * and the leftovers (artifact directories without a manifest) interrupted runs left behind.
 *
 * Safety rules:
 *   - Only trusted committed snapshots are candidates and only they are ranked
 *     (repository/manifest-trust.ts): a damaged (unparseable) or refused manifest (a bad or
 *     missing signature with signing configured, a contradicting structure, a date in the
 *     future) is never touched, never counted, and neither are the artifacts under its id. A
 *     forged manifest can therefore neither be deleted "by retention" nor push a genuine
 *     snapshot out of it (the observed attack: future-dated copies made keepLast delete the real
 *     newest). What the kind keeps beside the snapshots follows the trusted kept ones only.
 *   - The newest snapshot is always kept; if the selection ever said otherwise, nothing is deleted.
 *   - A snapshot is deleted manifest copy first, then manifest, then data
 *     (`Repository.deleteSnapshot`): an interrupted prune leaves a leftover, never a manifest
 *     pointing at missing data, and never a copy without manifest (a deleted manifest, which
 *     `leftovers()` does not list, so prune never removes such a snapshot).
 *   - Leftovers may be the artifacts of a backup running right now. Prune takes the job's lock
 *     (purpose "prune") for its duration, so no backup of the job can start meanwhile; while it
 *     holds the lock every leftover is from a dead run and goes. When a live run holds the lock,
 *     prune still applies retention to committed snapshots (a running backup only adds one), but
 *     removes only leftovers whose snapshot id time is older than the holder's start by more than
 *     `leftoverSkewSeconds` (clock skew between hosts) — they cannot belong to that run.
 *   - `dryRun` changes nothing and takes no lock; it reports what would happen.
 *   - Errors on one snapshot are recorded and the rest continue; an abort stops between deletions.
 */
import { kindOf } from "../kinds/registry.js";
import { jobByName, policyOf } from "./config.js";
import { openRepository, prepareRepositoryBucket } from "../repository/open.js";
import type { RetentionConfig } from "../schema/policy.js";
import type { Config, LoadedPolicy } from "../config/types.js";
import { LockHeldError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { parseManifestKey } from "../repository/layout.js";
import type { Repository } from "../repository/repository.js";
import { isSnapshotId, snapshotIdTime } from "../repository/snapshot-id.js";
import { abortDeadPruneUploads } from "../repository/upload-cleanup.js";
import {
  acquireJobLock,
  describeHolder,
  inspectLock,
  type JobLock,
  type LockOptions,
} from "../repository/locks.js";
import { describeRetention, selectRetention, withNeeded } from "../ops/retention.js";
import type { JobBase, SideRetention } from "../kinds/contract.js";

/** Default tolerance for clocks of different hosts when judging a leftover against a lock. */
export const DEFAULT_LEFTOVER_SKEW_SECONDS = 15 * 60;

export interface PruneSnapshotEntry {
  id: string;
  createdAt: string;
  action: "keep" | "remove";
  reasons: string[];
  /** Set after a real (non-dry) run: whether the removal happened. */
  removed?: boolean;
  error?: string;
}

export interface PruneLeftoverEntry {
  id: string;
  objects: number;
  action: "keep" | "remove";
  reason: string;
  removed?: boolean;
  error?: string;
}

export interface PruneJobReport {
  job: string;
  repository: string;
  dryRun: boolean;
  retention: string;
  /** Oldest first. */
  snapshots: PruneSnapshotEntry[];
  leftovers: PruneLeftoverEntry[];
  /** Manifests that could not be read (kept, with their data). */
  damaged: string[];
  /** Manifests refused (signature, structure, future date): kept, never counted, one line each. */
  refused?: string[];
  /** How prune related to the job's lock: took it, found it held (and by whom), or dry run. */
  lock: string;
  ok: boolean;
  /** Why the job could not be pruned at all. */
  error?: string;
  /**
   * What the job's kind keeps beside its snapshots (`Kind.retention`: the WAL archive, snapshot
   * directories), pruned after the snapshots; `prune --json` shows `report` under `key`.
   */
  side?: { key: string; report: unknown; summary: string[] };
}

export interface PruneJobOptions {
  retention: RetentionConfig;
  /** Zone for calendar buckets (the policy's timezone). */
  timezone?: string | undefined;
  dryRun: boolean;
  log: Logger;
  signal: AbortSignal;
  leftoverSkewSeconds?: number;
  lock?: Omit<LockOptions, "purpose" | "log">;
  /** The kind's `retention.keepAlso`: snapshots a kept one needs (an incremental chain's links). */
  keepAlso?: SideRetention<JobBase>["keepAlso"];
}

export async function pruneJob(
  repository: Repository,
  job: string,
  options: PruneJobOptions,
): Promise<PruneJobReport> {
  const log = options.log.child({ job, repository: repository.location });
  const { snapshots, damaged, refused } = await repository.listSnapshots(job);
  for (const entry of refused) log.warn({ snapshot: entry.id, reason: entry.reason }, entry.problem);
  const decisions = withNeeded(
    selectRetention(snapshots, options.retention, { timezone: options.timezone }),
    snapshots,
    options.keepAlso,
  );
  const newest = decisions.at(-1);
  if (newest !== undefined && !newest.keep) {
    throw new Error(
      `retention selected the newest snapshot ${newest.snapshot.id} of ${job} for removal; refusing`,
    );
  }
  const damagedIds = new Set([
    ...damaged.map((entry) => parseManifestKey(entry.key)?.id).filter((id): id is string => id !== undefined),
    ...refused.map((entry) => entry.id),
  ]);
  const leftovers = (await repository.leftovers(job)).filter((leftover) => !damagedIds.has(leftover.id));

  let lock: JobLock | undefined;
  let lockNote: string;
  let holderStart: number | undefined;
  if (options.dryRun) {
    const inspection = await inspectLock(repository, job, options.lock ?? {});
    if (inspection.state === "held") {
      lockNote = `dry run; held by ${describeHolder(inspection.lock)}`;
      holderStart = Date.parse(inspection.lock.start);
    } else {
      lockNote =
        inspection.state === "stale" ? `dry run; stale lock (${inspection.reason})` : "dry run; free";
    }
  } else {
    try {
      lock = await acquireJobLock(repository, job, { ...options.lock, purpose: "prune", log });
      lockNote = "taken for the prune";
    } catch (error) {
      if (!(error instanceof LockHeldError)) throw error;
      const inspection = await inspectLock(repository, job, options.lock ?? {}).catch(() => null);
      holderStart =
        inspection?.state === "held" ? Date.parse(inspection.lock.start) : Number.NEGATIVE_INFINITY;
      lockNote = `held by another run (${error.message}); only leftovers older than its start are removed`;
      log.warn({ error: error.message }, "job is locked by another run; pruning committed snapshots only");
    }
  }

  const skewMs = (options.leftoverSkewSeconds ?? DEFAULT_LEFTOVER_SKEW_SECONDS) * 1000;
  const snapshotEntries: PruneSnapshotEntry[] = decisions.map((decision) => ({
    id: decision.snapshot.id,
    createdAt: decision.snapshot.createdAt,
    action: decision.keep ? "keep" : "remove",
    reasons: decision.reasons,
  }));
  const leftoverEntries: PruneLeftoverEntry[] = leftovers.map((leftover) => {
    const base = { id: leftover.id, objects: leftover.keys.length };
    if (holderStart === undefined) {
      return {
        ...base,
        action: "remove",
        reason: "no manifest references it, and no run of the job is active",
      };
    }
    if (isSnapshotId(leftover.id) && snapshotIdTime(leftover.id).getTime() < holderStart - skewMs) {
      return { ...base, action: "remove", reason: "no manifest references it; older than the active run" };
    }
    return { ...base, action: "keep", reason: "may belong to the run holding the job's lock" };
  });

  const report: PruneJobReport = {
    job,
    repository: repository.location,
    dryRun: options.dryRun,
    retention: describeRetention(options.retention),
    snapshots: snapshotEntries,
    leftovers: leftoverEntries,
    damaged: damaged.map((entry) => `${entry.key}: ${entry.problem}`),
    ...(refused.length === 0 ? {} : { refused: refused.map((entry) => entry.problem) }),
    lock: lockNote,
    ok: true,
  };
  if (options.dryRun) return report;

  try {
    const signal = lock === undefined ? options.signal : AbortSignal.any([options.signal, lock.signal]);
    // Deletions are irreversible: prove the lock is still ours first (a prune whose lock was
    // taken over must not delete beside the run that took it, whose artifacts look like
    // leftovers). A confirm holds the lock for a whole TTL.
    await lock?.confirm();
    // Incomplete S3 multipart uploads of dead runs (see multipart-cleanup.ts); with another run
    // holding the lock, only those older than its start.
    await abortDeadPruneUploads(repository.backend, job, {
      log,
      signal,
      ...(lock === undefined ? { olderThan: new Date(Math.max(0, (holderStart ?? 0) - skewMs)) } : {}),
    });
    for (const [index, entry] of snapshotEntries.entries()) {
      if (entry.action !== "remove") continue;
      signal.throwIfAborted();
      const manifest = decisions[index]?.snapshot;
      if (manifest === undefined) continue;
      try {
        await repository.deleteSnapshot(manifest);
        entry.removed = true;
        log.info({ snapshot: entry.id, reasons: entry.reasons }, "snapshot removed");
      } catch (error) {
        entry.removed = false;
        entry.error = error instanceof Error ? error.message : String(error);
        report.ok = false;
        log.error({ snapshot: entry.id, error: entry.error }, "could not remove snapshot");
      }
    }
    for (const entry of leftoverEntries) {
      if (entry.action !== "remove") continue;
      signal.throwIfAborted();
      try {
        const objects = await repository.deleteData(job, entry.id);
        entry.removed = true;
        log.info({ leftover: entry.id, objects }, "leftover removed");
      } catch (error) {
        entry.removed = false;
        entry.error = error instanceof Error ? error.message : String(error);
        report.ok = false;
        log.error({ leftover: entry.id, error: entry.error }, "could not remove leftover");
      }
    }
  } finally {
    await lock?.release();
  }
  return report;
}

export interface PruneOptions {
  /** One job, or every configured job. */
  job?: string | undefined;
  dryRun: boolean;
  log: Logger;
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** Also reconcile S3 lifecycle rules with the policies (default true). */
  lifecycle?: boolean;
}

export interface LifecycleEntry {
  policy: string;
  repository: string;
  /** "ok", "changed" or "drift" per setting, as `ensureRepositoryBucket` reports it. */
  items: Array<{ setting: string; status: string; detail: string }>;
  error?: string;
}

export interface PruneReport {
  dryRun: boolean;
  jobs: PruneJobReport[];
  lifecycle: LifecycleEntry[];
  ok: boolean;
}

/**
 * `backdrill prune [job] [--dry-run]`: every selected job in its policy's repository, then each
 * S3 repository's lifecycle rules. A job whose repository has no marker yet (never backed up) is
 * skipped. A job that fails does not stop the others; `ok` is false if anything failed.
 */
export async function prune(config: Config, options: PruneOptions): Promise<PruneReport> {
  const env = options.env ?? process.env;
  const jobs = options.job === undefined ? [...config.jobs.values()] : [jobByName(config, options.job)];
  const report: PruneReport = { dryRun: options.dryRun, jobs: [], lifecycle: [], ok: true };
  const policies = new Map<string, LoadedPolicy>();
  for (const loaded of jobs) {
    options.signal.throwIfAborted();
    const policy = policyOf(config, loaded);
    policies.set(policy.policy.name, policy);
    const repository = await openRepository(policy, env);
    try {
      if (!(await repository.isInitialized())) {
        options.log.info(
          { job: loaded.job.name, repository: repository.location },
          "no repository yet; nothing to prune",
        );
        continue;
      }
      const jobReport = await pruneJob(repository, loaded.job.name, {
        retention: policy.policy.retention,
        timezone: policy.policy.timezone,
        dryRun: options.dryRun,
        log: options.log,
        signal: options.signal,
        keepAlso: kindOf(loaded.job.kind).retention?.keepAlso,
      });
      const side = kindOf(loaded.job.kind).retention;
      if (side !== null && jobReport.ok) {
        // Side artifacts follow the snapshots' decision: what a kept snapshot needs stays.
        const kept = (await repository.snapshots(loaded.job.name)).filter((snapshot) =>
          jobReport.snapshots.some((entry) => entry.id === snapshot.id && entry.action === "keep"),
        );
        const result = await side.prune({
          job: loaded.job,
          repository,
          kept,
          dryRun: options.dryRun,
          log: options.log,
          signal: options.signal,
        });
        jobReport.side = { key: side.key, ...result };
      }
      report.jobs.push(jobReport);
      if (!jobReport.ok) report.ok = false;
    } catch (error) {
      if (options.signal.aborted) throw error;
      const message = error instanceof Error ? error.message : String(error);
      options.log.error({ job: loaded.job.name, error: message }, "prune failed");
      report.jobs.push({
        job: loaded.job.name,
        repository: repository.location,
        dryRun: options.dryRun,
        retention: describeRetention(policy.policy.retention),
        snapshots: [],
        leftovers: [],
        damaged: [],
        lock: "",
        ok: false,
        error: message,
      });
      report.ok = false;
    } finally {
      await repository.backend.close();
    }
  }
  if (options.lifecycle !== false) {
    for (const policy of policies.values()) {
      if (policy.policy.repository.type !== "s3") continue;
      const repository = `s3://${policy.policy.repository.bucket}/${policy.policy.repository.prefix}`;
      try {
        const result = await prepareRepositoryBucket(policy, env, { apply: !options.dryRun });
        if (result !== null)
          report.lifecycle.push({ policy: policy.policy.name, repository, items: result.items });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        options.log.error(
          { policy: policy.policy.name, error: message },
          "could not reconcile the bucket's lifecycle rules",
        );
        report.lifecycle.push({ policy: policy.policy.name, repository, items: [], error: message });
        report.ok = false;
      }
    }
  }
  return report;
}
