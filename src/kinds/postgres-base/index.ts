/**
 * The `postgres-base` kind: pg_basebackup base backups (backup.ts) and the WAL archive beside
 * them (written by `backdrill wal push | ship`, wal-commands.ts); point-in-time recovery drills
 * (drill.ts); restores into a data directory ready to recover (restore.ts); WAL retention
 * (retention.ts). Code both PostgreSQL kinds share lives in ../postgres/.
 */
import { defineKind } from "../contract.js";
import { postgresSecrets, toolsNeedDocker } from "../postgres/config.js";
import { describePostgresBaseJob } from "./config.js";
import { baseBackupFactsSchema } from "./facts.js";
import { keepChains } from "./chain.js";
import { postgresBaseJobSchema } from "./job-schema.js";
import { postgresBaseRestore } from "./restore-options.js";
import { postgresBaseTarget } from "./target.js";

export const postgresBaseKind = defineKind({
  kind: "postgres-base",
  summary: "a PostgreSQL cluster as base backups plus its WAL archive, for point-in-time recovery",
  jobSchema: postgresBaseJobSchema,
  target: postgresBaseTarget,
  factsSchema: baseBackupFactsSchema,
  restore: postgresBaseRestore,
  describe: describePostgresBaseJob,
  secrets: postgresSecrets,
  checkPolicy: () => [],
  usesDocker: toolsNeedDocker,
  doctor: async (context, source) => (await import("./doctor.js")).postgresBaseDoctor(context, source),
  drillDoctor: async () => [],
  retention: {
    key: "wal",
    prune: async (context) => (await import("./retention.js")).pruneWalSide(context),
    keepAlso: keepChains,
  },
  archive: {
    label: "WAL archive",
    feeder: (job) =>
      job.spool === undefined
        ? null
        : { args: ["wal", "ship", job.name, job.spool], what: `WAL shipping of job ${job.name}` },
    freshness: async (context) => (await import("./archive-health.js")).walArchiveHealth.freshness(context),
    source: async (context) => (await import("./archiver-stat.js")).archiverSource(context),
    verify: async (context) => (await import("./archive-health.js")).walArchiveHealth.verify(context),
  },
  engine: async () => (await import("./engine.js")).postgresBaseEngine,
});
