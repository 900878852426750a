/**
 * One drill target: select the snapshot, check every artifact against the manifest, read and
 * validate the facts, then run the kind's drill phases (sandbox → restore → checks) and time all
 * of it. The runner owns the clock (drill-phases.ts); the report's timings mean the same for
 * every kind (docs/architecture.md, "Drill timings").
 */
import type * as z from "zod";
import type { JobLike, KindEngine, StackPlacement, StackService, TargetBase } from "../kinds/contract.js";
import { withScope, type Scope } from "../lifecycle/scope.js";
import type { Logger } from "../log/logger.js";
import { redact } from "../log/redact.js";
import type { SnapshotManifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";
import type { TargetReport } from "../report/types.js";
import { runDrillPhases } from "./drill-phases.js";
import { readFacts } from "./facts.js";
import { checkSnapshotArtifacts, selectDrillSnapshot, SnapshotDamageError } from "./snapshot-check.js";
import { snapshotReader } from "./snapshot-reader.js";

/** A kind's engine erased to what the runners need. */
export type AnyEngine = KindEngine<JobLike, TargetBase, unknown, unknown, unknown>;

/** What the runners need of a kind (every `Kind` is one): its engine and its facts schema. */
export interface RunnableKind {
  engine(): Promise<AnyEngine>;
  readonly factsSchema: z.ZodType;
}

export interface DrillTargetInput {
  job: JobLike;
  /** The job's config file, for messages about its fields (default: `jobs/<name>.yaml`). */
  jobFile?: string;
  /** The target as configured (the kind's own fields and checks live in it). */
  target: TargetBase;
  kind: RunnableKind;
  repository: Repository;
  /** `latest` or a snapshot id. */
  snapshot: string;
  /** Identities that open the policy's recipients (facts and artifacts). */
  identities: string[];
  rtoSeconds: number | null;
  /** Set by a stack drill (runner/stack/): the target's sandbox joins the stack and outlives it. */
  stack?: TargetInStack;
}

/** A target's part in a stack drill. */
export interface TargetInStack {
  placement: StackPlacement;
  /** The stack's scope: owns the sandbox until the smoke test is over (not closed here). */
  scope: Scope;
  /** Filled in once the checks ran: what the kind exposes to the smoke test. */
  service?: StackService;
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
 * Restores one job's snapshot into throwaway containers through its kind, runs the checks and
 * times everything. Never throws: every failure becomes a failed target in the report, so one bad
 * target does not hide the others' results.
 */
export async function runDrillTarget(
  input: DrillTargetInput,
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
    timings: { fetchMs: 0, setupMs: 0, restoreMs: 0, checksMs: 0, totalMs: 0 },
    checks: [],
  };
  // Damage met while the engine streams an artifact (it changed since the check, or does not
  // decrypt) is kept here, so the report names it even when the engine reports only its own
  // consequence ("pg_restore exited 1").
  const readErrors: string[] = [];
  try {
    const selected = await selectDrillSnapshot(input.repository, input.job.name, input.snapshot, {
      kind: input.job.kind,
    });
    const manifest: SnapshotManifest = selected.manifest;
    report.snapshot = manifest.id;
    if (selected.warnings.length > 0) {
      report.warnings = selected.warnings.map((warning) => redact(warning));
      for (const warning of report.warnings) log.warn({ snapshot: manifest.id }, warning);
    }
    report.backupAgeSeconds = Math.max(
      0,
      Math.round((now().getTime() - Date.parse(manifest.finishedAt)) / 1000),
    );
    log.info({ snapshot: manifest.id }, "drill target started");
    const fetchStarted = Date.now();
    // Every artifact checked against the manifest before any container starts (snapshot-check.ts).
    const checked = await checkSnapshotArtifacts(input.repository, manifest, context.signal);
    log.info({ snapshot: manifest.id, bytes: checked.bytes }, "snapshot artifacts verified");
    const facts = await readFacts(input.repository, manifest, input.identities, input.kind.factsSchema);
    const engine = await input.kind.engine();
    report.timings.fetchMs = Date.now() - fetchStarted;
    const artifacts = snapshotReader(input.repository, manifest, input.identities, (error) => {
      if (!context.signal.aborted) readErrors.push(message(error));
    });
    const stack = input.stack;
    const drill = async (scope: Scope) => {
      const phases = engine.drill({
        job: input.job,
        target: input.target,
        artifacts,
        facts,
        repository: input.repository,
        identities: input.identities,
        log,
        signal: context.signal,
        scope,
        env: context.env,
        configDir: context.configDir,
        jobFile: input.jobFile ?? `jobs/${input.job.name}.yaml`,
        stack: stack?.placement,
      });
      const done = await runDrillPhases(phases, report.timings);
      // Even after failed checks: the smoke test then shows what the damage costs the application.
      if (stack !== undefined) stack.service = phases.stack();
      return done;
    };
    const outcome =
      stack === undefined
        ? await withScope(drill, (what, error) => log.warn({ err: error }, `cleanup of ${what} failed`))
        : await drill(stack.scope);
    report.checks.push(...outcome.checks);
    if (Object.keys(outcome.details).length > 0) report.details = outcome.details;
    if (readErrors.length > 0) report.error = [...new Set(readErrors)].join("; ");
  } catch (error) {
    if (error instanceof SnapshotDamageError) report.snapshot = error.snapshot;
    const own = message(error);
    report.error = [...new Set([...readErrors, own])].join("; ");
    log.error({ error: report.error }, "drill target failed");
  }
  report.timings.totalMs = Date.now() - started;
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
