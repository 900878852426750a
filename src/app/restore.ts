import { selectDrillSnapshot } from "../runner/snapshot-check.js";
import type { Config } from "../config/types.js";
import { readIdentityFile } from "../crypto/keys.js";
import type { ArtifactReader, RestorePlan } from "../kinds/engine.js";
import { engineFor } from "../kinds/registry.js";
import { UsageError } from "../errors.js";
import { withScope } from "../lifecycle/scope.js";
import type { Logger } from "../log/logger.js";
import { FACTS_ARTIFACT, type SnapshotManifest } from "../repository/manifest.js";
import { walSourceFor } from "../kinds/postgres-base/wal-source.js";
import { jobByName, policyOf } from "./config.js";
import { openRepository } from "../repository/open.js";

export interface RestoreCommandOptions {
  job: string;
  to: string;
  snapshot: string;
  identityFile: string | undefined;
  dryRun: boolean;
  force: boolean;
  /** Kind-specific options (database, at, ...). */
  extra: Record<string, string | undefined>;
  log: Logger;
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

export interface RestoreOutcome {
  job: string;
  snapshot: string;
  createdAt: string;
  dryRun: boolean;
  plan: RestorePlan;
}

/**
 * Disaster recovery: picks the snapshot, lets the engine plan (pure), and unless --dry-run,
 * restores. The plan is logged before anything is touched so the operator sees what happens.
 */
export async function restore(config: Config, options: RestoreCommandOptions): Promise<RestoreOutcome> {
  const env = options.env ?? process.env;
  const loaded = jobByName(config, options.job);
  const identityFile = options.identityFile ?? env.BACKDRILL_IDENTITY_FILE;
  if (identityFile === undefined || identityFile === "") {
    throw new UsageError("restore needs the age identity that opens the backups: pass --identity FILE", {
      hint: "or set BACKDRILL_IDENTITY_FILE; the identity is kept off the backup host, fetch it from where it is held",
    });
  }
  const identities = await readIdentityFile(identityFile);
  const engine = await engineFor(loaded.job.kind);
  const repository = await openRepository(policyOf(config, loaded), env);
  try {
    await repository.assertInitialized();
    // `latest` never quietly means "the newest one whose manifest survived" (see snapshot-check.ts).
    const manifest: SnapshotManifest = await selectDrillSnapshot(
      repository,
      loaded.job.name,
      options.snapshot,
      "restoring",
    );
    const facts = await repository.readFacts<Record<string, unknown>>(manifest, identities);
    const artifacts: ArtifactReader = {
      snapshot: manifest,
      names: () => manifest.artifacts.map((a) => a.name).filter((name) => name !== FACTS_ARTIFACT),
      open: (name, openOptions) => repository.openArtifact(manifest, name, identities, openOptions ?? {}),
    };
    return await withScope(
      async (scope) => {
        const context = {
          job: loaded.job,
          artifacts,
          facts,
          options: {
            to: options.to,
            force: options.force,
            extra: { ...options.extra, identity: identityFile },
          },
          walSource: walSourceFor(repository, loaded.job.name, identities),
          log: options.log.child({ job: loaded.job.name, snapshot: manifest.id }),
          signal: options.signal,
          scope,
          env,
          configDir: config.dir,
        };
        const plan = await engine.planRestore(context);
        if (!options.dryRun) {
          context.log.info({ steps: plan.steps }, "restore started");
          await engine.restore(context, plan);
          context.log.info("restore finished");
        }
        return {
          job: loaded.job.name,
          snapshot: manifest.id,
          createdAt: manifest.createdAt,
          dryRun: options.dryRun,
          plan,
        };
      },
      (what, error) => options.log.warn({ err: error }, `cleanup of ${what} failed`),
    );
  } finally {
    await repository.backend.close();
  }
}
