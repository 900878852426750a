/**
 * Copies one job from a repository into a second one (`backdrill copy`, a policy's `copies:`):
 * committed snapshots, the WAL archive and the drill history, as the bytes they are (ciphertext,
 * signed manifests): no key is needed, and a signed manifest still verifies in the copy.
 *
 * The same commit protocol as a backup: per snapshot, every artifact first (each streamed from
 * the source through a check against the source manifest's size and sha256, then read back from
 * the target and checked again), then the manifest, then its copy. An interrupted copy leaves
 * artifacts without a manifest: in the target that is an interrupted run (a leftover), never a
 * snapshot that looks complete, and the next copy resumes it, keeping every artifact already
 * there with the recorded size and sha256.
 *
 * Only trusted source snapshots are copied (repository.ts listSnapshots judges each manifest
 * against the source's trust); refused and unreadable ones are named and left behind. The copy
 * is judged again with the target's trust once written. WAL and history objects are copied as
 * is (their readers judge them in the copy as in the source), only under names of their layout.
 */
import { createHash } from "node:crypto";
import { pipeline, Readable } from "node:stream";
import { IntegrityError, NotFoundError } from "../errors.js";
import type { Backend } from "../storage/backend.js";
import { layout, parseDrillHistoryKey } from "./layout.js";
import type { ArtifactRecord, SnapshotManifest } from "./manifest.js";
import { assessManifest } from "./manifest-trust.js";
import type { Repository } from "./repository.js";
import { DigestStream } from "../streams/digest.js";

/** What the copy wrote, for progress and for tests that count writes. */
export interface CopyEvent {
  what: "artifact" | "manifest" | "wal" | "history";
  key: string;
  bytes: number;
}

export interface CopyJobOptions {
  signal?: AbortSignal;
  /** Called after each object is stored in the target. */
  onStored?: (event: CopyEvent) => void;
  /**
   * Runs right before each manifest is written and stops the commit by throwing: the target
   * job lock's check that this run still holds it (as a backup's commit does).
   */
  confirmCommit?: () => Promise<void>;
}

export interface CopyJobResult {
  job: string;
  snapshots: { copied: string[]; present: string[]; resumed: string[] };
  artifacts: { copied: number; kept: number; bytes: number };
  wal: { copied: number; kept: number };
  history: { copied: number; kept: number };
  /** Source manifests not copied (refused by trust checks, unreadable), one line each. */
  refused: string[];
  /**
   * Unsigned source manifests under signing, not copied (snapshots from before signing was set
   * up, which the copy's readers would refuse as well): a warning, as in `status`.
   */
  unsigned: string[];
  /** Snapshots that could not be copied or whose copy does not verify, one line each. */
  problems: string[];
}

const WAL_OBJECT = /^wal\/[^/]+\/[A-Za-z0-9._-]{1,128}\.(age|sha256)$/;

/** sha256 and size of an object, or null when it does not exist. */
async function digestOf(
  backend: Backend,
  key: string,
  signal?: AbortSignal,
): Promise<{ size: number; sha256: string } | null> {
  let stream: Readable;
  try {
    stream = await backend.get(key, signal === undefined ? {} : { signal });
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest("hex") };
}

async function readBytes(backend: Backend, key: string, signal?: AbortSignal): Promise<Buffer | null> {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of await backend.get(key, signal === undefined ? {} : { signal }))
      chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
}

export async function copyJob(
  source: Repository,
  target: Repository,
  job: string,
  options: CopyJobOptions = {},
): Promise<CopyJobResult> {
  const signal = options.signal;
  const result: CopyJobResult = {
    job,
    snapshots: { copied: [], present: [], resumed: [] },
    artifacts: { copied: 0, kept: 0, bytes: 0 },
    wal: { copied: 0, kept: 0 },
    history: { copied: 0, kept: 0 },
    refused: [],
    unsigned: [],
    problems: [],
  };
  const listing = await source.listSnapshots(job);
  for (const damaged of listing.damaged) result.refused.push(`${damaged.problem}; not copied`);
  for (const refused of listing.refused) {
    (refused.reason === "unsigned" ? result.unsigned : result.refused).push(`${refused.problem}; not copied`);
  }

  await target.init();
  for (const manifest of listing.snapshots) {
    signal?.throwIfAborted();
    await copySnapshot(source, target, manifest, result, options);
  }
  await copyPrefix(
    source,
    target,
    layout.walPrefix(job),
    "wal",
    (key) => WAL_OBJECT.test(key),
    result.wal,
    options,
  );
  await copyPrefix(
    source,
    target,
    layout.drillHistoryPrefix(job),
    "history",
    (key) => parseDrillHistoryKey(key)?.job === job,
    result.history,
    options,
  );
  return result;
}

