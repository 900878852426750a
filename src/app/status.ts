/**
 * `backdrill status`: is every job inside its RPO, and did every drill's last run pass? Meant for
 * monitoring (Nagios-style exit code 1 when not), and for the operator's morning glance.
 *
 * Per job: the newest committed snapshot, its age against the policy's `rpo` (no snapshot at all
 * is a breach), the size trend (newest vs the median of the previous ones; a sudden shrink is a
 * warning — an empty dump is also "a snapshot"), and whether a run holds the job's lock now.
 * Per drill: the newest report in its `reportDir` (`<drill>-<stamp>.json`), pass/fail, and per
 * target the RTO margin (budget minus total time; negative = over budget).
 *
 * Jobs with a continuous archive (postgres-base's WAL archive) also get the archive's newest
 * item and its age, the PITR RPO, judged against the same `rpo`: a broken archive_command leaves
 * the base backups fresh while what a disaster would lose grows, so it breaches the job too.
 *
 * `ok` is false, and the CLI exits 1, when any RPO is breached or any drill's last run failed. A
 * drill that never ran is reported (`last: null`) with a warning but does not fail the check:
 * a fresh install would otherwise be red until the first monthly drill.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { policyOf } from "./config.js";
import { openRepository } from "../repository/open.js";
import { parseDurationSeconds } from "../schema/duration.js";
import type { Config, LoadedPolicy } from "../config/types.js";
import type { Logger } from "../log/logger.js";
import type { Repository } from "../repository/repository.js";
import { describeHolder, inspectLock } from "../repository/locks.js";
import { kindOf, type Job } from "../kinds/registry.js";

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
        const archive = await archiveStatus(loaded.job, repository, initialized, rpoSeconds, now);
        const ok =
          ageSeconds !== null &&
          ageSeconds <= rpoSeconds &&
          problems.length === 0 &&
          (archive === undefined || archive.ok);
        jobs.push({
          ...base,
          newest: newest === undefined ? null : { id: newest.id, createdAt: newest.createdAt },
          ageSeconds: ageSeconds === null ? null : Math.round(ageSeconds),
          ok,
          snapshots: listing.snapshots.length,
          size,
          ...(archive === undefined ? {} : { archive }),
          running: lock?.state === "held" ? describeHolder(lock.lock) : null,
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

  const drills: DrillStatus[] = [];
  for (const loaded of config.drills.values()) {
    const last = await lastDrillReport(loaded.drill.reportDir, loaded.drill.name, warnings);
    if (last === null)
      warnings.push(`drill ${loaded.drill.name} has no report in ${loaded.drill.reportDir} yet`);
    drills.push({ drill: loaded.drill.name, last });
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
): Promise<ArchiveStatus | undefined> {
  const archive = kindOf(job.kind).archive;
  if (archive === null) return undefined;
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
  };
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

/** The newest parseable `<drill>-<stamp>.json` in `dir`, or null. Unreadable ones become warnings. */
async function lastDrillReport(dir: string, drill: string, warnings: string[]): Promise<DrillStatus["last"]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  const pattern = new RegExp(`^${drill.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-(\\d{8}T\\d{6}Z)\\.json$`);
  const candidates = names
    .map((name) => ({ name, stamp: pattern.exec(name)?.[1] }))
    .filter((entry): entry is { name: string; stamp: string } => entry.stamp !== undefined)
    .sort((a, b) => (a.stamp < b.stamp ? 1 : a.stamp > b.stamp ? -1 : 0));
  for (const { name } of candidates) {
    const path = join(dir, name);
    try {
      const report = JSON.parse(await readFile(path, "utf8")) as {
        finishedAt?: unknown;
        ok?: unknown;
        targets?: Array<{
          job?: unknown;
          ok?: unknown;
          rtoSeconds?: unknown;
          timings?: { totalMs?: unknown };
        }>;
      };
      if (
        typeof report.finishedAt !== "string" ||
        typeof report.ok !== "boolean" ||
        !Array.isArray(report.targets)
      ) {
        throw new Error("not a drill report (finishedAt, ok, targets)");
      }
      return {
        at: report.finishedAt,
        ok: report.ok,
        report: path,
        targets: report.targets.map((target) => {
          const totalSeconds = Number(target.timings?.totalMs ?? 0) / 1000;
          const rtoSeconds = typeof target.rtoSeconds === "number" ? target.rtoSeconds : null;
          return {
            job: String(target.job),
            ok: target.ok === true,
            totalSeconds,
            rtoSeconds,
            rtoMarginSeconds: rtoSeconds === null ? null : Math.round((rtoSeconds - totalSeconds) * 10) / 10,
          };
        }),
      };
    } catch (error) {
      warnings.push(
        `drill ${drill}: unreadable report ${path}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  return null;
}
