/** The `postgres-base` engine, loaded on first use (pg, client tools, containers): see index.ts. */
import type { KindEngine } from "../contract.js";
import { backupPostgresBase } from "./backup.js";
import { drillPostgresBase } from "./drill.js";
import type { BaseBackupFacts } from "./facts.js";
import type { PostgresBaseJob } from "./job-schema.js";
import { applyPostgresBaseRestore, planPostgresBaseRestore, type Layout } from "./restore.js";
import type { PostgresBaseRestoreOptions } from "./restore-options.js";
import type { PostgresBaseTarget } from "./target.js";

export const postgresBaseEngine: KindEngine<
  PostgresBaseJob,
  PostgresBaseTarget,
  BaseBackupFacts,
  PostgresBaseRestoreOptions,
  Layout
> = {
  backup: backupPostgresBase,
  drill: drillPostgresBase,
  planRestore: planPostgresBaseRestore,
  applyRestore: applyPostgresBaseRestore,
};
