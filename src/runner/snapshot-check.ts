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
import { isSnapshotId } from "../repository/snapshot-id.js";
import type { SnapshotManifest } from "../repository/manifest.js";
import { lostManifestMessage, type Repository } from "../repository/repository.js";

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

/**
 * The snapshot to drill or restore (`latest` or an id), refusing to fall back to an older one
 * while a newer sibling lost its manifest (`verb` words the refusal: "drilling", "restoring").
 */
export async function selectDrillSnapshot(
  repository: Repository,
  job: string,
  wanted: string,
  verb = "drilling",
): Promise<SnapshotManifest> {
  if (wanted !== "latest") {
    try {
      return await repository.snapshot(job, wanted);
    } catch (error) {
      if (!(error instanceof NotFoundError) || !isSnapshotId(wanted)) throw error;
      // A NotFoundError means the manifest is absent; the copy says whether it ever existed.
      if ((await repository.backend.stat(layout.manifestCopy(job, wanted))) !== null)
        throw new SnapshotDamageError(lostManifestMessage(job, wanted), wanted);
      throw error;
    }
  }
  const { snapshots, damaged } = await repository.listSnapshots(job);
  const newest = snapshots.at(-1);
  // An unreadable manifest newer than the newest good one: the same silent fallback otherwise.
  const newerDamaged = damaged
    .map((entry) => ({ ...entry, id: parseManifestKey(entry.key)?.id ?? "" }))
    .filter((entry) => newest === undefined || entry.id > newest.id)
    .sort((a, b) => a.id.localeCompare(b.id))
    .at(-1);
  if (newerDamaged !== undefined) {
    throw new SnapshotDamageError(
      `snapshot ${job}/${newerDamaged.id}: ${newerDamaged.problem} (a copy may be at ` +
        `${layout.manifestCopy(job, newerDamaged.id)}; backdrill verify ${job} says more); not ${verb} an older snapshot in its place`,
      newerDamaged.id,
    );
  }
  const lost = await repository.lostManifests(job, newest === undefined ? {} : { after: newest.id });
  const newestLost = lost.at(-1);
  if (newestLost !== undefined) {
    const others =
      lost.length > 1 ? ` (and ${lost.length - 1} older snapshot(s) newer than the newest intact one)` : "";
    throw new SnapshotDamageError(
      `${lostManifestMessage(job, newestLost.id)}${others}; not ${verb} an older snapshot in its place`,
      newestLost.id,
    );
  }
  if (newest === undefined) throw new NotFoundError(`snapshot of job ${job} (the repository has none)`);
  return newest;
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
