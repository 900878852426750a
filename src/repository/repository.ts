import { hostname } from "node:os";
import { PassThrough, pipeline, Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { createDecryptStream } from "../crypto/decrypt.js";
import { createEncryptStream } from "../crypto/encrypt.js";
import { IntegrityError, NotFoundError, UsageError } from "../errors.js";
import type { Backend } from "../storage/backend.js";
import { DigestStream, VerifyingStream } from "../streams/digest.js";
import { VERSION } from "../version.js";
import { layout, parseDataKey, parseManifestKey } from "./layout.js";
import {
  FACTS_ARTIFACT,
  MANIFEST_FORMAT,
  manifestSchema,
  type ArtifactRecord,
  type ManifestMeta,
  type SnapshotManifest,
} from "./manifest.js";
import { isSnapshotId, newSnapshotId } from "./snapshot-id.js";

const MARKER = { format: "backdrill", version: 1 } as const;
const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface DamagedManifest {
  key: string;
  problem: string;
}

export interface Leftover {
  job: string;
  id: string;
  keys: string[];
}

/**
 * A backdrill repository over any Backend. It owns the layout and the commit protocol:
 * artifacts are encrypted before they reach the backend (the backend never sees plaintext), and a
 * snapshot exists only once its manifest is written, after every artifact is durably stored.
 */
export class Repository {
  constructor(readonly backend: Backend) {}

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

  /** Committed snapshots, oldest first. Unparseable manifests are returned separately. */
  async listSnapshots(job?: string): Promise<{ snapshots: SnapshotManifest[]; damaged: DamagedManifest[] }> {
    const snapshots: SnapshotManifest[] = [];
    const damaged: DamagedManifest[] = [];
    for await (const info of this.backend.list(layout.manifestsPrefix(job))) {
      const parts = parseManifestKey(info.key);
      if (parts === null) continue;
      try {
        snapshots.push(await this.readManifest(info.key));
      } catch (error) {
        damaged.push({ key: info.key, problem: error instanceof Error ? error.message : String(error) });
      }
    }
    snapshots.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.job.localeCompare(b.job)));
    return { snapshots, damaged };
  }

  async snapshots(job?: string): Promise<SnapshotManifest[]> {
    return (await this.listSnapshots(job)).snapshots;
  }

  /** One snapshot by id, or the newest with `latest`. NotFoundError names the job. */
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
    try {
      return await this.readManifest(layout.manifest(job, id));
    } catch (error) {
      if (error instanceof NotFoundError) throw new NotFoundError(`snapshot ${id} of job ${job}`);
      throw error;
    }
  }

  private async readManifest(key: string): Promise<SnapshotManifest> {
    const raw = await text(await this.backend.get(key));
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new IntegrityError(`manifest ${key} is not valid JSON`);
    }
    const parsed = manifestSchema.safeParse(json);
    if (!parsed.success)
      throw new IntegrityError(`manifest ${key} is malformed: ${parsed.error.issues[0]?.message}`);
    const parts = parseManifestKey(key);
    if (parts !== null && (parts.job !== parsed.data.job || parts.id !== parsed.data.id)) {
      throw new IntegrityError(`manifest ${key} describes ${parsed.data.job}/${parsed.data.id}`);
    }
    return parsed.data;
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
    const cipher = await this.openCiphertext(manifest, record, options);
    const plain = createDecryptStream(identities);
    return pipeline(cipher, plain, () => undefined) as unknown as Readable;
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
    const verify = new VerifyingStream(
      record,
      (actual) =>
        new IntegrityError(
          `snapshot ${manifest.job}/${manifest.id}: artifact ${record.name} is damaged ` +
            `(size ${actual.size}, expected ${record.size}; sha256 ${actual.sha256.slice(0, 16)}…, ` +
            `expected ${record.sha256.slice(0, 16)}…)`,
        ),
    );
    return pipeline(source, verify, () => undefined) as unknown as Readable;
  }

  /** Decrypts and parses the snapshot's facts artifact. */
  async readFacts<T = unknown>(manifest: SnapshotManifest, identities: string[]): Promise<T> {
    const raw = await text(await this.openArtifact(manifest, FACTS_ARTIFACT, identities));
    return JSON.parse(raw) as T;
  }

  /** Artifact directories with no manifest: interrupted runs (or one running right now). */
  async leftovers(job?: string): Promise<Leftover[]> {
    const committed = new Set(
      (await this.snapshots(job)).map((snapshot) => `${snapshot.job}/${snapshot.id}`),
    );
    const found = new Map<string, Leftover>();
    for await (const info of this.backend.list(layout.dataPrefix(job))) {
      const parts = parseDataKey(info.key);
      if (parts === null) continue;
      const key = `${parts.job}/${parts.id}`;
      if (committed.has(key)) continue;
      const entry = found.get(key) ?? { job: parts.job, id: parts.id, keys: [] };
      entry.keys.push(info.key);
      found.set(key, entry);
    }
    return [...found.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * Removes a snapshot: the manifest first, so an interrupted delete leaves a leftover (cleaned by
   * prune) and never a manifest pointing at missing data.
   */
  async deleteSnapshot(manifest: SnapshotManifest): Promise<void> {
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

  /** Internal to SnapshotWriter: the manifest write is the commit. */
  async writeManifest(manifest: SnapshotManifest): Promise<void> {
    const body = Buffer.from(JSON.stringify(manifest, null, 2) + "\n");
    await this.backend.put(layout.manifest(manifest.job, manifest.id), Readable.from([body]), {
      overwrite: false,
      contentLength: body.length,
    });
  }
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

  async addArtifact(
    name: string,
    plaintext: Readable,
    options: { signal?: AbortSignal } = {},
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
    const flowing = new Promise<void>((resolve, reject) => {
      pipeline(plaintext, plainCounter, encrypt, cipherDigest, body, (error) =>
        error ? reject(error) : resolve(),
      );
    });
    const stored = this.repository.backend.put(path, body, {
      overwrite: false,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    // Both must succeed: the source may fail (pg_dump error) or the store may (disk full).
    const [flow, store] = await Promise.allSettled([flowing, stored]);
    if (flow.status === "rejected" || store.status === "rejected") {
      if (store.status === "fulfilled") await this.repository.backend.delete(path).catch(() => undefined);
      throw flow.status === "rejected" ? flow.reason : (store as PromiseRejectedResult).reason;
    }
    const record: ArtifactRecord = {
      name,
      path,
      size: cipherDigest.size,
      sha256: cipherDigest.sha256,
      plainSize: plainCounter.size,
    };
    this.artifacts.push(record);
    return record;
  }

  async addJson(name: string, value: unknown): Promise<ArtifactRecord> {
    return this.addArtifact(name, Readable.from([Buffer.from(JSON.stringify(value, null, 2) + "\n")]));
  }

  /** Writes the manifest: from this moment the snapshot exists. */
  async commit(meta: ManifestMeta = {}): Promise<SnapshotManifest> {
    if (this.state !== "open") throw new Error(`snapshot ${this.id} is ${this.state}`);
    const manifest: SnapshotManifest = {
      format: MANIFEST_FORMAT,
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
    await this.repository.writeManifest(manifest);
    this.state = "committed";
    return manifest;
  }

  /** Removes the artifacts written so far. Idempotent; a committed snapshot is never touched. */
  async abort(): Promise<void> {
    if (this.state !== "open") return;
    this.state = "aborted";
    await this.repository.deleteData(this.job, this.id);
  }
}
