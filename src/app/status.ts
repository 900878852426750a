/**
 * `backdrill status`: is every job inside its RPO, and did every drill's last run pass? Meant for
 * monitoring (Nagios-style exit code 1 when not), and for the operator's morning glance.
 *
 * Per job: the newest committed snapshot, its age against the policy's `rpo` (no snapshot at all
 * is a breach), the size trend (newest vs the median of the previous ones; a sudden shrink is a
 * warning — an empty dump is also "a snapshot"), and whether a run holds the job's lock now.
 * Per drill: its newest run, from the drill history in its jobs' repositories or else its
 * `reportDir` (app/drill-history.ts has the merge rule), pass/fail, and per target the RTO margin
 * (budget minus total time; negative = over budget). `report` names where the run was read.
 *
 * Jobs with a continuous archive (postgres-base's WAL archive) also get the archive's newest
 * item and its age, the PITR RPO, judged against the same `rpo`: a broken archive_command leaves
 * the base backups fresh while what a disaster would lose grows, so it breaches the job too. Where
 * the kind can ask the archive's producer (postgres-base: pg_stat_archiver over the job's
 * connection, a few seconds at most), a failing archiver makes the job not ok at once.
 *
 * `ok` is false, and the CLI exits 1, when any RPO is breached or any drill's last run failed. A
 * drill that never ran is reported (`last: null`) with a warning but does not fail the check:
 * a fresh install would otherwise be red until the first monthly drill.
 */
import { policyOf } from "./config.js";
import { copyPolicy, openRepository } from "../repository/open.js";
import { newestSnapshot } from "../repository/copy.js";
import type { SnapshotManifest } from "../repository/manifest.js";
import { parseDurationSeconds } from "../schema/duration.js";
import type { Config, LoadedPolicy } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import type { Repository } from "../repository/repository.js";
import { describeHolder, inspectLock } from "../repository/locks.js";
import { kindOf, type Job } from "../kinds/registry.js";
import type { ArchiveSource } from "../kinds/contract.js";
import { loadDrillRuns, type HistoryRun } from "./drill-history.js";

/** Below this fraction of the median of the previous snapshots, the newest is flagged. */
export const SHRINK_WARNING_RATIO = 0.5;
const TREND_WINDOW = 7;

export interface JobStatus {
  job: string;
  policy: string;
  newest: { id: string; createdAt: string } | null;
  ageSeconds: number | null;
  rpoSeconds: number;
  ok: boolean;
  snapshots: number;
  size: {
    newestBytes: number;
    /** Median of up to 7 snapshots before the newest; null with none. */
    previousMedianBytes: number | null;
    /** (newest - median) / median, in percent; null without a median. */
    changePercent: number | null;
  } | null;
  /**
   * Jobs whose kind keeps a continuous archive (postgres-base: the WAL archive): the PITR RPO is
   * the age of its newest item, judged against the same `rpo`; a breach makes the job not ok.
   */
  archive?: ArchiveStatus;
  /** Who holds the job's lock right now (a run in progress), or null. */
  running: string | null;
  /** Per copy of the policy (`copies:`), how far it lags behind the repository; absent without copies. */
  copies?: CopyLag[];
  /**
   * Why the job is not ok beyond its age: manifests refused for a bad signature, a contradicting
   * structure or a date in the future (a forged or clock-skewed "newest" snapshot is a problem,
   * never an age of 0). One line each, naming the snapshot.
   */
  problems?: string[];
  error?: string;
}

export interface ArchiveStatus {
  label: string;
  newest: { name: string; storedAt: string } | null;
  /** Age of the newest archived item: what a disaster now would lose. Null: nothing archived. */
  ageSeconds: number | null;
  /** Its bound: the job's own (postgres-base `archiveRpo`) or the policy's `rpo`. */
  rpoSeconds: number;
  ok: boolean;
  /** The job's spool directory, when it is on this host: files waiting to be shipped. */
  backlog: { dir: string; files: number; bytes: number; oldest: string | null } | null;
  /**
   * What the archive's producer reports (postgres-base: pg_stat_archiver of the job's server).
   * `ok: false` (archiving failing now) makes the job not ok before the RPO is breached; `ok:
   * null` (the server could not be asked within seconds) is a warning.
   */
  source?: ArchiveSource;
}

/** One copy's lag behind its source repository (`backdrill copy`). */
export interface CopyLag {
  /** 1-based: the Nth entry of the policy's `copies:`. */
  copy: number;
  location: string;
  newest: { id: string; createdAt: string } | null;
  /** Newest in the repository minus newest in the copy (0: up to date); null when the copy has none. */
  lagSeconds: number | null;
  /** Trusted snapshots of the repository newer than the copy's newest (not copied yet). */
  behind: number;
  error?: string;
}

