/**
 * Restoring an incremental base backup: its chain (chain.ts) from the repository's trusted
 * listing, each link checked, and on the host (`restore --to DIR`) each link's base.tar unpacked
 * into its own private temp dir and combined by `pg_combinebackup -o DIR full incr1 … incrN`
 * (PostgreSQL 17 tools of the job's `tools`). The temp dirs hold plaintext data files: they are
 * owned by the operation's scope and removed as soon as the combine ends, whatever happened.
 * The drill combines inside its own container instead (drill.ts), so nothing lands on its host.
 */
import { IntegrityError, OperationError } from "../../errors.js";
import { makePrivateTempDir } from "../../fs/private-temp-dir.js";
import type { Scope } from "../../lifecycle/scope.js";
import type { Logger } from "../../log/logger.js";
import type { SnapshotManifest } from "../../repository/manifest.js";
import type { Repository } from "../../repository/repository.js";
import { unpackInto } from "../postgres/tar.js";
import { PgTools } from "../postgres/tools.js";
import { resolveChain } from "./chain.js";
import { readBaseMeta } from "./drill.js";
import { BASE_ARTIFACT, type PgBaseJobInput } from "./types.js";

/** The snapshot's chain, full backup first; every link a trusted base backup of the same job. */
export async function loadChain(
  repository: Repository,
  snapshot: SnapshotManifest,
): Promise<SnapshotManifest[]> {
  const listing = await repository.listSnapshots(snapshot.job);
  const chain = resolveChain(snapshot, listing.snapshots, new Set(listing.refused.map((entry) => entry.id)));
  for (const link of chain) {
    readBaseMeta(link.meta, link.id);
    if (!link.artifacts.some((artifact) => artifact.name === BASE_ARTIFACT))
      throw new IntegrityError(
        `snapshot ${link.id} (a link of ${snapshot.id}'s chain) has no ${BASE_ARTIFACT}`,
      );
  }
  return chain;
}

/** `full 2026… → incremental 2026… → …` for plans and logs. */
export function describeChain(chain: readonly SnapshotManifest[]): string {
  return chain.map((link, index) => `${index === 0 ? "full" : "incremental"} ${link.id}`).join(" → ");
}

export interface CombineContext {
  job: PgBaseJobInput;
  repository: Repository;
  identities: readonly string[];
  scope: Scope;
  signal: AbortSignal;
  configDir: string;
  log: Logger;
}

/** Unpacks every link and combines them into `out` (an existing empty directory). */
export async function combineChain(
  context: CombineContext,
  chain: readonly SnapshotManifest[],
  out: string,
): Promise<void> {
  const { signal, scope } = context;
  const tools = new PgTools(context.job.tools, scope, context.configDir);
  await tools.requireMajor("pg_combinebackup", 17, "incremental base backups", signal);
  const dirs: Array<{ path: string; remove(): Promise<void> }> = [];
  try {
    for (const link of chain) {
      const dir = await makePrivateTempDir(scope, "backdrill-chain-", "base backup temp dir");
      dirs.push(dir);
      const input = await context.repository.openArtifact(link, BASE_ARTIFACT, [...context.identities], {
        signal,
      });
      await unpackInto(dir.path, input, signal, `the base backup of snapshot ${link.id}`, {
        symlinks: true,
        hardLinks: true,
      });
    }
    const paths = dirs.map((dir) => dir.path);
    const started = Date.now();
    const result = await tools
      .run("pg_combinebackup", ["-o", out, ...paths], {
        env: {},
        signal,
        description: `pg_combinebackup of ${chain.length} backups (${tools.describe()})`,
        mounts: [...paths, out],
      })
      .catch((error: unknown) => {
        throw new OperationError(
          `pg_combinebackup could not combine ${describeChain(chain)}: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      });
    context.log.info(
      {
        chain: chain.map((link) => link.id),
        ms: Date.now() - started,
        stderr: result.stderr.trim() || undefined,
      },
      "incremental chain combined",
    );
  } finally {
    for (const dir of dirs) await dir.remove();
  }
}
