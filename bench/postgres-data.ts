/**
 * What the PostgreSQL bench cases share (postgres-dump, postgres-base): the database they build
 * (pgbench-shaped tables plus a vector(384) table, generated server-side), the label on every
 * container they start and the clean-up of those containers, and their integer settings.
 */
import { MiB, spawnCollect } from "./lib.js";

/** The label every bench container carries, with the run's id as value (removed in `finally`). */
export const BENCH_LABEL = "backdrill.bench";
/** The drill sandbox's /dev/shm (src/kinds/postgres-dump's sandbox); bench servers get the same. */
export const SHM_BYTES = 512 * MiB;
/** pgbench: ~15 MiB per scale unit (100,000 accounts with their primary key). */
const MIB_PER_SCALE = 15;
/** Heap bytes per vector(384) row: 1544 B of vector + header, 5 rows per 8 KiB page. */
const BYTES_PER_VECTOR_ROW = 8192 / 5;

/** The pgbench scale of a database of about `targetMiB` (three quarters of it pgbench tables). */
export function pgbenchScale(targetMiB: number): number {
  return Math.max(1, Math.round((targetMiB * 0.75) / MIB_PER_SCALE));
}

/** pgbench-like tables plus an embeddings table, ~targetMiB in all (psql -c: one transaction). */
export function loadSql(targetMiB: number): string {
  const scale = pgbenchScale(targetMiB);
  const vectors = Math.max(1000, Math.round((targetMiB * 0.25 * MiB) / BYTES_PER_VECTOR_ROW));
  return `
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE pgbench_branches (bid int NOT NULL, bbalance int, filler char(88)) WITH (fillfactor = 100);
CREATE TABLE pgbench_tellers (tid int NOT NULL, bid int, tbalance int, filler char(84)) WITH (fillfactor = 100);
CREATE TABLE pgbench_accounts (aid int NOT NULL, bid int, abalance int, filler char(84)) WITH (fillfactor = 100);
CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));
INSERT INTO pgbench_branches SELECT b, 0 FROM generate_series(1, ${scale}) b;
INSERT INTO pgbench_tellers SELECT t, (t - 1) / 10 + 1, 0 FROM generate_series(1, ${scale * 10}) t;
INSERT INTO pgbench_accounts SELECT a, (a - 1) / 100000 + 1, 0, '' FROM generate_series(1, ${scale * 100_000}) a;
INSERT INTO pgbench_history
  SELECT g % ${scale * 10} + 1, g % ${scale} + 1, g % ${scale * 100_000} + 1, g % 10000 - 5000,
         timestamp '2026-01-01' + g * interval '1 second', ''
  FROM generate_series(1, ${scale * 1000}) g;
ALTER TABLE pgbench_branches ADD PRIMARY KEY (bid);
ALTER TABLE pgbench_tellers ADD PRIMARY KEY (tid);
ALTER TABLE pgbench_accounts ADD PRIMARY KEY (aid);
-- 1000 random vectors, repeated: random() per element for every row would dominate the load.
-- ORDER BY g keeps equal vectors 1000 rows (1.5 MB) apart in the heap, out of reach of the
-- dump's gzip window, as with real embeddings (a hash join would emit them side by side).
SET work_mem = '1GB';
CREATE TEMP TABLE base_vectors AS
  SELECT i, (SELECT array_agg(random()::real) FROM generate_series(1, 384) WHERE i >= 0)::vector(384) AS v
  FROM generate_series(0, 999) i;
CREATE TABLE embeddings (id bigint PRIMARY KEY, doc_id int NOT NULL, embedding vector(384) NOT NULL);
INSERT INTO embeddings SELECT g, g % 5000, b.v FROM generate_series(1, ${vectors}) g JOIN base_vectors b ON b.i = g % 1000
  ORDER BY g;
`;
}

/** `docker ARGS`, its stdout; throws with its stderr when it fails. */
export async function docker(args: readonly string[]): Promise<string> {
  const result = await spawnCollect("docker", args);
  if (result.code !== 0) throw new Error(`docker ${args.join(" ")}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** Removes every container (and its anonymous volumes) labelled with this bench run's id. */
export async function removeLabelled(runId: string): Promise<void> {
  const ids = (await docker(["ps", "-aq", "--filter", `label=${BENCH_LABEL}=${runId}`]))
    .split("\n")
    .filter((id) => id.trim() !== "");
  if (ids.length > 0) await spawnCollect("docker", ["rm", "-f", "-v", ...ids]);
}
