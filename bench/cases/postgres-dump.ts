/**
 * postgres-dump engine (issue 4) on a PostgreSQL 17 + pgvector database of about BENCH_PG_MIB
 * (default 1024) MiB: pgbench-shaped tables (accounts, tellers, branches, history, with their
 * primary keys) plus a vector(384) table, generated server-side with generate_series.
 *
 *   (a) `runJobBackup` of a postgres-dump job (custom format, globals, facts) into a local
 *       repository, in a worker process, vs raw `pg_dump -Fc -f FILE` run the same way (docker
 *       run of the same image on the host network): goal ≤ 1.15x.
 *   (b) `runDrillTarget` of that snapshot (restore time: fetch + decrypt + globals + pg_restore,
 *       without the sandbox's start-up or the checks) vs raw `pg_restore --create` of the raw
 *       dump file into a fresh container of the same image (started untimed): goal ≤ 1.2x.
 *   (c) our peak RSS in both (goal flat, < 150 MB).
 *
 * A second baseline in (a) and (b) runs the same raw tool through the path ours must take:
 * pg_dump's stdout / pg_restore's stdin streamed through `docker run -i` (containerd-shim →
 * dockerd → docker CLI) instead of a bind-mounted file. It separates the cost of that pipe, which
 * any `tools.image` setup pays, from the cost of our own code (facts, encryption, repository).
 *
 * Every container carries the label backdrill.bench=<run id> and is removed in `finally`.
 * BENCH_PG_RUNS overrides BENCH_RUNS for this case (each run moves the whole database).
 */
import { chmod, mkdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateIdentity } from "../../src/crypto/keys.js";
import { PostgresContainer, type StartedPostgresContainer } from "../../test/support/containers/postgres.js";
import { configureTestcontainers } from "../../test/support/docker.js";
import { postgresImage } from "../../test/support/images.js";
import {
  type BenchContext,
  type BenchRow,
  type CommandResult,
  envInt,
  MiB,
  measureMany,
  spawnCollect,
} from "../lib.js";

const BENCH_LABEL = "backdrill.bench";
const DATABASE = "bench";
const PASSWORD = "bench-pg-password";
/** The drill sandbox's /dev/shm (src/engines/postgres-dump/sandbox.ts); the baseline gets the same. */
const SHM_BYTES = 512 * MiB;
/** pgbench: ~15 MiB per scale unit (100,000 accounts with their primary key). */
const MIB_PER_SCALE = 15;
/** Heap bytes per vector(384) row: 1544 B of vector + header, 5 rows per 8 KiB page. */
const BYTES_PER_VECTOR_ROW = 8192 / 5;