export interface DrillTargetStatus {
  job: string;
  ok: boolean;
  totalSeconds: number;
  rtoSeconds: number | null;
  /** rto - total; negative when the restore took longer than the budget. */
  rtoMarginSeconds: number | null;
}

export interface DrillStatus {
  drill: string;
  last: { at: string; ok: boolean; report: string; targets: DrillTargetStatus[] } | null;
}

export interface StatusReport {
  at: string;
  ok: boolean;
  jobs: JobStatus[];
  drills: DrillStatus[];
  warnings: string[];
}

export interface StatusOptions {
  log: Logger;
  env?: NodeJS.ProcessEnv;
  now?: Date;
}

export async function status(config: Config, options: StatusOptions): Promise<StatusReport> {
  const env = options.env ?? process.env;
  const now = options.now ?? new Date();
  const warnings: string[] = [];
  const repositories = new Map<string, Repository>();
  const repositoryOf = async (policy: LoadedPolicy): Promise<Repository> => {
    const existing = repositories.get(policy.policy.name);
    if (existing !== undefined) return existing;
    const opened = await openRepository(policy, env);
    repositories.set(policy.policy.name, opened);
    return opened;
  };

  const jobs: JobStatus[] = [];
  try {
    for (const loaded of config.jobs.values()) {
      const policy = policyOf(config, loaded);
      const rpoSeconds = parseDurationSeconds(policy.policy.rpo);
      const base = { job: loaded.job.name, policy: policy.policy.name, rpoSeconds };
      try {
        const repository = await repositoryOf(policy);
        const initialized = await repository.isInitialized();
        const listing = initialized
          ? await repository.listSnapshots(loaded.job.name)
          : { snapshots: [], damaged: [], refused: [] };
        for (const damaged of listing.damaged)
          warnings.push(`${loaded.job.name}: unreadable manifest ${damaged.key}`);
        // Refused manifests never count as the newest (trusted and not in the future); only an
        // unsigned one is a warning (written before signing was set up), the rest are problems.
        const problems: string[] = [];
        for (const refused of listing.refused) {
          if (refused.reason === "unsigned") warnings.push(`${loaded.job.name}: ${refused.problem}`);
          else problems.push(refused.problem);
        }
        const newest = listing.snapshots.at(-1);
        // Within the clock-skew allowance a snapshot may look a little ahead: that is age 0.
        const ageSeconds =
          newest === undefined ? null : Math.max(0, (now.getTime() - Date.parse(newest.createdAt)) / 1000);
        const size = sizeTrend(
          listing.snapshots.map((manifest) => manifest.artifacts.reduce((sum, a) => sum + a.size, 0)),
        );
        if (
          size?.previousMedianBytes != null &&
          size.changePercent !== null &&
          size.newestBytes < size.previousMedianBytes * SHRINK_WARNING_RATIO
        ) {
          warnings.push(
            `${loaded.job.name}: newest snapshot is ${size.newestBytes} bytes, ${Math.round(-size.changePercent)}% below the median of the previous ones`,
          );
        }
        const lock = initialized ? await inspectLock(repository, loaded.job.name).catch(() => null) : null;
        const archive = await archiveStatus(loaded.job, repository, initialized, rpoSeconds, now, {
          env,
          configDir: config.dir,
        });
        if (archive?.source?.ok === null)
          warnings.push(`${loaded.job.name}: ${archive.label}: ${archive.source.detail}`);
        const copies = await copyLags(policy, loaded.job.name, listing.snapshots, env);
        const ok =
          ageSeconds !== null &&
          ageSeconds <= rpoSeconds &&
          problems.length === 0 &&
          (archive === undefined || (archive.ok && archive.source?.ok !== false));
        jobs.push({
          ...base,
          newest: newest === undefined ? null : { id: newest.id, createdAt: newest.createdAt },
          ageSeconds: ageSeconds === null ? null : Math.round(ageSeconds),
          ok,
          snapshots: listing.snapshots.length,
          size,
          ...(archive === undefined ? {} : { archive }),
          running: lock?.state === "held" ? describeHolder(lock.lock) : null,
          ...(copies.length === 0 ? {} : { copies }),
          ...(problems.length === 0 ? {} : { problems }),
        });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        options.log.error({ job: loaded.job.name, error: message }, "could not read the job's repository");
        jobs.push({
          ...base,
          newest: null,
          ageSeconds: null,
          ok: false,
          snapshots: 0,
          size: null,
          running: null,
          error: message,
        });
      }
    }
  } finally {
    await Promise.all([...repositories.values()].map((repository) => repository.backend.close()));
  }

  // The repositories' drill history, with local report files for runs it does not hold.
  const runs = await loadDrillRuns(config, { env, warnings });
  const drills: DrillStatus[] = [];
  for (const loaded of config.drills.values()) {
    const newest = runs.filter((run) => run.report.drill === loaded.drill.name).at(-1);
    if (newest === undefined) {
      warnings.push(
        `drill ${loaded.drill.name} has no report in its jobs' repositories nor in ${loaded.drill.reportDir} yet`,
      );
    }
    drills.push({ drill: loaded.drill.name, last: newest === undefined ? null : lastOf(newest) });
  }

  return {
    at: now.toISOString(),
    ok: jobs.every((job) => job.ok) && drills.every((drill) => drill.last === null || drill.last.ok),
    jobs,
    drills,
    warnings,
  };
}