async function copySnapshot(
  source: Repository,
  target: Repository,
  manifest: SnapshotManifest,
  result: CopyJobResult,
  options: CopyJobOptions,
): Promise<void> {
  const { job, id } = manifest;
  const signal = options.signal;
  const manifestKey = layout.manifest(job, id);
  // The bytes copied are the bytes judged: read once, judged again (the listing read them earlier).
  const raw = await source.readManifestText(job, id);
  const judged = assessManifest(raw, manifestKey, { job, id }, source.trust);
  if (judged.status !== "trusted") {
    result.refused.push(`${judged.problem}; not copied`);
    return;
  }
  const existing = await readBytes(target.backend, manifestKey, signal);
  if (existing !== null) {
    if (existing.toString("utf8") === raw) {
      result.snapshots.present.push(id);
      // A copy interrupted between the manifest and its copy: finish it.
      if ((await target.backend.stat(layout.manifestCopy(job, id))) === null) {
        await putBytes(target.backend, layout.manifestCopy(job, id), Buffer.from(raw), false, signal);
      }
    } else {
      result.problems.push(
        `snapshot ${job}/${id}: the copy already holds a different manifest at ${manifestKey}; left as is (check who writes to the copy)`,
      );
    }
    return;
  }
  let kept = 0;
  for (const record of judged.manifest.artifacts) {
    signal?.throwIfAborted();
    if (await artifactPresent(target, record, signal)) {
      kept += 1;
      result.artifacts.kept += 1;
      continue;
    }
    const stream = await source.openCiphertext(
      judged.manifest,
      record,
      signal === undefined ? {} : { signal },
    );
    await target.backend.put(record.path, stream, {
      overwrite: true,
      contentLength: record.size,
      ...(signal === undefined ? {} : { signal }),
    });
    // Read back: the target holds what the manifest records, or the snapshot is not committed.
    const stored = await digestOf(target.backend, record.path, signal);
    if (stored === null || stored.size !== record.size || stored.sha256 !== record.sha256) {
      result.problems.push(
        `snapshot ${job}/${id}: artifact ${record.name} does not read back from the copy with the recorded size and sha256; the snapshot is not committed there`,
      );
      return;
    }
    result.artifacts.copied += 1;
    result.artifacts.bytes += record.size;
    options.onStored?.({ what: "artifact", key: record.path, bytes: record.size });
  }
  if (kept > 0) result.snapshots.resumed.push(id);
  signal?.throwIfAborted();
  // The commit: the manifest as is (signature included), then its copy, like a backup.
  await options.confirmCommit?.();
  const body = Buffer.from(raw);
  await putBytes(target.backend, manifestKey, body, false, signal);
  options.onStored?.({ what: "manifest", key: manifestKey, bytes: body.length });
  await putBytes(target.backend, layout.manifestCopy(job, id), body, false, signal);
  const check = await target.assess(manifestKey, { job, id });
  if (check.status !== "trusted") {
    result.problems.push(`snapshot ${job}/${id}: copied, but the copy's readers refuse it: ${check.problem}`);
    return;
  }
  result.snapshots.copied.push(id);
}

/** The artifact is in the target with the recorded size and sha256 (read and hashed to be sure). */
async function artifactPresent(
  target: Repository,
  record: ArtifactRecord,
  signal?: AbortSignal,
): Promise<boolean> {
  const info = await target.backend.stat(record.path);
  if (info === null || info.size !== record.size) return false;
  const digest = await digestOf(target.backend, record.path, signal);
  return digest !== null && digest.size === record.size && digest.sha256 === record.sha256;
}

async function putBytes(
  backend: Backend,
  key: string,
  body: Buffer,
  overwrite: boolean,
  signal?: AbortSignal,
): Promise<void> {
  await backend.put(key, Readable.from([body]), {
    overwrite,
    contentLength: body.length,
    ...(signal === undefined ? {} : { signal }),
  });
}

/**
 * Copies every object under `prefix` that `accept` takes and the target does not hold with the
 * same size: small records are compared by content, WAL ciphertext (written once, never changed
 * under its name) by size. Each copy is checked by sha256 against the bytes read from the source.
 */
async function copyPrefix(
  source: Repository,
  target: Repository,
  prefix: string,
  what: "wal" | "history",
  accept: (key: string) => boolean,
  counts: { copied: number; kept: number },
  options: CopyJobOptions,
): Promise<void> {
  const signal = options.signal;
  const present = new Map<string, number>();
  for await (const info of target.backend.list(prefix)) present.set(info.key, info.size);
  for await (const info of source.backend.list(prefix)) {
    signal?.throwIfAborted();
    if (!accept(info.key)) continue;
    const small = !info.key.endsWith(".age");
    if (present.get(info.key) === info.size) {
      if (!small) {
        counts.kept += 1;
        continue;
      }
      const [mine, theirs] = await Promise.all([
        readBytes(source.backend, info.key, signal),
        readBytes(target.backend, info.key, signal),
      ]);
      if (mine !== null && theirs !== null && mine.equals(theirs)) {
        counts.kept += 1;
        continue;
      }
    }
    let body: Readable;
    try {
      body = await source.backend.get(info.key, signal === undefined ? {} : { signal });
    } catch (error) {
      if (error instanceof NotFoundError) continue; // removed meanwhile (prune)
      throw error;
    }
    // Streamed (a WAL segment is 16 MiB): hashed on the way, compared with what reads back.
    const digest = new DigestStream();
    const hashed = pipeline(body, digest, () => undefined) as unknown as Readable;
    await target.backend.put(info.key, hashed, {
      overwrite: true,
      ...(signal === undefined ? {} : { signal }),
    });
    const stored = await digestOf(target.backend, info.key, signal);
    if (stored === null || stored.sha256 !== digest.sha256 || stored.size !== digest.size) {
      throw new IntegrityError(
        `${what} ${info.key}: the copy does not read back with the sha256 just written`,
      );
    }
    counts.copied += 1;
    options.onStored?.({ what, key: info.key, bytes: digest.size });
  }
}

/** The newest trusted snapshot id of `job` in a repository, or null (for `status`' copy lag). */
export async function newestSnapshot(repository: Repository, job: string): Promise<SnapshotManifest | null> {
  if (!(await repository.isInitialized())) return null;
  return (await repository.snapshots(job)).at(-1) ?? null;
}
