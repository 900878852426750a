/**
 * What a drill checks about the snapshot itself before any container starts:
 *
 *   - Selection: `latest` must not silently fall back to an older snapshot while a newer committed
 *     one has lost its manifest (its data directory still holds the manifest copy) or has an
 *     unreadable one. The drill
 *     fails with the damage instead: a drill proves that the snapshot a restore would need is
 *     restorable, and that snapshot needs a person to put its manifest back first.
 *   - Integrity: every artifact's ciphertext (the facts included) is read once and checked against
 *     the size and sha256 in the manifest. Checking up front, rather than only while the engine
 *     streams an artifact into its container, catches damage in artifacts an engine reads only in
 *     part (a tar header) or not at all, names the artifact and the kind of damage whatever stage
 *     would have noticed first (age authentication, pg_restore, a JSON parser), and fails a
 *     damaged snapshot in seconds instead of after the containers started. The price is one extra
 *     read of the ciphertext, counted in the report's fetchMs.
 */
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { IntegrityError, NotFoundError } from "../errors.js";
import { layout, parseManifestKey } from "../repository/layout.js";
import { isSnapshotId, snapshotIdTime } from "../repository/snapshot-id.js";
import type { SnapshotManifest } from "../repository/manifest.js";
import { lostManifestMessage, refusedError, type Repository } from "../repository/repository.js";
import { isFuture } from "../repository/trust.js";

/** Artifacts checked at once: enough to overlap latency on S3 for snapshots of many small objects. */
const CHECK_CONCURRENCY = 4;

/** The drill could not use the snapshot it should drill; `snapshot` names it for the report. */
export class SnapshotDamageError extends IntegrityError {
  constructor(
    message: string,
    readonly snapshot: string,
  ) {
    super(message);
  }
}

/** The snapshot chosen, and what the choice passed over that the operator should hear about. */
export interface SelectedSnapshot {
  manifest: SnapshotManifest;
  /** One line each: newer manifests refused or skipped, an unsigned or future-dated choice. */
  warnings: string[];
}

export interface SelectOptions {
  /** Words the refusal: "drilling", "restoring". */
  verb?: string;
  /** The job's kind: a snapshot made by another kind is refused. */
  kind?: string;
}

/**
 * The snapshot to drill or restore (`latest` or an id), acting only on a trusted manifest
 * (repository/manifest-trust.ts):
 *
 *   - `latest` is the newest trusted snapshot that is not dated in the future. Newer manifests
 *     that are refused (a bad or missing signature, a contradicting structure, a future date)
 *     are passed over with a warning: a forged newest manifest never hides the real newest.
 *   - It does not fall back to an older snapshot while a newer one that may be genuine is
 *     damaged: a manifest that lost its manifest file (its copy remains), or an unreadable one.
 *     With signing configured a lost manifest counts only if its copy is trusted, and an
 *     unreadable manifest cannot be genuine-but-unverifiable, so it is passed over with a
 *     warning; without signing they block (a person must look). Future-dated ids never block.
 *   - An explicit id is used if its manifest is trusted, even dated in the future (with a
 *     warning): the operator asked for that one.
 */
export async function selectDrillSnapshot(
  repository: Repository,
  job: string,
  wanted: string,
  options: SelectOptions = {},
): Promise<SelectedSnapshot> {
  const verb = options.verb ?? "drilling";
  const selected =
    wanted === "latest"
      ? await selectLatest(repository, job, verb)
      : await selectById(repository, job, wanted);
  const { manifest } = selected;
  if (options.kind !== undefined && manifest.kind !== options.kind) {
    throw new SnapshotDamageError(
      `snapshot ${job}/${manifest.id} was made by a ${manifest.kind} job, and job ${job} is a ${options.kind} job; refusing to act on it`,
      manifest.id,
    );
  }
  return selected;
}

async function selectById(repository: Repository, job: string, id: string): Promise<SelectedSnapshot> {
  if (!isSnapshotId(id)) {
    // Worded by Repository.snapshot (a UsageError naming the expected form).
    return { manifest: await repository.snapshot(job, id), warnings: [] };
  }
  let assessment;
  try {
    assessment = await repository.assess(layout.manifest(job, id), { job, id });
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    // A NotFoundError means the manifest is absent; the copy says whether it ever existed.
    if ((await repository.backend.stat(layout.manifestCopy(job, id))) !== null)
      throw new SnapshotDamageError(lostManifestMessage(job, id), id);
    throw new NotFoundError(`snapshot ${id} of job ${job}`);
  }
  if (assessment.status === "damaged") throw new SnapshotDamageError(assessment.problem, id);
  if (assessment.status === "refused")
    throw new SnapshotDamageError(refusedError(assessment.problem).message, id);
  const warnings: string[] = [];
  if (assessment.unsigned) warnings.push(unsignedWarning(job, id));
  if (assessment.future) {
    warnings.push(
      `snapshot ${job}/${id} is dated in the future (created ${assessment.manifest.createdAt}): used because it was asked for by id`,
    );
  }
  return { manifest: assessment.manifest, warnings };
}