/** The job's continuous archive against the RPO, or undefined when its kind keeps none. */
async function archiveStatus(
  job: Job,
  repository: Repository,
  initialized: boolean,
  rpoSeconds: number,
  now: Date,
  host: { env: NodeJS.ProcessEnv; configDir: string },
): Promise<ArchiveStatus | undefined> {
  const archive = kindOf(job.kind).archive;
  if (archive === null) return undefined;
  const source = await archive.source({ job, ...host });
  const freshness = initialized
    ? await archive.freshness({ job, repository })
    : { newest: null, rpoSeconds: undefined, backlog: null };
  const ageSeconds =
    freshness.newest === null
      ? null
      : Math.round(Math.max(0, (now.getTime() - freshness.newest.storedAt.getTime()) / 1000));
  return {
    label: archive.label,
    newest:
      freshness.newest === null
        ? null
        : { name: freshness.newest.name, storedAt: freshness.newest.storedAt.toISOString() },
    ageSeconds,
    rpoSeconds: freshness.rpoSeconds ?? rpoSeconds,
    ok: ageSeconds !== null && ageSeconds <= (freshness.rpoSeconds ?? rpoSeconds),
    backlog:
      freshness.backlog === null
        ? null
        : { ...freshness.backlog, oldest: freshness.backlog.oldest?.toISOString() ?? null },
    ...(source === null ? {} : { source }),
  };
}

/** Each copy's newest trusted snapshot against the repository's (`source`: trusted, oldest first). */
async function copyLags(
  policy: LoadedPolicy,
  job: string,
  source: SnapshotManifest[],
  env: NodeJS.ProcessEnv,
): Promise<CopyLag[]> {
  const lags: CopyLag[] = [];
  const newestSource = source.at(-1);
  for (let n = 1; n <= (policy.policy.copies?.length ?? 0); n += 1) {
    let repository: Repository | undefined;
    try {
      repository = await openRepository(copyPolicy(policy, n), env);
      const newest = await newestSnapshot(repository, job);
      lags.push({
        copy: n,
        location: repository.location,
        newest: newest === null ? null : { id: newest.id, createdAt: newest.createdAt },
        lagSeconds:
          newest === null
            ? null
            : newestSource === undefined
              ? 0
              : Math.max(
                  0,
                  Math.round((Date.parse(newestSource.createdAt) - Date.parse(newest.createdAt)) / 1000),
                ),
        behind: source.filter((manifest) => newest === null || manifest.id > newest.id).length,
      });
    } catch (error) {
      lags.push({
        copy: n,
        location: repository?.location ?? `copy ${n}`,
        newest: null,
        lagSeconds: null,
        behind: source.length,
        error: error instanceof Error ? error.message : String(error),
      });
    } finally {
      await repository?.backend.close();
    }
  }
  return lags;
}

function sizeTrend(sizes: number[]): JobStatus["size"] {
  const newestBytes = sizes.at(-1);
  if (newestBytes === undefined) return null;
  const previous = sizes.slice(-1 - TREND_WINDOW, -1).sort((a, b) => a - b);
  if (previous.length === 0) return { newestBytes, previousMedianBytes: null, changePercent: null };
  const middle = Math.floor(previous.length / 2);
  const median =
    previous.length % 2 === 1
      ? (previous[middle] ?? 0)
      : ((previous[middle - 1] ?? 0) + (previous[middle] ?? 0)) / 2;
  const changePercent = median === 0 ? null : Math.round(((newestBytes - median) / median) * 1000) / 10;
  return { newestBytes, previousMedianBytes: median, changePercent };
}

/** A drill's newest run as `status` shows it. */
function lastOf(run: HistoryRun): NonNullable<DrillStatus["last"]> {
  return {
    at: run.report.finishedAt,
    ok: run.report.ok,
    report: run.source,
    targets: run.report.targets.map((target) => {
      const totalSeconds = target.timings.totalMs / 1000;
      const rtoSeconds = target.rtoSeconds;
      return {
        job: target.job,
        ok: target.ok,
        totalSeconds,
        rtoSeconds,
        rtoMarginSeconds: rtoSeconds === null ? null : Math.round((rtoSeconds - totalSeconds) * 10) / 10,
      };
    }),
  };
}
