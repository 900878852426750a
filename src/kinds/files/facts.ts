/** The facts a `files` snapshot records (stored encrypted), and how a drill/restore reads them. */
import { IntegrityError } from "../../errors.js";
import { FILES_MANIFEST_ARTIFACT } from "./entries.js";

export const FILES_FACTS_FORMAT = 1;

export interface FilesFacts {
  format: typeof FILES_FACTS_FORMAT;
  /** The job's destination when the snapshot was made (the snapshot directory lives there). */
  destination: string;
  /** Name of the snapshot directory in the destination. */
  snapshotDir: string;
  /** The snapshot unchanged files were hard-linked to, if any. */
  linkDest: string | null;
  files: number;
  dirs: number;
  symlinks: number;
  other: number;
  /** Sum of regular file sizes. */
  bytes: number;
  /** Files whose content was read this run (the others reused the hash cache). */
  hashedFiles: number;
  hashedBytes: number;
  exclude: string[];
  /** Artifact holding one FileEntry per line. */
  manifestArtifact: string;
}

export function readFilesFacts(facts: Record<string, unknown>, job: string): FilesFacts {
  const value = facts as Partial<FilesFacts>;
  if (
    value.format !== FILES_FACTS_FORMAT ||
    typeof value.snapshotDir !== "string" ||
    typeof value.destination !== "string"
  ) {
    throw new IntegrityError(
      `job ${job}: the snapshot's facts are not files facts (format ${String(value.format)})`,
    );
  }
  return { ...value, manifestArtifact: value.manifestArtifact ?? FILES_MANIFEST_ARTIFACT } as FilesFacts;
}
