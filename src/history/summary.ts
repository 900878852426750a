/**
 * What the page says about a job, derived from its history: the newest snapshot's age against
 * the RPO, the last drill, and every failure. Same rules as `backdrill status`: no snapshot at all
 * breaches the RPO; a job never drilled is shown as such but is not a failure.
 */
import type { DrillResult, History, JobHistory, SnapshotPoint } from "./types.js";

export interface FailureRow {
  /** The drill's start (ISO). */
  at: string;
  drill: string;
  /** The failed check's name, or `restore` for a failure outside the checks. */
  check: string;
  detail: string;
}

export interface JobSummary {
  newest: SnapshotPoint | null;
  /** Age of the newest snapshot at generatedAt; null without one. */
  ageSeconds: number | null;
  rpoOk: boolean;
  lastDrill: DrillResult | null;
  drillsPassed: number;
  drillsFailed: number;
  /** Newest first. */
  failures: FailureRow[];
  ok: boolean;
  /** One line per reason the job is not ok. */
  problems: string[];
}

export interface OverallSummary {
  ok: boolean;
  /** `job: reason`, one per problem. */
  problems: string[];
}

/** Failed checks of a drill result, plus its error; a failed result always yields a row. */
export function failureRows(result: DrillResult): FailureRow[] {
  if (result.ok) return [];
  const base = { at: result.startedAt, drill: result.drill };
  const rows: FailureRow[] = [];
  if (result.error !== null) rows.push({ ...base, check: "restore", detail: result.error });
  for (const check of result.checks) {
    if (!check.ok) rows.push({ ...base, check: check.name, detail: check.detail });
  }
  if (rows.length === 0) rows.push({ ...base, check: "(target)", detail: "failed without a failed check" });
  return rows;
}

export function summarizeJob(job: JobHistory, generatedAt: string): JobSummary {
  const now = Date.parse(generatedAt);
  const newest = job.snapshots.at(-1) ?? null;
  const ageSeconds = newest === null ? null : Math.max(0, (now - Date.parse(newest.createdAt)) / 1000);
  const rpoOk = ageSeconds !== null && ageSeconds <= job.rpoSeconds;
  const lastDrill = job.drills.at(-1) ?? null;
  const drillsFailed = job.drills.filter((drill) => !drill.ok).length;
  const problems: string[] = [];
  if (newest === null) problems.push("no snapshot");
  else if (!rpoOk) problems.push("newest snapshot older than the RPO");
  if (lastDrill !== null && !lastDrill.ok) problems.push(`last drill (${lastDrill.drill}) failed`);
  return {
    newest,
    ageSeconds,
    rpoOk,
    lastDrill,
    drillsPassed: job.drills.length - drillsFailed,
    drillsFailed,
    failures: [...job.drills].reverse().flatMap(failureRows),
    ok: problems.length === 0,
    problems,
  };
}

export function summarizeHistory(history: History): OverallSummary {
  const problems = history.jobs.flatMap((job) =>
    summarizeJob(job, history.generatedAt).problems.map((problem) => `${job.job}: ${problem}`),
  );
  if (history.jobs.length === 0) problems.push("no job in the history");
  return { ok: problems.length === 0, problems };
}
