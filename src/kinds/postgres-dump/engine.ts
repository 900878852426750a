/** The `postgres-dump` engine, loaded on first use (pg, client tools, containers): see index.ts. */
import type { KindEngine } from "../contract.js";
import { backupPostgresDump } from "./backup.js";
import { drillPostgresDump } from "./drill.js";
import type { PgDumpFacts } from "./facts.js";
import type { PostgresDumpJob } from "./job-schema.js";
import { applyPostgresDumpRestore, planPostgresDumpRestore, type PgDumpRestorePlan } from "./restore.js";
import type { PostgresDumpRestoreOptions } from "./restore-options.js";
import type { PostgresDumpTarget } from "./target.js";

export const postgresDumpEngine: KindEngine<
  PostgresDumpJob,
  PostgresDumpTarget,
  PgDumpFacts,
  PostgresDumpRestoreOptions,
  PgDumpRestorePlan
> = {
  backup: backupPostgresDump,
  drill: drillPostgresDump,
  planRestore: planPostgresDumpRestore,
  applyRestore: applyPostgresDumpRestore,
};
