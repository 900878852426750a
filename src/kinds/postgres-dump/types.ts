/**
 * The parts of the `postgres-dump` job and of its drill target that this engine reads, derived
 * from the config schemas. Partial where the schema fills in defaults, so tests (and any other
 * caller) can drive the engine with a plain object instead of going through the config loader.
 */
import type { HostConnection, SslMode as ConfigSslMode, UrlConnection } from "../../schema/common.js";
import type { DrillTarget, SqlCheck } from "../../config/drill-schema.js";
import type { PostgresDumpJob } from "./job-schema.js";

export type SslMode = ConfigSslMode;
export type ConnectionConfig = HostConnection | UrlConnection;
export type ToolsConfig = PostgresDumpJob["tools"];
export type SqlAssertion = SqlCheck;

export type PgDumpJobInput = Pick<PostgresDumpJob, "name" | "kind" | "connection" | "tools"> &
  Partial<Pick<PostgresDumpJob, "databases" | "format" | "parallel" | "globals" | "facts" | "compress">>;

export type PgDumpDrillTargetInput = Pick<DrillTarget, "job" | "image" | "checks">;

export const DEFAULT_CHECKSUM_MAX_ROWS = 100_000;
