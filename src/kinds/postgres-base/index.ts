/**
 * The `postgres-base` engine: pg_basebackup base backups (backup.ts), point-in-time recovery
 * drills (drill.ts) and disaster restores into a data directory (restore.ts). The WAL archive
 * itself is written by `backdrill wal push` / `wal ship` (wal-commands.ts) and pruned by
 * retention.ts.
 */
import type { DrillTarget } from "../../config/drill-schema.js";
import type { PostgresBaseJob } from "./job-schema.js";
import type { Engine } from "../engine.js";
import { backupPostgresBase } from "./backup.js";
import { drillPostgresBase } from "./drill.js";
import { planPostgresBaseRestore, restorePostgresBase } from "./restore.js";

export const postgresBaseEngine: Engine<PostgresBaseJob, DrillTarget> = {
  kind: "postgres-base",
  backup: backupPostgresBase,
  drill: drillPostgresBase,
  planRestore: planPostgresBaseRestore,
  restore: restorePostgresBase,
};
