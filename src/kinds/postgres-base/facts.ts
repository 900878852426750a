/**
 * The facts a `postgres-base` snapshot records (stored encrypted). Every reader goes through
 * `baseBackupFactsSchema`. Older snapshots may lack the role and database list: the role the
 * drill logs in as then defaults to `postgres`.
 *
 * The role name reaches `psql -U` and `pg_amcheck -U` in the drill container, so it is a plausible
 * role name that cannot pass for an option; LSNs and sizes are what PostgreSQL writes. The same
 * start and stop LSN and timeline are in the plaintext manifest: `checkAgainstManifest` refuses
 * facts that describe another snapshot (facts of an older backup replayed into a newer one).
 */
import * as z from "zod";
import type { ArtifactReader } from "../contract.js";
import { hostileSnapshot } from "../facts-values.js";
import { pgNameSchema, pgRoleArgumentSchema } from "../postgres/names.js";

const lsnSchema = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i, { error: "not an LSN like 0/3000028" });

export const baseBackupFactsSchema = z.object({
  kind: z.literal("postgres-base"),
  /** The bootstrap superuser (oid 10): the role the drill logs in as over the Unix socket. */
  superuser: pgRoleArgumentSchema.default("postgres"),
  databases: z.array(pgNameSchema).default([]),
  /** A power of two from 1 MiB to 1 GiB, as initdb --wal-segsize allows. */
  walSegmentSize: z
    .number()
    .int()
    .refine((size) => size >= 1 << 20 && size <= 1 << 30 && (size & (size - 1)) === 0, {
      error: "not a WAL segment size (a power of two from 1 MiB to 1 GiB)",
    }),
  startLsn: lsnSchema,
  stopLsn: lsnSchema,
  timeline: z.number().int().positive().max(0xffffffff),
});

export type BaseBackupFacts = z.output<typeof baseBackupFactsSchema>;

/** The facts and the manifest meta describe the same backup, or the snapshot is refused. */
export function checkAgainstManifest(
  facts: BaseBackupFacts,
  artifacts: Pick<ArtifactReader, "snapshot">,
  meta: { startLsn: string; stopLsn: string; timeline: number },
): void {
  const same = (a: string, b: string) => a.toUpperCase() === b.toUpperCase();
  if (
    !same(facts.startLsn, meta.startLsn) ||
    !same(facts.stopLsn, meta.stopLsn) ||
    facts.timeline !== meta.timeline
  ) {
    throw hostileSnapshot(
      artifacts,
      `its facts describe the backup ${facts.startLsn}–${facts.stopLsn} on timeline ${facts.timeline}, its manifest ${meta.startLsn}–${meta.stopLsn} on timeline ${meta.timeline}`,
    );
  }
}
