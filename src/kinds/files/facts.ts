/**
 * The facts a `files` snapshot records (stored encrypted). Every reader goes through
 * `filesFactsSchema` (the runner parses them before drill and restore see them): facts come from
 * the repository, which anyone with write access to it could have written.
 */
import * as z from "zod";
import { FILES_MANIFEST_ARTIFACT } from "./entries.js";

export const FILES_FACTS_FORMAT = 1;

const count = z.number().int().nonnegative();

export const filesFactsSchema = z.object({
  format: z.literal(FILES_FACTS_FORMAT),
  /** The job's destination when the snapshot was made (the snapshot directory lives there). */
  destination: z.string().min(1),
  /** Name of the snapshot directory in the destination. */
  snapshotDir: z.string().min(1),
  /** The snapshot unchanged files were hard-linked to, if any. */
  linkDest: z.string().nullable(),
  files: count,
  dirs: count,
  symlinks: count,
  other: count,
  /** Sum of regular file sizes. */
  bytes: count,
  /** Files whose content was read this run (the others reused the hash cache). */
  hashedFiles: count,
  hashedBytes: count,
  exclude: z.array(z.string()),
  /** Artifact holding one FileEntry per line. */
  manifestArtifact: z.string().min(1).default(FILES_MANIFEST_ARTIFACT),
});

export type FilesFacts = z.output<typeof filesFactsSchema>;
