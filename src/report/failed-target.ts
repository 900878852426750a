import type { TargetReport } from "./types.js";

/**
 * The report of a target that failed before its kind could run it (unknown job, no snapshot, no
 * image): no snapshot, no checks, every phase zero, and the one line saying why.
 */
export function failedTarget(
  job: string,
  kind: string,
  rtoSeconds: number | null,
  error: string,
): TargetReport {
  return {
    job,
    kind,
    snapshot: null,
    ok: false,
    error,
    backupAgeSeconds: null,
    rtoSeconds,
    timings: { fetchMs: 0, setupMs: 0, restoreMs: 0, checksMs: 0, totalMs: 0 },
    checks: [],
  };
}
