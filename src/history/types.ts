/**
 * The history of backups and drills that `backdrill report --html` draws: per job, every committed
 * snapshot and every drill result. A data model only: load.ts builds it from today's sources
 * (snapshot manifests + JSON drill reports); a later loader can build the same shape from a
 * signed history kept in the repository, and the renderer does not change.
 *
 * Every string in it may come from a repository or a report file: the renderer treats them all as
 * hostile (escaped), and whoever builds a History runs them through the redactor first.
 */
import type { CheckResult } from "../kinds/contract.js";

export interface SnapshotPoint {
  id: string;
  /** ISO time the backup started. */
  createdAt: string;
  /** ISO time the manifest was committed. */
  finishedAt: string;
  /** Ciphertext bytes of all artifacts (what the repository stores). */
  bytes: number;
}

export interface DrillTimings {
  fetchMs: number;
  setupMs: number;
  restoreMs: number;
  checksMs: number;
  totalMs: number;
}

/** One drill target's result for this job (a drill run restores several jobs). */
export interface DrillResult {
  drill: string;
  /** ISO time the drill run started (the report's startedAt). */
  startedAt: string;
  ok: boolean;
  /** Snapshot restored, or null when none could be selected. */
  snapshot: string | null;
  /** Fetch + containers + restore + checks, what the RTO is measured against. */
  totalMs: number;
  /** The RTO budget at the time of the drill, or null when none was set. */
  rtoSeconds: number | null;
  timings: DrillTimings;
  checks: CheckResult[];
  /** Why the target failed outside the checks (no snapshot, restore error...). */
  error: string | null;
}

export interface JobHistory {
  job: string;
  kind: string;
  policy: string;
  /** The policy's RPO: the newest snapshot must be younger than this. */
  rpoSeconds: number;
  /** Oldest first. */
  snapshots: SnapshotPoint[];
  /** Oldest first. */
  drills: DrillResult[];
}

export interface History {
  /** ISO time the history was read; ages (RPO) are measured against it. */
  generatedAt: string;
  backdrillVersion: string;
  /** Where the snapshots were read from (repository locations), for the auditor. */
  repositories: string[];
  /** In config order (by name). */
  jobs: JobHistory[];
  /** What could not be read (damaged manifests, unreadable reports), shown on the page. */
  warnings: string[];
}
