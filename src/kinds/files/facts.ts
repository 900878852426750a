/**
 * The facts a `files` snapshot records (stored encrypted). Every reader goes through
 * `filesFactsSchema` (the runner parses them before drill and restore see them): facts come from
 * the repository, which anyone with write access to it could have written.
 */
import * as z from "zod";
import { isSnapshotId } from "../../repository/snapshot-id.js";
import type { ArtifactReader } from "../contract.js";
import { artifactNameSchema, hostileSnapshot, plainText, requireArtifacts } from "../facts-values.js";
import { FILES_MANIFEST_ARTIFACT } from "./entries.js";
import { parseDestination } from "./job-schema.js";

export const FILES_FACTS_FORMAT = 1;

const count = z.number().int().nonnegative();

export const filesFactsSchema = z.object({
  format: z.literal(FILES_FACTS_FORMAT),
  /**
   * The job's destination when the snapshot was made (the snapshot directory lives there). Drill
   * and restore read from it only when it is the job's destination now (checkFilesFacts).
   */
  destination: z.string().refine((value) => parseDestination(value) !== undefined, {
    error: "not a destination (/abs/path or user@host:/abs/path)",
  }),
  /** Name of the snapshot directory in the destination: the snapshot's id. */
  snapshotDir: z.string().refine(isSnapshotId, { error: "not a snapshot directory name" }),
  /** The snapshot unchanged files were hard-linked to, if any. */
  linkDest: z.string().refine(isSnapshotId, { error: "not a snapshot directory name" }).nullable(),
  files: count,
  dirs: count,
  symlinks: count,
  other: count,
  /** Sum of regular file sizes. */
  bytes: count,
  /** Files whose content was read this run (the others reused the hash cache). */
  hashedFiles: count,
  hashedBytes: count,
  exclude: z.array(plainText(4096)),
  /** Artifact holding one FileEntry per line. */
  manifestArtifact: artifactNameSchema.default(FILES_MANIFEST_ARTIFACT),
});

export type FilesFacts = z.output<typeof filesFactsSchema>;

/**
 * Facts against the snapshot and the job: the snapshot directory is this snapshot's own (facts
 * copied from an older snapshot would restore that one), the destination is the job's (facts
 * naming another directory or host would have the restore copy whatever is there), and the
 * per-file manifest is in the snapshot.
 */
export function checkFilesFacts(
  facts: FilesFacts,
  artifacts: ArtifactReader,
  job: { name: string; destination: string },
): void {
  const id = artifacts.snapshot.id;
  if (facts.snapshotDir !== id) {
    throw hostileSnapshot(artifacts, `its facts name the snapshot directory ${facts.snapshotDir}, not ${id}`);
  }
  if (facts.destination !== job.destination) {
    throw hostileSnapshot(
      artifacts,
      `its facts say it was made to ${facts.destination}, but job ${job.name}'s destination is ${job.destination} ` +
        "(if the destination moved, set destination back to where this snapshot lives to restore it)",
    );
  }
  requireArtifacts(artifacts, [{ name: facts.manifestArtifact, field: "manifestArtifact" }]);
}
