/**
 * Builds a History: the snapshot manifests in the policies' repositories (through the app layer's
 * listSnapshots, the code behind `backdrill snapshots`) and the drill runs of drill-history.ts
 * (the records kept in the repositories, and local report files of runs they do not hold).
 * The renderer only sees the History.
 */
import { jobByName, policyOf } from "./config.js";
import { listSnapshots } from "./snapshots.js";
import { parseDurationSeconds } from "../schema/duration.js";
import type { Config } from "../config/types.js";
import { redactDeep } from "../log/redact.js";
import { VERSION } from "../version.js";
import type { StoredDrillReport } from "../history/drill-reports.js";
import { loadDrillRuns } from "./drill-history.js";
import type { DrillResult, History, JobHistory, SnapshotPoint } from "../history/types.js";

export interface LoadHistoryOptions {
  /** Only this job (its repository only); default every configured job. */
  job?: string;
  env?: NodeJS.ProcessEnv;
  /** The time ages are measured against; default now. */
  now?: Date;
}

export async function loadHistory(config: Config, options: LoadHistoryOptions = {}): Promise<History> {
  const env = options.env ?? process.env;
  const now = options.now ?? new Date();
  const selected = options.job === undefined ? [...config.jobs.values()] : [jobByName(config, options.job)];
  const listing = await listSnapshots(
    config,
    options.job === undefined ? { env } : { job: options.job, env },
  );
  const warnings = listing.damaged.map((entry) => `unreadable manifest ${entry}`);

  // The repositories' drill history, with local report files for runs it does not hold.
  const reports: StoredDrillReport[] = (
    await loadDrillRuns(config, {
      env,
      jobs: selected.map((loaded) => loaded.job.name),
      warnings,
    })
  ).map((run) => run.report);

  const jobs: JobHistory[] = selected.map((loaded) => {
    const policy = policyOf(config, loaded).policy;
    const snapshots: SnapshotPoint[] = listing.snapshots
      .filter((manifest) => manifest.job === loaded.job.name)
      .filter((manifest) => {
        // A chart cannot place a snapshot without a time; say so instead of drawing nonsense.
        if (!Number.isNaN(Date.parse(manifest.createdAt))) return true;
        warnings.push(`snapshot ${manifest.job}/${manifest.id}: createdAt is not a time`);
        return false;
      })
      .map((manifest) => ({
        id: manifest.id,
        createdAt: manifest.createdAt,
        finishedAt: manifest.finishedAt,
        bytes: manifest.artifacts.reduce((sum, artifact) => sum + artifact.size, 0),
      }))
      .sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
    const drills: DrillResult[] = reports
      .flatMap((report) =>
        report.targets
          .filter((target) => target.job === loaded.job.name)
          .map((target) => ({
            drill: report.drill,
            startedAt: report.startedAt,
            ok: target.ok,
            snapshot: target.snapshot,
            totalMs: target.timings.totalMs,
            rtoSeconds: target.rtoSeconds,
            timings: target.timings,
            checks: target.checks,
            error: target.error ?? null,
          })),
      )
      .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
    return {
      job: loaded.job.name,
      kind: loaded.job.kind,
      policy: policy.name,
      rpoSeconds: parseDurationSeconds(policy.rpo),
      snapshots,
      drills,
    };
  });

  // Reports were redacted when written and manifests hold nothing secret, but both come from
  // outside this process: redact once more on the way in (a secret registered since is caught).
  return redactDeep({
    generatedAt: now.toISOString(),
    backdrillVersion: VERSION,
    repositories: listing.repositories,
    jobs,
    warnings,
  });
}
