/**
 * The drill's clock: the runner, not the kinds, times the phases, so `setupMs`, `restoreMs` and
 * `checksMs` mean the same for every kind (docs/architecture.md, "Drill timings"):
 *
 *   setupMs    the sandbox phase: throwaway containers started and ready, nothing restored yet
 *   restoreMs  the restore phase: artifacts fetched, decrypted and loaded into the sandbox
 *   checksMs   the checks phase: what was restored compared with the backup's facts
 */
import type { CheckResult, DrillPhases } from "../kinds/contract.js";

export interface PhaseTimings {
  setupMs: number;
  restoreMs: number;
  checksMs: number;
}

export interface PhasesOutcome {
  checks: CheckResult[];
  timings: PhaseTimings;
  details: Record<string, unknown>;
}

/**
 * Runs sandbox → restore → checks in order and times each. `timings` is filled in as the phases
 * end, so a caller that catches a phase's error still knows how long the phases before it took.
 */
export async function runDrillPhases(
  phases: DrillPhases,
  timings: PhaseTimings = { setupMs: 0, restoreMs: 0, checksMs: 0 },
): Promise<PhasesOutcome> {
  const timed = async <T>(key: keyof PhaseTimings, phase: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await phase();
    } finally {
      timings[key] = Date.now() - started;
    }
  };
  await timed("setupMs", () => phases.sandbox());
  const restoreChecks = await timed("restoreMs", () => phases.restore());
  const checks = await timed("checksMs", () => phases.checks());
  return { checks: [...restoreChecks, ...checks], timings, details: phases.details() };
}
