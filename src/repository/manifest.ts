import { z } from "zod";

/**
 * The snapshot manifest: plaintext, holds nothing secret (job, kind, times, versions, and per
 * artifact its ciphertext size and sha256). Written last: its presence is the commit point.
 * Anything describing the data itself (table names, row counts, secret names) lives in the
 * encrypted `facts` artifact instead.
 */
export const MANIFEST_FORMAT = 1;
/**
 * The format of a manifest with a compressed artifact. Written only then, so that a backdrill
 * from before compression refuses such a snapshot (its schema takes format 1 only) instead of
 * restoring compressed bytes as if they were the data; snapshots without compression stay
 * format 1 and readable by it.
 */
export const MANIFEST_FORMAT_COMPRESSED = 2;
/** The newest format this version reads. */
export const MANIFEST_FORMAT_NEWEST = MANIFEST_FORMAT_COMPRESSED;
export const FACTS_ARTIFACT = "facts.json";
/** What an artifact may be called: its name is part of its repository key. */
export const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const artifactRecordSchema = z.object({
  /** Logical name, e.g. `task.dump`, `globals.sql`, `facts.json`. */
  name: z.string().min(1),
  /** Repository key of the ciphertext. */
  path: z.string().min(1),
  /** Ciphertext bytes. */
  size: z.number().int().nonnegative(),
  /** sha256 of the ciphertext, hex. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /**
   * Plaintext bytes (what the engine produced, before compression), for progress and sizing; for
   * a compressed artifact also the bound decompression stops at (streams/compression.ts).
   */
  plainSize: z.number().int().nonnegative().optional(),
  /**
   * How the plaintext was compressed before encryption; absent: not compressed. A string here so
   * that an unknown value is refused by name (manifest-trust.ts), not as a malformed manifest.
   */
  compression: z.string().optional(),
});
export type ArtifactRecord = z.infer<typeof artifactRecordSchema>;

export const manifestSchema = z.object({
  format: z.union([z.literal(MANIFEST_FORMAT), z.literal(MANIFEST_FORMAT_COMPRESSED)]),
  id: z.string(),
  job: z.string(),
  kind: z.string(),
  createdAt: z.string(),
  finishedAt: z.string(),
  host: z.string(),
  backdrillVersion: z.string(),
  /** Non-secret facts about how the snapshot was made: tool and server versions, LSNs, counts. */
  meta: z.record(z.string(), scalar),
  artifacts: z.array(artifactRecordSchema),
});
export type SnapshotManifest = z.infer<typeof manifestSchema>;
export type ManifestMeta = SnapshotManifest["meta"];
