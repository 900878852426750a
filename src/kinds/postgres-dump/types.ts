/**
 * The parts of the `postgres-dump` job this engine reads, derived from the config schema.
 * Partial where the schema fills in defaults, so tests (and any other caller) can drive the
 * engine with a plain object instead of going through the config loader.
 */
import type { PostgresDumpJob } from "./job-schema.js";

export type PgDumpJobInput = Pick<PostgresDumpJob, "name" | "kind" | "connection" | "tools"> &
  Partial<Pick<PostgresDumpJob, "databases" | "format" | "parallel" | "globals" | "facts" | "compress">>;

export const DEFAULT_CHECKSUM_MAX_ROWS = 100_000;
