/**
 * The `postgres-dump` engine: consistent pg_dump backups with facts, drills into a throwaway
 * PostgreSQL container, and disaster restores. See backup.ts, drill.ts and restore.ts.
 */
import type { DrillTarget } from "../../config/drill-schema.js";
import type { PostgresDumpJob } from "./job-schema.js";
import type { Engine } from "../engine.js";
import { backupPostgresDump } from "./backup.js";
import { drillPostgresDump } from "./drill.js";
import { planPostgresDumpRestore, restorePostgresDump } from "./restore.js";

export const postgresDumpEngine: Engine<PostgresDumpJob, DrillTarget> = {
  kind: "postgres-dump",
  backup: backupPostgresDump,
  drill: drillPostgresDump,
  planRestore: planPostgresDumpRestore,
  restore: restorePostgresDump,
};
