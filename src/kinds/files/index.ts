/**
 * The `files` engine: rsync hard-link snapshots of a directory (backup.ts), drills into a
 * throwaway SSH host (drill.ts), disaster restores (restore.ts); retention of snapshot
 * directories in retention.ts.
 */
import type { DrillTarget } from "../../config/drill-schema.js";
import type { FilesJob } from "./job-schema.js";
import type { Engine } from "../engine.js";
import { backupFiles } from "./backup.js";
import { drillFiles } from "./drill.js";
import { planFilesRestore, restoreFiles } from "./restore.js";

export const filesEngine: Engine<FilesJob, DrillTarget> = {
  kind: "files",
  backup: backupFiles,
  drill: drillFiles,
  planRestore: planFilesRestore,
  restore: restoreFiles,
};