/** pgbench-like tables plus an embeddings table, ~targetMiB in all (psql -c: one transaction). */
function loadSql(targetMiB: number): string {
  const scale = Math.max(1, Math.round((targetMiB * 0.75) / MIB_PER_SCALE));
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

async function docker(args: readonly string[]): Promise<string> {
  const result = await spawnCollect("docker", args);
  if (result.code !== 0) throw new Error(`docker ${args.join(" ")}: ${result.stderr.trim()}`);
  return result.stdout;
}

async function removeLabelled(runId: string): Promise<void> {
  const ids = (await docker(["ps", "-aq", "--filter", `label=${BENCH_LABEL}=${runId}`]))
    .split("\n")
    .filter((id) => id.trim() !== "");
  if (ids.length > 0) await spawnCollect("docker", ["rm", "-f", "-v", ...ids]);
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const targetMiB = envInt("BENCH_PG_MIB", 1024);
  const runs = envInt("BENCH_PG_RUNS", ctx.runs);
  const pgCtx = { runs, log: ctx.log };
  const image = postgresImage();
  const runId = `${process.pid}-${Date.now()}`;
  const labels = { [BENCH_LABEL]: runId };
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  configureTestcontainers();

  const dumpDir = join(ctx.tmpDir, "pg-raw");
  const dumpFile = join(dumpDir, `${DATABASE}.dump`);
  const pipedFile = join(dumpDir, `${DATABASE}-piped.dump`);
  const repoDir = join(ctx.tmpDir, "pg-repo");
  await mkdir(dumpDir, { recursive: true });
  const { identity, recipient } = await generateIdentity();
  const identityFile = join(ctx.tmpDir, "pg-identity.txt");
  await writeFile(identityFile, `${identity}\n`, { mode: 0o600 });
  await chmod(identityFile, 0o600);
  process.env.BENCH_PG_PASSWORD = PASSWORD;

  let source: StartedPostgresContainer | undefined;
  try {
    const started = Date.now();
    const builder = new PostgresContainer(image).withDatabase(DATABASE).withPassword(PASSWORD);
    // Durability off on the source only, to load fast: dumping only reads it.
    builder.withServerArgs(
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "wal_level=minimal",
      "-c",
      "max_wal_senders=0",
      "-c",
      "max_wal_size=8GB",
      "-c",
      "maintenance_work_mem=256MB",
    );
    builder.container.withLabels(labels).withSharedMemorySize(SHM_BYTES);
    source = await builder.start();
    const port = source.port;
    ctx.log(
      `postgres-dump: source up in ${((Date.now() - started) / 1000).toFixed(1)} s; loading ~${targetMiB} MiB`,
    );
    const loadStarted = Date.now();
    await source.psql(loadSql(targetMiB));
    // Hint bits and the visibility map set now, so no dump run pays for writing them.
    await source.psql("VACUUM (FREEZE, ANALYZE)");
    await source.psql("CHECKPOINT");
    const dbBytes = Number(await source.psql(`SELECT pg_database_size('${DATABASE}')`));
    const dbMiB = dbBytes / MiB;
    ctx.log(
      `postgres-dump: loaded ${dbMiB.toFixed(0)} MiB in ${((Date.now() - loadStarted) / 1000).toFixed(1)} s`,
    );

    const options = { port, database: DATABASE, image, repoDir };
    const pgEnv = [
      "-e",
      `PGHOST=127.0.0.1`,
      "-e",
      `PGPORT=${port}`,
      "-e",
      "PGUSER=test",
      "-e",
      `PGPASSWORD=${PASSWORD}`,
    ];
    const dockerRun = (mounts: string[]) => [
      "run",
      "--rm",
      "--network",
      "host",
      "--label",
      `${BENCH_LABEL}=${runId}`,
      "--user",
      `${uid}:${gid}`,
      ...mounts.flatMap((mount) => ["-v", mount]),
    ];
    // The docker CLI's RSS says nothing about pg_dump's, which runs in the container: not shown.
    const untracked = (result: CommandResult): CommandResult => ({ ...result, peakRssMiB: null });

    // ---- (a) backup ---------------------------------------------------------------------
    let oursBytes = 0;
    const rows: BenchRow[] = [];
    const [backupRow, backupPiped] = await measureMany(
      pgCtx,
      `postgres-dump: backup of a ${dbMiB.toFixed(0)} MiB database`,
      dbBytes,
      async () => {
        await rm(repoDir, { recursive: true, force: true });
        await mkdir(repoDir, { recursive: true });
        const result = await ctx.runWorker("postgres-dump", [
          "backup",
          JSON.stringify({ ...options, recipient }),
        ]);
        oursBytes = Number(result.bytes);
        return result;
      },
      [
        {
          tool: "pg_dump -Fc -f FILE (docker run, same image)",
          run: async () => {
            await rm(dumpFile, { force: true });
            return untracked(
              await ctx.timeCommand("docker", [
                ...dockerRun([`${dumpDir}:${dumpDir}`]),
                ...pgEnv,
                image,
                "pg_dump",
                "-Fc",
                "-d",
                DATABASE,
                "-f",
                dumpFile,
              ]),
            );
          },
        },
        {
          tool: "pg_dump -Fc > FILE through docker run's stdout",
          run: async () =>
            untracked(
              await ctx.timeCommand("sh", [
                "-c",
                `exec docker "$@" > ${pipedFile}`,
                "sh",
                ...dockerRun([]),
                "-i",
                ...pgEnv,
                image,
                "pg_dump",
                "-Fc",
                "-d",
                DATABASE,
              ]),
            ),
        },
      ],
      { goalRatio: 1.15 },
    );
    if (backupRow === undefined || backupPiped === undefined)
      throw new Error("postgres-dump: no backup rows");
    await rm(pipedFile, { force: true });
    const rawBytes = (await stat(dumpFile)).size;
    backupRow.note = [
      backupRow.note,
      `ours: globals + facts (row counts, checksums ≤ 100k rows) + encrypted ${(oursBytes / MiB).toFixed(0)} MiB in the repository; raw dump ${(rawBytes / MiB).toFixed(0)} MiB; MiB/s = database size / time`,
    ].join("; ");
    backupPiped.note = "the same pipe as ours (docker attach stream), without our code";
    rows.push(backupRow, backupPiped);

    // ---- (b) drill restore --------------------------------------------------------------
    let drillExtra = "";
    const freshTarget = async <T>(fn: (env: string[]) => Promise<T>): Promise<T> => {
      const fresh = new PostgresContainer(image);
      fresh.container.withLabels(labels).withSharedMemorySize(SHM_BYTES);
      const target = await fresh.start();
      try {
        return await fn([
          "-e",
          "PGHOST=127.0.0.1",
          "-e",
          `PGPORT=${target.port}`,
          "-e",
          "PGUSER=test",
          "-e",
          "PGPASSWORD=test",
        ]);
      } finally {
        await target.stop({ remove: true, removeVolumes: true });
      }
    };
    const restoreArgs = ["pg_restore", "--create", "--exit-on-error", "-d", "postgres"];
    const [restoreRow, restorePiped] = await measureMany(
      pgCtx,
      `postgres-dump: drill restore of the ${dbMiB.toFixed(0)} MiB database`,
      dbBytes,
      async () => {
        const result = await ctx.runWorker("postgres-dump", [
          "drill",
          JSON.stringify({ ...options, identityFile }),
        ]);
        drillExtra =
          `drill total ${(Number(result.totalMs) / 1000).toFixed(1)} s = sandbox start ` +
          `${(Number(result.sandboxStartMs) / 1000).toFixed(1)} s + restore + checks ` +
          `${(Number(result.checksMs) / 1000).toFixed(1)} s (row counts, checksums, extensions; amcheck off)`;
        return result;
      },
      [
        {
          tool: "pg_restore --create FILE into a fresh container (same image)",
          run: () =>
            freshTarget(async (env) =>
              untracked(
                await ctx.timeCommand("docker", [
                  ...dockerRun([`${dumpDir}:${dumpDir}:ro`]),
                  ...env,
                  image,
                  ...restoreArgs,
                  dumpFile,
                ]),
              ),
            ),
        },
        {
          tool: "pg_restore --create < FILE through docker run -i's stdin",
          run: () =>
            freshTarget(async (env) =>
              untracked(
                await ctx.timeCommand("sh", [
                  "-c",
                  `exec docker "$@" < ${dumpFile}`,
                  "sh",
                  ...dockerRun([]),
                  "-i",
                  ...env,
                  image,
                  ...restoreArgs,
                ]),
              ),
            ),
        },
      ],
      { goalRatio: 1.2 },
    );
    if (restoreRow === undefined || restorePiped === undefined)
      throw new Error("postgres-dump: no restore rows");
    restoreRow.note = [restoreRow.note, drillExtra].join("; ");
    restorePiped.note = "the same pipe as ours (docker attach stream), without our code";
    rows.push(restoreRow, restorePiped);
    return rows;
  } finally {
    await source?.stop({ remove: true, removeVolumes: true }).catch(() => undefined);
    await removeLabelled(runId);
    await rm(dumpDir, { recursive: true, force: true });
    await rm(repoDir, { recursive: true, force: true });
  }
}
