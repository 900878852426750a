/**
 * The facts a `postgres-base` snapshot records (stored encrypted). Every reader goes through
 * `baseBackupFactsSchema`. Older snapshots may lack the role and database list: the role the
 * drill logs in as then defaults to `postgres`.
 */
import * as z from "zod";

export const baseBackupFactsSchema = z.object({
  kind: z.literal("postgres-base"),
  /** The bootstrap superuser (oid 10): the role the drill logs in as over the Unix socket. */
  superuser: z.string().min(1).default("postgres"),
  databases: z.array(z.string()).default([]),
  walSegmentSize: z.number().int().positive(),
  startLsn: z.string(),
  stopLsn: z.string(),
  timeline: z.number().int().positive(),
});

export type BaseBackupFacts = z.output<typeof baseBackupFactsSchema>;
