/**
 * The `files` kind: a local directory as rsync hard-link snapshots at a destination (local or
 * over SSH), with a sha256 manifest of every file in the repository (backup.ts); drills into a
 * throwaway SSH host (drill.ts); disaster restores (restore.ts); retention of the destination's
 * snapshot directories (retention.ts).
 */
import { defineKind } from "../contract.js";
import { checkFilesPolicy, describeFilesJob, filesSecrets } from "./config.js";
import { filesFactsSchema } from "./facts.js";
import { filesJobSchema } from "./job-schema.js";
import { filesRestore } from "./restore-options.js";
import { filesTarget } from "./target.js";

export const filesKind = defineKind({
  kind: "files",
  summary: "a directory tree, as rsync hard-link snapshots with a sha256 manifest",
  jobSchema: filesJobSchema,
  target: filesTarget,
  factsSchema: filesFactsSchema,
  restore: filesRestore,
  describe: describeFilesJob,
  secrets: filesSecrets,
  checkPolicy: checkFilesPolicy,
  usesDocker: () => false,
  doctor: async (context, source) => (await import("./doctor.js")).filesDoctor(context, source),
  drillDoctor: async () => [],
  retention: {
    key: "directories",
    prune: async (context) => (await import("./retention.js")).pruneFilesSide(context),
  },
  archive: null,
  engine: async () => (await import("./engine.js")).filesEngine,
});
