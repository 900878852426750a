import type { CheckResult } from "../kinds/engine.js";

/** One drill target's result; the JSON report's `targets[]` entry (design.md shape, plus fields). */
export interface TargetReport {
  job: string;
  kind: string;
  /** Snapshot id restored, or null when none could be selected. */
  snapshot: string | null;
  ok: boolean;
  /** Why the target failed before or outside the checks (no snapshot, restore error...). */
  error?: string;
  /** Age of the snapshot when the drill started. */
  backupAgeSeconds: number | null;
  /** The RTO budget, or null when none is configured. */
  rtoSeconds: number | null;
  /**
   * fetchMs: every artifact's ciphertext read and checked against the manifest (size, sha256),
   * then the facts downloaded and decrypted (artifacts then stream into the restore, so that
   * second fetch is in restoreMs); setupMs: the rest (throwaway containers starting); totalMs: all of it, vs the RTO.
   */
  timings: { fetchMs: number; restoreMs: number; checksMs: number; setupMs: number; totalMs: number };
  checks: CheckResult[];
  details?: Record<string, unknown>;
}

export interface DrillReport {
  drill: string;
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  host: string;
  backdrillVersion: string;
  targets: TargetReport[];
}
