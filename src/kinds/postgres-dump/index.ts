/**
 * The `postgres-dump` kind: consistent pg_dump backups of every database with facts read in the
 * dump's own snapshot (backup.ts, facts.ts), drills into a throwaway PostgreSQL 17 + pgvector
 * (drill.ts), disaster restores into a new server (restore.ts). Code both PostgreSQL kinds
 * share (connection, client tools, streams, tar) lives in ../postgres/.
 */
import { defineKind } from "../contract.js";
import { postgresSecrets, toolsNeedDocker } from "../postgres/config.js";
import { describePostgresDumpJob } from "./config.js";
import { pgDumpFactsSchema } from "./facts.js";
import { postgresDumpJobSchema } from "./job-schema.js";
import { postgresDumpRestore } from "./restore-options.js";
import { postgresDumpTarget } from "./target.js";

export const postgresDumpKind = defineKind({
  kind: "postgres-dump",
  summary: "PostgreSQL databases as pg_dump archives, with row counts and checksums as facts",
  jobSchema: postgresDumpJobSchema,
  target: postgresDumpTarget,
  factsSchema: pgDumpFactsSchema,
  restore: postgresDumpRestore,
  describe: describePostgresDumpJob,
  secrets: postgresSecrets,
  checkPolicy: () => [],
  usesDocker: toolsNeedDocker,
  doctor: async (context, source) => (await import("./doctor.js")).postgresDumpDoctor(context, source),
  drillDoctor: async () => [],
  retention: null,
  archive: null,
  engine: async () => (await import("./engine.js")).postgresDumpEngine,
});
