/**
 * Chains of PostgreSQL 17 incremental base backups: an incremental snapshot's manifest meta names
 * its `parent` and the chain's `chainFull`; restoring it needs every link down to the full backup
 * (pg_combinebackup full incr1 … incrN). The meta is plaintext in the repository, so every link is
 * checked before it is used: the ids are snapshot ids, the parent is a trusted snapshot of the same
 * job (never a refused manifest), the chain ends in the full backup it names, has no cycle and is
 * at most MAX_CHAIN long.
 */
import { IntegrityError } from "../../errors.js";
import type { SnapshotManifest } from "../../repository/manifest.js";
import { isSnapshotId } from "../../repository/snapshot-id.js";
import { parseDurationSeconds } from "../../schema/duration.js";
import type { IncrementalConfig } from "./job-schema.js";

/** Longest chain restored or extended: each link is one more tar to unpack and combine. */
export const MAX_CHAIN = 64;

export type ChainMeta =
  | { type: "full"; manifestSha256: string | null }
  | { type: "incremental"; parent: string; chainFull: string; manifestSha256: string | null };

const SHA256 = /^[0-9a-f]{64}$/;

function hostile(snapshot: string, problem: string): IntegrityError {
  return new IntegrityError(`snapshot ${snapshot}: ${problem}; refusing to use it`, {
    hint: "the manifest was altered in the repository, or a link of the chain was removed: restore another snapshot",
  });
}

/** The chain fields of a manifest meta; a snapshot from before incremental backups is full. */
export function readChainMeta(meta: Record<string, unknown>, snapshot: string): ChainMeta {
  const { backupType, parent, chainFull, manifestSha256 } = meta;
  const sha = typeof manifestSha256 === "string" && SHA256.test(manifestSha256) ? manifestSha256 : null;
  if (manifestSha256 !== undefined && manifestSha256 !== null && sha === null)
    throw hostile(snapshot, "its manifest's backup_manifest checksum is not a SHA-256");
  if (backupType === undefined || backupType === "full") {
    if (parent !== undefined && parent !== null) throw hostile(snapshot, "a full backup that names a parent");
    return { type: "full", manifestSha256: sha };
  }
  if (backupType !== "incremental")
    throw hostile(snapshot, "its manifest's backupType is neither full nor incremental");
  if (
    typeof parent !== "string" ||
    !isSnapshotId(parent) ||
    typeof chainFull !== "string" ||
    !isSnapshotId(chainFull)
  )
    throw hostile(snapshot, "an incremental backup whose parent or chainFull is not a snapshot id");
  return { type: "incremental", parent, chainFull, manifestSha256: sha };
}

/**
 * The chain that restores `snapshot`, full backup first, from the job's trusted snapshots only.
 * `refused` are the ids of manifests the repository refused, to say so instead of "missing".
 */
export function resolveChain(
  snapshot: SnapshotManifest,
  trusted: readonly SnapshotManifest[],
  refused: ReadonlySet<string> = new Set(),
): SnapshotManifest[] {
  const byId = new Map(trusted.filter((item) => item.job === snapshot.job).map((item) => [item.id, item]));
  const chain: SnapshotManifest[] = [snapshot];
  const seen = new Set([snapshot.id]);
  let current = snapshot;
  let meta = readChainMeta(current.meta, current.id);
  const named = meta.type === "incremental" ? meta.chainFull : snapshot.id;
  while (meta.type === "incremental") {
    const parentId = meta.parent;
    if (seen.has(parentId))
      throw hostile(snapshot.id, `its chain of incremental backups has a cycle at ${parentId}`);
    if (parentId >= current.id)
      throw hostile(current.id, `its parent ${parentId} is not older than the snapshot itself`);
    if (chain.length >= MAX_CHAIN)
      throw hostile(snapshot.id, `its chain of incremental backups is longer than ${MAX_CHAIN}`);
    const parent = byId.get(parentId);
    if (parent === undefined) {
      const why = refused.has(parentId)
        ? `its parent ${parentId} is a snapshot the repository refuses (see backdrill snapshots ${snapshot.job})`
        : trusted.some((item) => item.id === parentId)
          ? `its parent ${parentId} belongs to another job`
          : `its parent ${parentId} is not in the repository (job ${snapshot.job})`;
      throw hostile(current.id, why);
    }
    seen.add(parentId);
    chain.push(parent);
    current = parent;
    meta = readChainMeta(current.meta, current.id);
  }
  if (current.id !== named)
    throw hostile(
      snapshot.id,
      `its chain ends in the full backup ${current.id}, its manifest names ${named}`,
    );
  return chain.reverse();
}

/** `retention.keepAlso`: the links of every kept incremental backup's chain. */
export function keepChains(
  kept: readonly SnapshotManifest[],
  all: readonly SnapshotManifest[],
): Array<{ id: string; reason: string }> {
  const keptIds = new Set(kept.map((snapshot) => snapshot.id));
  const extra: Array<{ id: string; reason: string }> = [];
  for (const snapshot of kept) {
    let links: SnapshotManifest[];
    try {
      links = resolveChain(snapshot, all);
    } catch {
      continue;
    }
    for (const link of links) {
      if (!keptIds.has(link.id))
        extra.push({ id: link.id, reason: `needed by the incremental backup ${snapshot.id}` });
    }
  }
  return extra;
}

export type BackupDecision =
  | { type: "full"; reason: string }
  | {
      type: "incremental";
      parent: SnapshotManifest;
      chainFull: string;
      manifestSha256: string;
      position: number;
    };

/**
 * Full or incremental, from the job's `incremental` setting and its trusted snapshots: the newest
 * is the parent when its chain is intact and not due for a new full backup.
 */
export function decideBackup(
  config: IncrementalConfig | undefined,
  history: readonly SnapshotManifest[],
  now: Date,
): BackupDecision {
  if (config === undefined) return { type: "full", reason: "the job does not set incremental" };
  const newest = history.at(-1);
  if (newest === undefined) return { type: "full", reason: "the job has no snapshot yet" };
  let chain: SnapshotManifest[];
  try {
    chain = resolveChain(newest, history);
  } catch (error) {
    return { type: "full", reason: `the newest snapshot's chain is unusable: ${(error as Error).message}` };
  }
  const full = chain[0] ?? newest;
  const sha = readChainMeta(newest.meta, newest.id).manifestSha256;
  if (sha === null)
    return {
      type: "full",
      reason: `snapshot ${newest.id} recorded no backup_manifest checksum (taken before incremental backups)`,
    };
  if (chain.length >= MAX_CHAIN) return { type: "full", reason: `the chain reached ${MAX_CHAIN} backups` };
  if (typeof config.fullEvery === "number") {
    if (chain.length >= config.fullEvery)
      return {
        type: "full",
        reason: `the chain has ${chain.length} backup(s) (fullEvery: ${config.fullEvery})`,
      };
  } else {
    const ageSeconds = (now.getTime() - Date.parse(full.createdAt)) / 1000;
    if (!(ageSeconds < parseDurationSeconds(config.fullEvery)))
      return {
        type: "full",
        reason: `the full backup ${full.id} is older than fullEvery: ${config.fullEvery}`,
      };
  }
  return {
    type: "incremental",
    parent: newest,
    chainFull: full.id,
    manifestSha256: sha,
    position: chain.length,
  };
}
