/**
 * postgres-dump engine (issues 4 and 19) on a PostgreSQL 17 + pgvector database of about BENCH_PG_MIB
 * (default 1024) MiB: pgbench-shaped tables (accounts, tellers, branches, history, with their
 * primary keys) plus a vector(384) table, generated server-side with generate_series.
 *
 *   (a) `runJobBackup` of a postgres-dump job (custom format, globals, facts) into a local
 *       repository, in a worker process, vs raw `pg_dump -Fc -f FILE` run the same way (docker
 *       run of the same image on the host network): goal ≤ 1.05x (issue 19).
 *   (b) `runDrillTarget` of that snapshot (restore time: fetch + decrypt + globals + pg_restore,
 *       without the sandbox's start-up or the checks) vs raw `pg_restore --create` of the raw
 *       dump file into a fresh container of the same image (started untimed): goal ≤ 1.1x
 *       (issue 19).
 *   (c) our peak RSS in both (goal flat, < 150 MB).
 *
 * A second baseline in (a) and (b) runs the same raw tool through the path ours took before
 * issue 19 (and still takes on a remote engine): pg_dump's stdout / pg_restore's stdin streamed
 * through `docker run -i` (containerd-shim → dockerd → docker CLI). On a local engine ours now
 * reads and writes a FIFO bind-mounted into the tool container (src/kinds/postgres/tool-fifo.ts),
 * so that row shows what the attach stream would cost, not a floor of ours.
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
import { type BenchContext, type BenchRow, type CommandResult, MiB, envInt, measureMany } from "../lib.js";
import { BENCH_LABEL, SHM_BYTES, loadSql, removeLabelled } from "../postgres-data.js";

const DATABASE = "bench";
const PASSWORD = "bench-pg-password";

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
      { goalRatio: 1.05 },
    );
    if (backupRow === undefined || backupPiped === undefined)
      throw new Error("postgres-dump: no backup rows");
    await rm(pipedFile, { force: true });
    const rawBytes = (await stat(dumpFile)).size;
    backupRow.note = [
      backupRow.note,
      `ours: globals + facts (row counts, checksums ≤ 100k rows) + encrypted ${(oursBytes / MiB).toFixed(0)} MiB in the repository; raw dump ${(rawBytes / MiB).toFixed(0)} MiB; MiB/s = database size / time`,
    ].join("; ");
    backupPiped.note =
      "the docker attach stream ours used before the FIFO (a remote engine still does), without our code";
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
      { goalRatio: 1.1 },
    );
    if (restoreRow === undefined || restorePiped === undefined)
      throw new Error("postgres-dump: no restore rows");
    restoreRow.note = [restoreRow.note, drillExtra].join("; ");
    restorePiped.note =
      "the docker attach stream ours used before the FIFO (a remote engine still does), without our code";
    rows.push(restoreRow, restorePiped);
    return rows;
  } finally {
    await source?.stop({ remove: true, removeVolumes: true }).catch(() => undefined);
    await removeLabelled(runId);
    await rm(dumpDir, { recursive: true, force: true });
    await rm(repoDir, { recursive: true, force: true });
  }
}
