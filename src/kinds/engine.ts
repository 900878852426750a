/**
 * The contract between the orchestration (backup runner, drill runner, restore command) and one
 * job kind. An engine produces and consumes plaintext streams and knows nothing of storage or
 * encryption: the runner hands it an ArtifactWriter that encrypts and stores, and an
 * ArtifactReader that fetches, verifies and decrypts.
 */
import type { Readable } from "node:stream";
import type { Logger } from "../log/logger.js";
import type { Scope } from "../lifecycle/scope.js";
import type { ArtifactRecord, ManifestMeta, SnapshotManifest } from "../repository/manifest.js";
import type { WalSource } from "./postgres-base/types.js";

export interface JobLike {
  name: string;
  kind: string;
}

export interface ArtifactWriter {
  /** The snapshot id the artifacts belong to (sortable by time); e.g. to name a files snapshot dir. */
  readonly id: string;
  /** Streams plaintext into the snapshot; resolves once durably stored (encrypted). */
  addArtifact(name: string, plaintext: Readable, options?: { signal?: AbortSignal }): Promise<ArtifactRecord>;
}

export interface ArtifactReader {
  readonly snapshot: SnapshotManifest;
  /** Names of the data artifacts (the facts artifact excluded). */
  names(): string[];
  /** Plaintext of one artifact; the stream errors if the ciphertext is damaged or does not decrypt. */
  open(name: string, options?: { signal?: AbortSignal }): Promise<Readable>;
}

export interface OperationContext {
  log: Logger;
  /** Aborted on Ctrl-C / SIGTERM or when the run is cancelled; engines pass it to every await. */
  signal: AbortSignal;
  /** Owner of containers, temp dirs and processes the engine creates; released by the runner. */
  scope: Scope;
  /** Environment for resolving `*Env` secrets. */
  env: NodeJS.ProcessEnv;
  /** The config directory, for resolving relative paths. */
  configDir: string;
}

export interface BackupContext<J extends JobLike> extends OperationContext {
  job: J;
  snapshot: ArtifactWriter;
}

export interface BackupOutcome {
  /** Describes the data (row counts, names): stored encrypted as the facts artifact. */
  facts: Record<string, unknown>;
  /** Non-secret, non-descriptive metadata for the plaintext manifest (versions, LSNs, sizes). */
  meta: ManifestMeta;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface DrillContext<J extends JobLike, T> extends OperationContext {
  job: J;
  target: T;
  artifacts: ArtifactReader;
  /** The decrypted facts recorded at backup time. */
  facts: Record<string, unknown>;
  /** The job's continuous WAL archive (postgres-base), read and decrypted with the same identities. */
  walSource?: WalSource;
}

export interface DrillOutcome {
  checks: CheckResult[];
  /** Milliseconds spent restoring (incl. download + decrypt when streamed) and checking. */
  timings: { restoreMs: number; checksMs: number };
  /** Kind-specific numbers for the report (bytes, tables, files, segments replayed...). */
  details?: Record<string, unknown>;
}

export interface RestoreOptions {
  /** Where to restore: a DSN, a path, a URL, depending on the kind. */
  to: string;
  force: boolean;
  /** Kind-specific options from the CLI (e.g. database, at). */
  extra: Record<string, string | undefined>;
}

export interface RestorePlan {
  /** Human-readable steps, printed by --dry-run and before a real restore. */
  steps: string[];
  warnings: string[];
}

export interface RestoreContext<J extends JobLike> extends OperationContext {
  job: J;
  artifacts: ArtifactReader;
  facts: Record<string, unknown>;
  options: RestoreOptions;
  /** As in DrillContext. */
  walSource?: WalSource;
}

export interface Engine<J extends JobLike, T = unknown> {
  readonly kind: J["kind"];
  /** Produces artifacts and facts. Must not commit anything itself: the runner commits. */
  backup(context: BackupContext<J>): Promise<BackupOutcome>;
  /** Restores into throwaway containers owned by context.scope and checks. */
  drill(context: DrillContext<J, T>): Promise<DrillOutcome>;
  /** Pure: what a restore would do. Used by --dry-run and printed before a restore. */
  planRestore(context: RestoreContext<J>): Promise<RestorePlan>;
  restore(context: RestoreContext<J>, plan: RestorePlan): Promise<void>;
}
