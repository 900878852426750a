/**
 * The parts of the `postgres-base` job and drill target this engine reads (structural subsets,
 * so tests drive the engine with plain objects), the facts it records, and the WAL source the
 * drill and restore read the archive through.
 */
import type { DrillTarget } from "../../config/drill-schema.js";
import type { PostgresBaseJob } from "./job-schema.js";
import type { ArchivedWal } from "./wal-archive.js";

export const BASE_ARTIFACT = "base.tar";

export type PgBaseJobInput = Pick<PostgresBaseJob, "name" | "kind" | "connection" | "tools">;
export type PgBaseDrillTargetInput = Pick<DrillTarget, "job" | "image" | "checks" | "pitr">;

/** Stored encrypted with the snapshot (facts.json). */
export interface BaseBackupFacts {
  kind: "postgres-base";
  /** The bootstrap superuser (oid 10): the role the drill logs in as over the Unix socket. */
  superuser: string;
  databases: string[];
  walSegmentSize: number;
  startLsn: string;
  stopLsn: string;
  timeline: number;
}

/**
 * Read access to the job's WAL archive (decrypting), handed to drill and restore by whoever
 * holds the repository and the identities (see `walSourceFor`).
 */
export interface WalSource {
  list(): Promise<ArchivedWal[]>;
  /** Decrypts `name` into `dest`; false when not archived. */
  fetch(name: string, dest: string, options?: { signal?: AbortSignal }): Promise<boolean>;
}

/** Drill/restore contexts may carry the WAL source; see index.ts for how it is found otherwise. */
export interface WithWalSource {
  walSource?: WalSource;
}
