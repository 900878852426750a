import type { ArtifactReader, Engine, JobLike } from "../kinds/engine.js";
import { walSourceFor } from "../kinds/postgres-base/wal-source.js";
import { withScope } from "../lifecycle/scope.js";
import type { Logger } from "../log/logger.js";
import { redact } from "../log/redact.js";
import { FACTS_ARTIFACT, type SnapshotManifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";
import type { TargetReport } from "../report/types.js";
import { checkSnapshotArtifacts, selectDrillSnapshot, SnapshotDamageError } from "./snapshot-check.js";

export interface DrillTargetInput<J extends JobLike, T> {
  job: J;
  /** The target as configured (engine-specific checks live in it). */
  target: T;
  engine: Engine<J, T>;
  repository: Repository;
  /** `latest` or a snapshot id. */
  snapshot: string;
  /** Identities that open the policy's recipients (facts and artifacts). */
  identities: string[];
  rtoSeconds: number | null;
}

export interface DrillRunContext {
  log: Logger;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  configDir: string;
  now?: () => Date;
}

function message(error: unknown): string {
  return redact(error instanceof Error ? error.message : String(error));
}

/**
 * Restores one job's snapshot into throwaway containers through its engine, runs the checks and
 * times everything. Never throws: every failure becomes a failed target in the report, so one bad
 * target does not hide the others' results.
 */
export async function runDrillTarget<J extends JobLike, T>(
  input: DrillTargetInput<J, T>,
  context: DrillRunContext,
): Promise<TargetReport> {
  const started = Date.now();
  const now = context.now ?? (() => new Date());
  const log = context.log.child({ job: input.job.name, drill: true });
  const report: TargetReport = {
    job: input.job.name,
    kind: input.job.kind,
    snapshot: null,
    ok: false,
    backupAgeSeconds: null,
    rtoSeconds: input.rtoSeconds,
    timings: { fetchMs: 0, restoreMs: 0, checksMs: 0, setupMs: 0, totalMs: 0 },
    checks: [],
  };
  // Damage met while the engine streams an artifact (it changed since the check, or does not
  // decrypt) is kept here, so the report names it even when the engine reports only its own
  // consequence ("pg_restore exited 1").
  const readErrors: string[] = [];
  try {
    const manifest: SnapshotManifest = await selectDrillSnapshot(
      input.repository,
      input.job.name,
      input.snapshot,
    );
    report.snapshot = manifest.id;
    report.backupAgeSeconds = Math.max(
      0,
      Math.round((now().getTime() - Date.parse(manifest.finishedAt)) / 1000),
    );
    log.info({ snapshot: manifest.id }, "drill target started");
    const fetchStarted = Date.now();
    // Every artifact checked against the manifest before any container starts (snapshot-check.ts).
    const checked = await checkSnapshotArtifacts(input.repository, manifest, context.signal);
    log.info({ snapshot: manifest.id, bytes: checked.bytes }, "snapshot artifacts verified");
    const facts = await input.repository.readFacts<Record<string, unknown>>(manifest, input.identities);
    report.timings.fetchMs = Date.now() - fetchStarted;
    const artifacts: ArtifactReader = {
      snapshot: manifest,
      names: () => manifest.artifacts.map((a) => a.name).filter((name) => name !== FACTS_ARTIFACT),
      open: async (name, options) => {
        const stream = await input.repository.openArtifact(manifest, name, input.identities, options ?? {});
        stream.on("error", (error) => {
          if (!context.signal.aborted) readErrors.push(message(error));
        });
        return stream;
      },
    };
    const outcome = await withScope(
      (scope) =>
        input.engine.drill({
          job: input.job,
          target: input.target,
          artifacts,
          facts,
          walSource: walSourceFor(input.repository, input.job.name, input.identities),
          log,
          signal: context.signal,
          scope,
          env: context.env,
          configDir: context.configDir,
        }),
      (what, error) => log.warn({ err: error }, `cleanup of ${what} failed`),
    );
    report.timings.restoreMs = outcome.timings.restoreMs;
    report.timings.checksMs = outcome.timings.checksMs;
    report.checks.push(...outcome.checks);
    if (outcome.details !== undefined) report.details = outcome.details;
    if (readErrors.length > 0) report.error = [...new Set(readErrors)].join("; ");
  } catch (error) {
    if (error instanceof SnapshotDamageError) report.snapshot = error.snapshot;
    const own = message(error);
    report.error = [...new Set([...readErrors, own])].join("; ");
    log.error({ error: report.error }, "drill target failed");
  }
  report.timings.totalMs = Date.now() - started;
  // What the phases do not account for: starting containers, waiting for them to be ready.
  report.timings.setupMs = Math.max(
    0,
    report.timings.totalMs - report.timings.fetchMs - report.timings.restoreMs - report.timings.checksMs,
  );
  if (report.rtoSeconds !== null && report.error === undefined) {
    const within = report.timings.totalMs / 1000 <= report.rtoSeconds;
    report.checks.push({
      name: "within RTO",
      ok: within,
      detail: `restored and checked in ${(report.timings.totalMs / 1000).toFixed(1)} s; RTO ${report.rtoSeconds} s`,
    });
  }
  report.ok =
    report.error === undefined && report.checks.length > 0 && report.checks.every((check) => check.ok);
  log.info({ ok: report.ok, totalMs: report.timings.totalMs }, "drill target finished");
  return report;
}
