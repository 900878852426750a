/**
 * One snapshot restored (or planned, with `dryRun`): the snapshot selected, its facts read and
 * validated, the kind's plan made, and unless `dryRun` that same plan applied. The config-free
 * core of `backdrill restore` (app/restore.ts), so tests and other callers drive it directly.
 */
import type { JobLike, RestoreFlagValues, RestoreSpec } from "../kinds/contract.js";
import { withScope } from "../lifecycle/scope.js";
import type { Logger } from "../log/logger.js";
import type { SnapshotManifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";
import type { RunnableKind } from "./drill-target.js";
import { readFacts } from "./facts.js";
import { selectDrillSnapshot } from "./snapshot-check.js";
import { snapshotReader } from "./snapshot-reader.js";

export interface RestoreInput {
  job: JobLike;
  /** The job's config file, for messages about its fields (default: `jobs/<name>.yaml`). */
  jobFile?: string;
  kind: RunnableKind & { readonly restore: RestoreSpec<JobLike & { policy: string }, unknown> };
  repository: Repository;
  /** `latest` or a snapshot id. */
  snapshot: string;
  identities: string[];
  identityFile: string;
  to: string;
  force: boolean;
  /** The kind's own flags, as given; the kind turns them into its typed options. */
  flags: RestoreFlagValues;
  dryRun: boolean;
}

export interface RestoreRunContext {
  log: Logger;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  configDir: string;
}

/** What --dry-run prints and a restore logs: never the plan's data (it may hold a password). */
export interface PrintedPlan {
  steps: string[];
  warnings: string[];
}

export interface RestoreOutcome {
  job: string;
  snapshot: string;
  createdAt: string;
  dryRun: boolean;
  plan: PrintedPlan;
}

/** The kind's typed options from --to and its flags; a usage error before anything is read. */
export function restoreOptions(
  input: Pick<RestoreInput, "job" | "kind" | "to" | "flags">,
  env: NodeJS.ProcessEnv,
): unknown {
  return input.kind.restore.options({
    to: input.to,
    flags: input.flags,
    env,
    job: input.job as JobLike & { policy: string },
  });
}

export async function restoreSnapshot(
  input: RestoreInput,
  context: RestoreRunContext,
): Promise<RestoreOutcome> {
  const options = restoreOptions(input, context.env);
  // `latest` never quietly means "the newest one whose manifest survived" (see snapshot-check.ts).
  const selected = await selectDrillSnapshot(input.repository, input.job.name, input.snapshot, {
    verb: "restoring",
    kind: input.job.kind,
  });
  const manifest: SnapshotManifest = selected.manifest;
  for (const warning of selected.warnings) context.log.warn({ snapshot: manifest.id }, warning);
  const facts = await readFacts(input.repository, manifest, input.identities, input.kind.factsSchema);
  const engine = await input.kind.engine();
  return withScope(
    async (scope) => {
      const restoreContext = {
        job: input.job,
        jobFile: input.jobFile ?? `jobs/${input.job.name}.yaml`,
        artifacts: snapshotReader(input.repository, manifest, input.identities),
        facts,
        repository: input.repository,
        identities: input.identities,
        identityFile: input.identityFile,
        to: input.to,
        force: input.force,
        options,
        log: context.log.child({ job: input.job.name, snapshot: manifest.id }),
        signal: context.signal,
        scope,
        env: context.env,
        configDir: context.configDir,
      };
      const plan = await engine.planRestore(restoreContext);
      if (!input.dryRun) {
        restoreContext.log.info({ steps: plan.steps }, "restore started");
        await engine.applyRestore(restoreContext, plan);
        restoreContext.log.info("restore finished");
      }
      return {
        job: input.job.name,
        snapshot: manifest.id,
        createdAt: manifest.createdAt,
        dryRun: input.dryRun,
        // What selection passed over (a forged newer manifest) belongs beside the plan's own warnings.
        plan: { steps: plan.steps, warnings: [...selected.warnings, ...plan.warnings] },
      };
    },
    (what, error) => context.log.warn({ err: error }, `cleanup of ${what} failed`),
  );
}
