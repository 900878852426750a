import type { CheckResult } from "../kinds/contract.js";

/** One drill target's result; the JSON report's `targets[]` entry (docs/architecture.md, "Drill timings" for its timings). */
export interface TargetReport {
  job: string;
  kind: string;
  /** Snapshot id restored, or null when none could be selected. */
  snapshot: string | null;
  ok: boolean;
  /** Why the target failed before or outside the checks (no snapshot, restore error...). */
  error?: string;
  /**
   * What snapshot selection passed over or accepted with reservations (a newer manifest refused
   * for its signature or its date, an unsigned snapshot allowed): the drill ran, but someone
   * should look at the repository.
   */
  warnings?: string[];
  /** Age of the snapshot when the drill started. */
  backupAgeSeconds: number | null;
  /** The RTO budget, or null when none is configured. */
  rtoSeconds: number | null;
  /**
   * The same phases for every kind (docs/architecture.md, "Drill timings"):
   * fetchMs: every artifact's ciphertext read and checked against the manifest (size, sha256),
   * then the facts downloaded, decrypted and validated; setupMs: the throwaway sandbox started
   * and ready (nothing restored yet); restoreMs: the snapshot loaded into it (artifacts stream
   * in, so their second read and decryption is here); checksMs: the comparison with the facts;
   * totalMs: from the target's start to its end (snapshot selection included), vs the RTO.
   */
  timings: { fetchMs: number; setupMs: number; restoreMs: number; checksMs: number; totalMs: number };
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