function unsignedWarning(job: string, id: string): string {
  return `snapshot ${job}/${id} is not signed: used only because unsigned snapshots were allowed (--allow-unsigned)`;
}

function isFutureId(repository: Repository, id: string): boolean {
  return isSnapshotId(id) && isFuture(repository.trust, snapshotIdTime(id).getTime());
}

async function selectLatest(repository: Repository, job: string, verb: string): Promise<SelectedSnapshot> {
  const { snapshots, damaged, refused } = await repository.listSnapshots(job);
  const newest = snapshots.at(-1);
  const newer = (id: string): boolean => newest === undefined || id > newest.id;
  const warnings: string[] = [];
  const passOver = (problem: string): void => {
    warnings.push(`${problem}; not taken as the newest snapshot`);
  };
  for (const entry of refused) if (newer(entry.id)) passOver(entry.problem);

  // An unreadable manifest newer than the newest good one: the same silent fallback otherwise.
  const newerDamaged = damaged
    .map((entry) => ({ ...entry, id: parseManifestKey(entry.key)?.id ?? "" }))
    .filter((entry) => newer(entry.id))
    .sort((a, b) => a.id.localeCompare(b.id));
  let blocking: (typeof newerDamaged)[number] | undefined;
  for (const entry of newerDamaged) {
    if (isFutureId(repository, entry.id) || repository.signingRequired)
      passOver(`snapshot ${job}/${entry.id}: ${entry.problem}`);
    else blocking = entry; // sorted oldest first: the newest such one is named
  }
  if (blocking !== undefined) {
    throw new SnapshotDamageError(
      `snapshot ${job}/${blocking.id}: ${blocking.problem} (a copy may be at ` +
        `${layout.manifestCopy(job, blocking.id)}; backdrill verify ${job} says more); not ${verb} an older snapshot in its place`,
      blocking.id,
    );
  }

  const lost = await repository.lostManifests(job, newest === undefined ? {} : { after: newest.id });
  const genuine: typeof lost = [];
  for (const entry of lost) {
    if (isFutureId(repository, entry.id)) {
      passOver(`snapshot ${job}/${entry.id}: a manifest copy without manifest, dated in the future`);
    } else if (repository.signingRequired) {
      // Only a copy that is itself trusted says a genuine snapshot lost its manifest.
      const copy = await repository.assess(entry.copyKey, { job, id: entry.id }).catch(() => null);
      if (copy?.status === "trusted") genuine.push(entry);
      else passOver(`snapshot ${job}/${entry.id}: a manifest copy without manifest that is not trusted`);
    } else {
      genuine.push(entry);
    }
  }
  const newestLost = genuine.at(-1);
  if (newestLost !== undefined) {
    const others =
      genuine.length > 1
        ? ` (and ${genuine.length - 1} older snapshot(s) newer than the newest intact one)`
        : "";
    throw new SnapshotDamageError(
      `${lostManifestMessage(job, newestLost.id)}${others}; not ${verb} an older snapshot in its place`,
      newestLost.id,
    );
  }
  if (newest === undefined) {
    const passed = warnings.length === 0 ? "" : ` it trusts; passed over: ${warnings.join("; ")}`;
    throw new NotFoundError(`snapshot of job ${job} (the repository has none${passed})`);
  }
  if (repository.trust.allowUnsigned) {
    const chosen = await repository.assess(layout.manifest(job, newest.id), { job, id: newest.id });
    if (chosen.status === "trusted" && chosen.unsigned) warnings.push(unsignedWarning(job, newest.id));
  }
  return { manifest: newest, warnings };
}

/**
 * Reads every artifact's ciphertext and checks it against the manifest. Throws one
 * SnapshotDamageError naming every damaged or missing artifact; nothing is decrypted.
 */
export async function checkSnapshotArtifacts(
  repository: Repository,
  manifest: SnapshotManifest,
  signal: AbortSignal,
): Promise<{ bytes: number }> {
  const problems: string[] = [];
  let bytes = 0;
  const queue = [...manifest.artifacts];
  const worker = async (): Promise<void> => {
    for (let record = queue.shift(); record !== undefined; record = queue.shift()) {
      signal.throwIfAborted();
      try {
        const stream = await repository.openCiphertext(manifest, record, { signal });
        await pipeline(stream, sink());
        bytes += record.size;
      } catch (error) {
        if (signal.aborted) throw error;
        problems.push(error instanceof Error ? error.message : String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CHECK_CONCURRENCY, queue.length) }, worker));
  if (problems.length > 0) {
    problems.sort();
    throw new SnapshotDamageError(problems.join("; "), manifest.id);
  }
  return { bytes };
}

function sink(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}
