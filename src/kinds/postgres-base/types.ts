/**
 * The parts of the `postgres-base` job this engine reads (structural subsets, so tests drive the
 * engine with plain objects), and the WAL source the drill and restore read the archive through.
 */
import type { PostgresBaseJob } from "./job-schema.js";
import type { ArchivedWal } from "./wal-archive.js";

export const BASE_ARTIFACT = "base.tar";

export type PgBaseJobInput = Pick<PostgresBaseJob, "name" | "kind" | "connection" | "tools"> &
  Partial<Pick<PostgresBaseJob, "compression" | "incremental">>;

/** Read access to the job's WAL archive (decrypting), made by `walSourceFor`. */
export interface WalSource {
  list(): Promise<ArchivedWal[]>;
  /** Decrypts `name` into `dest`; false when not archived. */
  fetch(name: string, dest: string, options?: { signal?: AbortSignal }): Promise<boolean>;
}
