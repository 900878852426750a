/** The `files` engine, loaded on first use (rsync, ssh, containers): see index.ts. */
import type { KindEngine } from "../contract.js";
import { backupFiles } from "./backup.js";
import { drillFiles } from "./drill.js";
import type { FilesFacts } from "./facts.js";
import type { FilesJob } from "./job-schema.js";
import { applyFilesRestore, planFilesRestore, type FilesRestorePlan } from "./restore.js";
import type { FilesRestoreOptions } from "./restore-options.js";
import type { FilesTarget } from "./target.js";

export const filesEngine: KindEngine<
  FilesJob,
  FilesTarget,
  FilesFacts,
  FilesRestoreOptions,
  FilesRestorePlan
> = {
  backup: backupFiles,
  drill: drillFiles,
  planRestore: planFilesRestore,
  applyRestore: applyFilesRestore,
};
