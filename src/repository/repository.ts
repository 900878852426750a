import { hostname } from "node:os";
import { PassThrough, pipeline, Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { createDecryptStream } from "../crypto/decrypt.js";
import { createEncryptStream } from "../crypto/encrypt.js";
import { DecryptionError, IntegrityError, NotFoundError, UsageError } from "../errors.js";
import type { Backend } from "../storage/backend.js";
import { compressStage, decompressStage, readCompression, type Compression } from "../streams/compression.js";
import { DigestStream, VerifyingStream } from "../streams/digest.js";
import { VERSION } from "../version.js";
import { layout, MANIFEST_COPY_FILE, parseDataKey, parseManifestKey } from "./layout.js";
import {
  ARTIFACT_NAME,
  FACTS_ARTIFACT,
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_COMPRESSED,
  type ArtifactRecord,
  type ManifestMeta,
  type SnapshotManifest,
} from "./manifest.js";
import {
  assessManifest,
  renderManifest,
  type ManifestAssessment,
  type RefusalReason,
} from "./manifest-trust.js";
import { isSnapshotId, newSnapshotId, snapshotIdTime } from "./snapshot-id.js";
import { makeTrust, type RepositoryTrust } from "./trust.js";
import type { SigningKey } from "../crypto/signing.js";

const MARKER = { format: "backdrill", version: 1 } as const;

export interface DamagedManifest {
  key: string;
  problem: string;
}

/**
 * A manifest that parses but is not acted on (manifest-trust.ts): never "latest", never counted
 * or deleted by retention, never drilled or restored. `manifest` is as read, for naming only.
 */
export interface RefusedManifest {
  key: string;
  job: string;
  id: string;
  reason: RefusalReason;
  /** One line naming the snapshot and what is wrong. */
  problem: string;
  manifest: SnapshotManifest;
}

export interface SnapshotListing {
  /** Trusted snapshots, oldest first: the only ones anything acts on. */
  snapshots: SnapshotManifest[];
  /** Unreadable manifests. */
  damaged: DamagedManifest[];
  /** Readable but refused manifests (bad or missing signature, structure, dated in the future). */
  refused: RefusedManifest[];
}

export interface RepositoryOptions {
  /** What readers trust (trust.ts); default: no signing, structural checks only. */
  trust?: RepositoryTrust;
  /** The backup host's signing key: manifests (and WAL records) written through this repository are signed. */
  signer?: SigningKey;
}

export interface Leftover {
  job: string;
  id: string;
  keys: string[];
}

/** A committed snapshot whose manifest is gone: its data directory still holds the manifest copy. */
export interface LostManifest {
  job: string;
  id: string;
  /** Where the manifest belongs. */
  manifestKey: string;
  /** The copy written right after the manifest at commit. */
  copyKey: string;
  /** Every object of the snapshot's data directory, the copy included. */
  keys: string[];
}

/** What one listing of the data directories says, against the manifests present. */
export interface DataScan {
  /** No manifest, no copy: interrupted runs (or one running right now). */
  leftovers: Leftover[];
  /** Copy, no manifest: committed snapshots whose manifest was deleted. Damage. */
  lost: LostManifest[];
  /** `<job>/<id>` of every data directory holding a manifest copy. */
  withCopy: Set<string>;
}

/** The one-line damage message for a committed snapshot whose manifest was deleted. */
export function lostManifestMessage(job: string, id: string): string {
  return (
    `snapshot ${job}/${id}: manifest ${layout.manifest(job, id)} is missing (a copy is at ` +
    `${layout.manifestCopy(job, id)}): the snapshot was committed and its manifest was deleted; ` +
    `restore the manifest from the copy (backdrill verify ${job} --repair, or copy the file back)`
  );
}

/** Names the kind of mismatch: a size difference (truncated, appended to) or a sha256 difference. */
function artifactMismatch(
  manifest: SnapshotManifest,
  record: ArtifactRecord,
  actual: { size: number; sha256: string },
): IntegrityError {
  const what = `snapshot ${manifest.job}/${manifest.id}: artifact ${record.name} is damaged`;
  if (actual.size !== record.size) {
    return new IntegrityError(
      `${what}: size mismatch (${actual.size < record.size ? "truncated to " : ""}${actual.size} bytes` +
        `${actual.size > record.size ? " or more" : ""}, the manifest records ${record.size}; ${record.path})`,
    );
  }
  return new IntegrityError(
    `${what}: sha256 mismatch (sha256 ${actual.sha256.slice(0, 16)}…, the manifest records ` +
      `${record.sha256.slice(0, 16)}…; ${record.path})`,
  );
}

/** A read error of an artifact, named after its snapshot and artifact unless it already is. */
function artifactReadError(manifest: SnapshotManifest, record: ArtifactRecord, error: Error): Error {
  if (error instanceof IntegrityError && error.message.startsWith("snapshot ")) return error;
  if (error instanceof DecryptionError) {
    return new DecryptionError(
      `snapshot ${manifest.job}/${manifest.id}: artifact ${record.name} does not decrypt: ${error.message}`,
      { cause: error, ...(error.hint === undefined ? {} : { hint: error.hint }) },
    );
  }
  return error;
}

/**
 * The stage that decompresses an artifact (null when it is not compressed), bounded by its
 * recorded plain size. The manifest was judged on reading (manifest-trust.ts), which refuses an
 * unknown compression or a compressed artifact without a size; checked again here because this
 * is where the bytes are produced.
 */
function decompressionOf(manifest: SnapshotManifest, record: ArtifactRecord) {
  const where = `snapshot ${manifest.job}/${manifest.id}: artifact ${record.name}`;
  const compression = readCompression(record.compression);
  if (!compression.ok) throw new IntegrityError(`${where}: ${compression.problem}`);
  if (compression.compression === "none") return null;
  if (record.plainSize === undefined)
    throw new IntegrityError(`${where}: compressed, but its plain size is not recorded`);
  return decompressStage(
    compression.compression,
    record.plainSize,
    (problem) => new IntegrityError(`${where}: ${problem}`),
  );
}

/**
 * Listing prefixes that cover every data directory of `job` whose id is newer than `after`: one
 * per UTC day from `after`'s day to two days ahead (ids start with their creation time; the days
 * ahead allow for another host's clock), or the whole job prefix when that would be many (a job
 * that stopped backing up long ago).
 */
function newerDataPrefixes(job: string, after: string, now: Date): string[] {
  if (!isSnapshotId(after)) return [layout.dataPrefix(job)];
  const day = 86_400_000;
  const first = Math.floor(snapshotIdTime(after).getTime() / day);
  const last = Math.floor(now.getTime() / day) + 2;
  if (last - first > 62) return [layout.dataPrefix(job)];
  const prefixes: string[] = [];
  for (let n = first; n <= last; n += 1) {
    const stamp = new Date(n * day).toISOString().slice(0, 10).replace(/-/g, "");
    prefixes.push(`${layout.dataPrefix(job)}${stamp}`);
  }
  return prefixes;
}

/**
 * A backdrill repository over any Backend. It owns the layout and the commit protocol:
 * artifacts are encrypted before they reach the backend (the backend never sees plaintext), and a
 * snapshot exists only once its manifest is written, after every artifact is durably stored.
 */
export class Repository {
  readonly trust: RepositoryTrust;
  readonly signer: SigningKey | undefined;

  constructor(
    readonly backend: Backend,
    options: RepositoryOptions = {},
  ) {
    this.trust = options.trust ?? makeTrust();
    this.signer = options.signer;
  }

  /** Whether readers require signatures (the policy, or the drill, names signing keys). */
  get signingRequired(): boolean {
    return this.trust.publicKeys !== null;
  }

  get location(): string {
    return this.backend.location;
  }

  /** Writes the format marker if absent. Idempotent; refuses a marker of another format. */
  async init(): Promise<{ created: boolean }> {
    const existing = await this.readMarker();
    if (existing !== null) return { created: false };
    const body = JSON.stringify({ ...MARKER, createdAt: new Date().toISOString() }, null, 2) + "\n";
    try {
      await this.backend.put(layout.marker, Readable.from([Buffer.from(body)]), { overwrite: false });
    } catch (error) {
      // Two runs initialising the same repository at once: the other one won, which is fine.
      if ((await this.readMarker()) === null) throw error;
      return { created: false };
    }
    return { created: true };
  }

  /** Whether a backup has initialised the repository (its format marker is there). */
  async isInitialized(): Promise<boolean> {
    return (await this.backend.stat(layout.marker)) !== null;
  }

  /** Fails with a clear message when the location holds no backdrill repository. */
  async assertInitialized(): Promise<void> {
    if ((await this.readMarker()) === null) {
      throw new UsageError(`no backdrill repository at ${this.location}`, {
        hint: "run a backup first (it initialises the repository), or check the policy's repository settings",
      });
    }
  }

  private async readMarker(): Promise<Record<string, unknown> | null> {
    let stream: Readable;
    try {
      stream = await this.backend.get(layout.marker);
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
    const raw = await text(stream);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = null;
    }
    if (
      parsed === null ||
      typeof parsed !== "object" ||
      (parsed as { format?: unknown }).format !== MARKER.format
    ) {
      throw new IntegrityError(`${this.location}/${layout.marker} is not a backdrill repository marker`);
    }
    const version = (parsed as { version?: unknown }).version;
    if (version !== MARKER.version) {
      throw new UsageError(
        `repository ${this.location} has format version ${String(version)}; this backdrill reads version ${MARKER.version}`,
        { hint: "upgrade backdrill" },
      );
    }
    return parsed as Record<string, unknown>;
  }

  /**
   * Committed snapshots, oldest first: only trusted ones (manifest-trust.ts). Unreadable manifests
   * and refused ones (a bad or missing signature, a contradicting structure, dated in the future)
   * are returned separately so every reader can name them, and none acts on them.
   */
  async listSnapshots(job?: string): Promise<SnapshotListing> {
    const listing: SnapshotListing = { snapshots: [], damaged: [], refused: [] };
    for await (const info of this.backend.list(layout.manifestsPrefix(job))) {
      const parts = parseManifestKey(info.key);
      if (parts === null) continue;
      let assessment: ManifestAssessment;
      try {
        assessment = await this.assess(info.key, parts);
      } catch (error) {
        listing.damaged.push({
          key: info.key,
          problem: error instanceof Error ? error.message : String(error),
        });
        continue;
      }
      if (assessment.status === "damaged") {
        listing.damaged.push({ key: info.key, problem: assessment.problem });
      } else if (assessment.status === "refused") {
        listing.refused.push({ key: info.key, ...parts, ...refusal(assessment) });
      } else if (assessment.future) {
        const { manifest } = assessment;
        listing.refused.push({
          key: info.key,
          ...parts,
          reason: "future",
          problem: `snapshot ${parts.job}/${parts.id}: dated in the future (created ${manifest.createdAt}, finished ${manifest.finishedAt}; this host's clock says ${this.trust.now().toISOString()}): a wrong clock on the backup host, or a forged manifest; not counted as the newest snapshot nor by retention`,
          manifest,
        });
      } else {
        listing.snapshots.push(assessment.manifest);
      }
    }
    listing.snapshots.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.job.localeCompare(b.job)));
    listing.refused.sort((a, b) => a.id.localeCompare(b.id));
    return listing;
  }

  async snapshots(job?: string): Promise<SnapshotManifest[]> {
    return (await this.listSnapshots(job)).snapshots;
  }

  /**
   * One snapshot by id, or the newest trusted one with `latest`. NotFoundError names the job; a
   * manifest that is unreadable or refused is an IntegrityError naming the snapshot and why. An
   * explicit id may be dated in the future (a backup host whose clock ran ahead): asked for by
   * name, it is used; it only never becomes `latest`.
   */
  async snapshot(job: string, id = "latest"): Promise<SnapshotManifest> {
    if (id === "latest") {
      const all = await this.snapshots(job);
      const newest = all.at(-1);
      if (newest === undefined) throw new NotFoundError(`snapshot of job ${job} (the repository has none)`);
      return newest;
    }
    if (!isSnapshotId(id)) {
      throw new UsageError(
        `"${id}" is not a snapshot id (expected e.g. 20261128T021500Z-3f9a1c or "latest")`,
      );
    }
    let assessment: ManifestAssessment;
    try {
      assessment = await this.assess(layout.manifest(job, id), { job, id });
    } catch (error) {
      if (error instanceof NotFoundError) throw new NotFoundError(`snapshot ${id} of job ${job}`);
      throw error;
    }
    if (assessment.status === "damaged") throw new IntegrityError(assessment.problem);
    if (assessment.status === "refused") throw refusedError(assessment.problem);
    return assessment.manifest;
  }

  /** Reads and judges the manifest stored under `key` (NotFoundError when there is none). */
  async assess(key: string, expected: { job: string; id: string } | null): Promise<ManifestAssessment> {
    return assessManifest(await text(await this.backend.get(key)), key, expected, this.trust);
  }

  /** Starts a snapshot. Nothing is visible to readers until `commit()`. */
  createSnapshot(options: { job: string; kind: string; recipients: string[]; at?: Date }): SnapshotWriter {
    if (options.recipients.length === 0)
      throw new UsageError("no age recipients: cannot encrypt the snapshot");
    return new SnapshotWriter(this, options.job, options.kind, options.recipients, options.at ?? new Date());
  }

  /**
   * Opens an artifact for reading: ciphertext is checked against the manifest's size and sha256
   * and decrypted with `identities`. The stream errors on damage, a wrong identity, or truncation.
   */
  async openArtifact(
    manifest: SnapshotManifest,
    name: string,
    identities: string[],
    options: { signal?: AbortSignal } = {},
  ): Promise<Readable> {
    const record = manifest.artifacts.find((artifact) => artifact.name === name);
    if (record === undefined) {
      throw new NotFoundError(`artifact ${name} in snapshot ${manifest.job}/${manifest.id}`);
    }
    const inflate = decompressionOf(manifest, record);
    const cipher = await this.openCiphertext(manifest, record, options);
    const decrypt = createDecryptStream(identities);
    const plain = inflate ?? decrypt;
    // Not in the pipeline: a decryption error ("chunk 3 failed authentication") must reach the
    // reader named after the snapshot and artifact, whatever stage noticed first.
    const out = new PassThrough();
    const done = (error: Error | null | undefined) => {
      if (error) out.destroy(artifactReadError(manifest, record, error));
    };
    if (inflate === null) pipeline(cipher, decrypt, done);
    else pipeline(cipher, decrypt, inflate, done);
    plain.pipe(out);
    // A reader that stops early (destroys the stream) releases the download behind it.
    out.on("close", () => {
      if (!plain.readableEnded) plain.destroy();
    });
    return out;
  }

  /** The artifact's ciphertext, verified against the manifest at the end of the stream. */
  async openCiphertext(
    manifest: SnapshotManifest,
    record: ArtifactRecord,
    options: { signal?: AbortSignal } = {},
  ): Promise<Readable> {
    let source: Readable;
    try {
      source = await this.backend.get(
        record.path,
        options.signal === undefined ? {} : { signal: options.signal },
      );
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new IntegrityError(
          `snapshot ${manifest.job}/${manifest.id}: artifact ${record.name} is missing (${record.path})`,
          { cause: error },
        );
      }
      throw error;
    }
    const verify = new VerifyingStream(record, (actual) => artifactMismatch(manifest, record, actual));
    return pipeline(source, verify, () => undefined) as unknown as Readable;
  }

  /** Decrypts and parses the snapshot's facts artifact. */
  async readFacts<T = unknown>(manifest: SnapshotManifest, identities: string[]): Promise<T> {
    const raw = await text(await this.openArtifact(manifest, FACTS_ARTIFACT, identities));
    return JSON.parse(raw) as T;
  }

  /**
   * Classifies every data directory (of `job`, or all) against the manifest keys present (parsed
   * or not: a damaged manifest still marks its snapshot as committed). See layout.ts for why the
   * manifest copy tells a deleted manifest from an interrupted run.
   */
  async scanData(job?: string): Promise<DataScan> {
    const manifests = new Set<string>();
    for await (const info of this.backend.list(layout.manifestsPrefix(job))) {
      const parts = parseManifestKey(info.key);
      if (parts !== null) manifests.add(`${parts.job}/${parts.id}`);
    }
    const dirs = new Map<string, { job: string; id: string; keys: string[]; copy: boolean }>();
    for await (const info of this.backend.list(layout.dataPrefix(job))) {
      const parts = parseDataKey(info.key);
      if (parts === null) continue;
      const key = `${parts.job}/${parts.id}`;
      const entry = dirs.get(key) ?? { job: parts.job, id: parts.id, keys: [], copy: false };
      entry.keys.push(info.key);
      if (parts.file === MANIFEST_COPY_FILE) entry.copy = true;
      dirs.set(key, entry);
    }
    const scan: DataScan = { leftovers: [], lost: [], withCopy: new Set() };
    for (const [key, dir] of dirs) {
      if (dir.copy) scan.withCopy.add(key);
      if (manifests.has(key)) continue;
      if (dir.copy && !(await this.confirmLost(dir.job, dir.id))) continue;
      if (dir.copy) {
        scan.lost.push({
          job: dir.job,
          id: dir.id,
          manifestKey: layout.manifest(dir.job, dir.id),
          copyKey: layout.manifestCopy(dir.job, dir.id),
          keys: dir.keys,
        });
      } else {
        scan.leftovers.push({ job: dir.job, id: dir.id, keys: dir.keys });
      }
    }
    const byId = (a: { id: string }, b: { id: string }): number => a.id.localeCompare(b.id);
    scan.leftovers.sort(byId);
    scan.lost.sort(byId);
    return scan;
  }

  /**
   * A listing is not a snapshot: a backup committing, or a prune deleting, while we list could
   * make a snapshot look like it lost its manifest. Checked again, in this order: the manifest is
   * absent now, and the copy still present after that. A commit writes the manifest before the
   * copy, and a delete removes the copy before the manifest, so neither passes both checks.
   */
  private async confirmLost(job: string, id: string): Promise<boolean> {
    if ((await this.backend.stat(layout.manifest(job, id))) !== null) return false;
    return (await this.backend.stat(layout.manifestCopy(job, id))) !== null;
  }

  /**
   * Artifact directories with neither manifest nor manifest copy: interrupted runs (or one running
   * right now), which prune removes. A directory with the copy is a committed snapshot that lost
   * its manifest (`lostManifests`), never a leftover: prune must not delete it.
   */
  async leftovers(job?: string): Promise<Leftover[]> {
    return (await this.scanData(job)).leftovers;
  }

  /**
   * Committed snapshots of `job` whose manifest was deleted, oldest first. With `after` (a
   * snapshot id), only those newer than it, listing just the days since (cheap even when the
   * job's older snapshots hold many objects).
   */
  async lostManifests(job: string, options: { after?: string; now?: Date } = {}): Promise<LostManifest[]> {
    const prefixes =
      options.after === undefined
        ? [layout.dataPrefix(job)]
        : newerDataPrefixes(job, options.after, options.now ?? new Date());
    const withCopy = new Map<string, string[]>();
    for (const prefix of prefixes) {
      for await (const info of this.backend.list(prefix)) {
        const parts = parseDataKey(info.key);
        if (parts === null || parts.job !== job) continue;
        if (options.after !== undefined && parts.id <= options.after) continue;
        const keys = withCopy.get(parts.id) ?? [];
        keys.push(info.key);
        withCopy.set(parts.id, keys);
      }
    }
    const lost: LostManifest[] = [];
    for (const [id, keys] of [...withCopy].sort(([a], [b]) => a.localeCompare(b))) {
      const copyKey = layout.manifestCopy(job, id);
      if (!keys.includes(copyKey)) continue;
      if (!(await this.confirmLost(job, id))) continue;
      lost.push({ job, id, manifestKey: layout.manifest(job, id), copyKey, keys });
    }
    return lost;
  }

  /**
   * Reads the manifest copy of a snapshot: null when there is none; the raw text otherwise.
   */
  async readManifestCopy(job: string, id: string): Promise<string | null> {
    try {
      return await text(await this.backend.get(layout.manifestCopy(job, id)));
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
  }

  /** The raw text of a manifest, as stored. */
  async readManifestText(job: string, id: string): Promise<string> {
    return text(await this.backend.get(layout.manifest(job, id)));
  }

  /**
   * Puts a lost manifest back from its copy, after checking that the copy is a valid manifest of
   * that snapshot and that every artifact it lists is present with its recorded size and sha256.
   * Never overwrites: a manifest that reappeared meanwhile wins.
   */
  async restoreManifestFromCopy(
    job: string,
    id: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<SnapshotManifest> {
    const copyKey = layout.manifestCopy(job, id);
    const raw = await this.readManifestCopy(job, id);
    if (raw === null) throw new NotFoundError(copyKey);
    // The copy is as untrusted as any manifest: a forged copy must not become a manifest.
    const assessment = assessManifest(raw, copyKey, { job, id }, this.trust);
    if (assessment.status === "damaged") throw new IntegrityError(assessment.problem);
    if (assessment.status === "refused") throw refusedError(assessment.problem);
    const { manifest } = assessment;
    for (const record of manifest.artifacts) {
      const stream = await this.openCiphertext(manifest, record, options);
      for await (const _chunk of stream as AsyncIterable<Buffer>) {
        // Reading to the end is the check: the verifying stage fails on any mismatch.
      }
    }
    const body = Buffer.from(raw);
    await this.backend.put(layout.manifest(job, id), Readable.from([body]), {
      overwrite: false,
      contentLength: body.length,
    });
    return manifest;
  }

  /**
   * Removes a snapshot in the reverse order of its commit: the manifest copy, then the manifest,
   * then the artifacts. An interrupted delete leaves a manifest without copy (a warning) or a
   * leftover (cleaned by prune), never a copy without manifest (which would read as a deleted
   * manifest) and never a manifest pointing at missing data.
   */
  async deleteSnapshot(manifest: SnapshotManifest): Promise<void> {
    await this.backend.delete(layout.manifestCopy(manifest.job, manifest.id));
    await this.backend.delete(layout.manifest(manifest.job, manifest.id));
    await this.deleteData(manifest.job, manifest.id);
  }

  async deleteData(job: string, id: string): Promise<number> {
    let removed = 0;
    const keys: string[] = [];
    for await (const info of this.backend.list(layout.dataPrefix(job, id))) keys.push(info.key);
    for (const key of keys) {
      await this.backend.delete(key);
      removed += 1;
    }
    return removed;
  }

  /**
   * Internal to SnapshotWriter: the manifest write is the commit; the copy follows (layout.ts).
   * Returns the copy's error, if any: the snapshot is committed either way, and a missing copy
   * is only a warning of `verify`.
   */
  async writeManifest(manifest: SnapshotManifest): Promise<{ copyError?: unknown }> {
    // Signed when this repository has the signing key: the copy is the same bytes, signature included.
    const body = Buffer.from(renderManifest(manifest, this.signer));
    await this.backend.put(layout.manifest(manifest.job, manifest.id), Readable.from([body]), {
      overwrite: false,
      contentLength: body.length,
    });
    try {
      await this.backend.put(layout.manifestCopy(manifest.job, manifest.id), Readable.from([body]), {
        overwrite: false,
        contentLength: body.length,
      });
      return {};
    } catch (error) {
      return { copyError: error };
    }
  }
}

/** The error for acting on a refused manifest: names the snapshot and why, and that nothing was done. */
export function refusedError(problem: string): IntegrityError {
  return new IntegrityError(`${problem}; refusing to act on it`, {
    hint: "check who can write to the repository (backdrill verify lists every refused manifest); restore another snapshot by id",
  });
}

function refusal(assessment: Extract<ManifestAssessment, { status: "refused" }>): {
  reason: RefusalReason;
  problem: string;
  manifest: SnapshotManifest;
} {
  return { reason: assessment.reason, problem: assessment.problem, manifest: assessment.manifest };
}

/**
 * Collects the artifacts of one snapshot. Each `addArtifact` streams plaintext through
 * encryption and hashing into the backend; `commit` writes the manifest; `abort` removes what was
 * written (best effort: a crash leaves a leftover that `verify` lists and `prune` removes).
 */
export class SnapshotWriter {
  readonly id: string;
  private readonly artifacts: ArtifactRecord[] = [];
  private state: "open" | "committed" | "aborted" = "open";
  /**
   * Why the manifest copy could not be written after the commit, if it could not: the snapshot is
   * valid, but a later deletion of its manifest would look like an interrupted run. For the log.
   */
  copyError: unknown;

  constructor(
    private readonly repository: Repository,
    readonly job: string,
    readonly kind: string,
    private readonly recipients: string[],
    readonly createdAt: Date,
  ) {
    this.id = newSnapshotId(createdAt);
  }

  get written(): readonly ArtifactRecord[] {
    return this.artifacts;
  }

  /** `compression`: applied before encryption (default none), recorded in the artifact's record. */
  async addArtifact(
    name: string,
    plaintext: Readable,
    options: { signal?: AbortSignal; compression?: Compression } = {},
  ): Promise<ArtifactRecord> {
    if (this.state !== "open") throw new Error(`snapshot ${this.id} is ${this.state}`);
    if (!ARTIFACT_NAME.test(name)) throw new UsageError(`invalid artifact name "${name}"`);
    if (this.artifacts.some((artifact) => artifact.name === name)) {
      throw new UsageError(`artifact ${name} added twice to snapshot ${this.id}`);
    }
    const path = layout.artifact(this.job, this.id, name);
    const plainCounter = new DigestStream();
    const encrypt = createEncryptStream(this.recipients);
    const cipherDigest = new DigestStream();
    const body = new PassThrough();
    const compression = options.compression ?? "none";
    const compress = compressStage(compression);
    const flowing = new Promise<void>((resolve, reject) => {
      const done = (error: Error | null | undefined) => (error ? reject(error) : resolve());
      if (compress === null) pipeline(plaintext, plainCounter, encrypt, cipherDigest, body, done);
      else pipeline(plaintext, plainCounter, compress, encrypt, cipherDigest, body, done);
    });
    const stored = this.repository.backend.put(path, body, {
      overwrite: false,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    // Both must succeed: the source may fail (pg_dump error) or the store may (disk full).
    const [flow, store] = await Promise.allSettled([flowing, stored]);
    if (flow.status === "rejected" || store.status === "rejected") {
      if (store.status === "fulfilled") await this.repository.backend.delete(path).catch(() => undefined);
      if (store.status === "rejected" && (flow.status === "fulfilled" || isTornDown(flow.reason))) {
        // A failed store (disk full) tears the pipeline down, and that abort settles first; the
        // store's error is the cause the operator needs to see.
        throw store.reason;
      }
      throw flow.status === "rejected" ? flow.reason : (store as PromiseRejectedResult).reason;
    }
    const record: ArtifactRecord = {
      name,
      path,
      size: cipherDigest.size,
      sha256: cipherDigest.sha256,
      plainSize: plainCounter.size,
      ...(compression === "none" ? {} : { compression }),
    };
    this.artifacts.push(record);
    return record;
  }

  async addJson(name: string, value: unknown): Promise<ArtifactRecord> {
    return this.addArtifact(name, Readable.from([Buffer.from(JSON.stringify(value, null, 2) + "\n")]));
  }

  /**
   * Writes the manifest: from this moment the snapshot exists. `confirm` runs right before the
   * write and stops the commit by throwing: the job lock's check that this run still holds it
   * (a run whose lock was taken over must not commit beside the run that took it).
   */
  async commit(
    meta: ManifestMeta = {},
    options: { confirm?: () => Promise<void> } = {},
  ): Promise<SnapshotManifest> {
    if (this.state !== "open") throw new Error(`snapshot ${this.id} is ${this.state}`);
    await options.confirm?.();
    const manifest: SnapshotManifest = {
      // Format 2 only when needed: older versions keep reading uncompressed snapshots (manifest.ts).
      format: this.artifacts.some((artifact) => artifact.compression !== undefined)
        ? MANIFEST_FORMAT_COMPRESSED
        : MANIFEST_FORMAT,
      id: this.id,
      job: this.job,
      kind: this.kind,
      createdAt: this.createdAt.toISOString(),
      finishedAt: new Date().toISOString(),
      host: hostname(),
      backdrillVersion: VERSION,
      meta,
      artifacts: [...this.artifacts],
    };
    const { copyError } = await this.repository.writeManifest(manifest);
    this.state = "committed";
    this.copyError = copyError;
    return manifest;
  }

  /** Removes the artifacts written so far. Idempotent; a committed snapshot is never touched. */
  async abort(): Promise<void> {
    if (this.state !== "open") return;
    this.state = "aborted";
    await this.repository.deleteData(this.job, this.id);
  }
}

/** An error that only says the stream was torn down because something else failed first. */
function isTornDown(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return (
    error.name === "AbortError" ||
    code === "ABORT_ERR" ||
    code === "ERR_STREAM_PREMATURE_CLOSE" ||
    code === "ERR_STREAM_DESTROYED" ||
    code === "EPIPE"
  );
}
