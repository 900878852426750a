import { z } from "zod";

/**
 * The snapshot manifest: plaintext, holds nothing secret (job, kind, times, versions, and per
 * artifact its ciphertext size and sha256). Written last: its presence is the commit point.
 * Anything describing the data itself (table names, row counts, secret names) lives in the
 * encrypted `facts` artifact instead.
 */
export const MANIFEST_FORMAT = 1;
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
  /** Plaintext bytes (what the engine produced), for progress and sizing. */
  plainSize: z.number().int().nonnegative().optional(),
});
export type ArtifactRecord = z.infer<typeof artifactRecordSchema>;

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
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
