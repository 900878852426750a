/**
 * postgres-base (issue 18 item 7) against pgBackRest on the same PostgreSQL 17 database of about
 * BENCH_PG_MIB (default 1024) MiB (bench/postgres-data.ts: pgbench-shaped tables + vector(384)).
 * The server runs the pgBackRest image (bench/pgbackrest-image.ts: the PostgreSQL test image plus
 * Debian's pgBackRest), so pgBackRest runs where the data directory is, as it must; backdrill
 * runs as operators run it: the `backdrill` CLI on the backup host (compiled like dist/, see
 * bench/workers/backdrill-cli.ts) with `tools.image`, pg_basebackup streaming over the network.
 * Both encrypt: backdrill with age, pgBackRest with repo1-cipher-type=aes-256-cbc.
 *
 *   1. full backup: backdrill (brotli-1, the default; and compression none) vs `pgbackrest
 *      backup --type=full` with gz (its default), zst and none, process-max 1 and 2: time and
 *      what each stored.
 *   2. incremental: a slice of pgbench_accounts updated and history rows inserted, then backdrill
 *      (pg_basebackup --incremental, summarize_wal on) vs `pgbackrest backup --type=incr`.
 *   3. restore + recovery: BENCH_PGBASE_SEGMENTS (default 32) full WAL segments written and
 *      archived after the backups, then backdrill `restore --to DIR` (the full backup with
 *      --prefetch 8 and 0; the incremental chain) vs `pgbackrest restore` (the full set; the
 *      incremental), each followed by PostgreSQL started on DIR (pg_ctl start -w, hot_standby off)
 *      recovering to the end of the archive through restore_command (backdrill `wal fetch`;
 *      pgBackRest archive-get with archive-async and process-max 2) until it promotes and is
 *      ready for connections. Every restored server must have the source's final data.
 *
 * One archive_command feeds both archives: it copies each segment into a spool (drained into
 * backdrill's repository by `wal ship --once` before the restores) and runs `pgbackrest
 * archive-push`. Archive throughput is measured apart (bench/cases/wal-archiving.ts).
 *
 * BENCH_PGBASE_LOG_DIR (optional) keeps each restored server's log and restore_command's backdrill
 * starts there, for reading where recovery spent its time.
 *
 * BENCH_PGBASE_RUNS (default 1) repeats the backups and restores (best kept): at 1 GiB one pass
 * moves the database ~12 times. Every container carries backdrill.bench=<run id> and is removed
 * in `finally`, with the work directory.
 */
import { chmod, chown, mkdir, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { generateIdentity } from "../../src/crypto/keys.js";
import { PostgresContainer, type StartedPostgresContainer } from "../../test/support/containers/postgres.js";
import { configureTestcontainers } from "../../test/support/docker.js";
import { postgresImage } from "../../test/support/images.js";
import {
  type BenchContext,
  type BenchRow,
  MiB,
  envInt,
  loadAverages,
  spawnCollect,
  timeCommand,
  workerPath,
} from "../lib.js";
import { ensurePgbackrestImage } from "../pgbackrest-image.js";
import { BENCH_LABEL, SHM_BYTES, docker, loadSql, pgbenchScale, removeLabelled } from "../postgres-data.js";
import { type CliCalls, type RecoveryLog, parseCliCalls, parseRecoveryLog } from "../recovery-log.js";

const DATABASE = "bench";
const PASSWORD = "bench-pg-password";
const PASSWORD_ENV = "BENCH_PG_PASSWORD";
const JOB = "bench-base";
const STANZA = "bench";
const PGDATA = "/var/lib/postgresql/data";
const SEGMENT_BYTES = 16 * MiB;
/** Spool first (for `wal ship`), then pgBackRest's own push; both must succeed. */
const ARCHIVE_COMMAND =
  "{ test -f /spool/%f || { cp %p /spool/.%f.tmp && mv /spool/.%f.tmp /spool/%f; }; } && pgbackrest archive-push %p";
/** hot_standby off: no connection is accepted until recovery ended and the server promoted. */
/** Inside a restored server's container: one line per backdrill start and end (the wrapper's). */
const CALLS_LOG = "/tmp/backdrill-calls.log";
const START_OPTIONS = "-c archive_mode=off -c hot_standby=off -c listen_addresses=localhost";

interface PgbrVariant {
  compress: "gz" | "zst" | "none";
  processMax: 1 | 2;
}

const pgbrTool = (type: "full" | "incr", v: PgbrVariant) =>
  `pgbackrest backup --type=${type} --compress-type=${v.compress}${v.compress === "gz" ? " (default)" : ""} --process-max=${v.processMax}`;

const FULL_VARIANTS: readonly PgbrVariant[] = [
  { compress: "gz", processMax: 1 },
  { compress: "gz", processMax: 2 },
  { compress: "zst", processMax: 1 },
  { compress: "none", processMax: 1 },
  // Last: the full set restored below, and the parent of the incremental backups.
  { compress: "zst", processMax: 2 },
];
const INCR_VARIANT: PgbrVariant = { compress: "zst", processMax: 2 };

const mib = (bytes: number) => `${(bytes / MiB).toFixed(bytes < 10 * MiB ? 2 : 0)} MiB`;
const secs = (seconds: number) => `${seconds.toFixed(1)} s`;

/** The best (lowest-time) measurement of each variant over the runs. */
class Best<T extends { seconds: number }> {
  private readonly values = new Map<string, T>();
  constructor(
    private readonly log: (message: string) => void,
    private readonly describe: (value: T) => string,
  ) {}
  add(key: string, value: T): void {
    this.log(`${key}: ${value.seconds.toFixed(2)} s, ${this.describe(value)}`);
    const old = this.values.get(key);
    if (old === undefined || value.seconds < old.seconds) this.values.set(key, value);
  }
  get(key: string): T {
    const value = this.values.get(key);
    if (value === undefined) throw new Error(`postgres-base bench: no measurement of ${key}`);
    return value;
  }
}

interface Backup {
  seconds: number;
  wallSeconds: number;
  peakRssMiB: number;
  bytes: number;
  id: string;
}

interface Restored {
  seconds: number;
  restoreSeconds: number;
  readySeconds: number;
  peakRssMiB: number | null;
  log: RecoveryLog;
  /** restore_command's backdrill starts; null for pgBackRest. */
  calls: CliCalls | null;
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const targetMiB = envInt("BENCH_PG_MIB", 1024);
  const runs = envInt("BENCH_PGBASE_RUNS", 1);
  const segments = envInt("BENCH_PGBASE_SEGMENTS", 32);
  const image = ensurePgbackrestImage(ctx.log);
  const runId = `${process.pid}-${Date.now()}`;
  const labels = { [BENCH_LABEL]: runId };
  configureTestcontainers();
  const loads: number[] = [];
  const sampleLoad = () => loads.push(loadavg()[0] ?? 0);
  const say = (message: string) => {
    sampleLoad();
    ctx.log(`postgres-base: ${message} (load ${loadAverages()})`);
  };

  const work = join(ctx.tmpDir, "pgbase");
  const spool = join(work, "spool");
  const repoDir = join(work, "repo");
  const pgbrRepo = join(work, "pgbr-repo");
  const configDir = join(work, "config");
  const stateDir = join(work, "state");
  const identityFile = join(work, "identity.txt");
  const cli = workerPath(ctx.repoRoot, "backdrill-cli");
  const cipherPass = randomBytes(24).toString("hex");
  const [uid, gid] = (
    await docker(["run", "--rm", "--entrypoint", "sh", image, "-c", "id -u postgres; id -g postgres"])
  )
    .trim()
    .split("\n")
    .map(Number);
  if (uid === undefined || gid === undefined || !Number.isInteger(uid) || !Number.isInteger(gid))
    throw new Error(`postgres-base: cannot read the postgres user's ids in ${image}`);
  /** pgBackRest's settings, as its environment variables (inherited by archive_command / restore_command). */
  const pgbrEnv = (pgPath: string, extra: Record<string, string> = {}): Record<string, string> => ({
    PGBACKREST_STANZA: STANZA,
    PGBACKREST_PG1_PATH: pgPath,
    PGBACKREST_REPO1_PATH: "/pgbr-repo",
    PGBACKREST_REPO1_CIPHER_TYPE: "aes-256-cbc",
    PGBACKREST_REPO1_CIPHER_PASS: cipherPass,
    PGBACKREST_LOG_LEVEL_CONSOLE: "warn",
    PGBACKREST_LOG_LEVEL_FILE: "off",
    ...extra,
  });

  await mkdir(spool, { recursive: true });
  await mkdir(pgbrRepo, { recursive: true });
  // The server's postgres user writes both (archive_command, pgBackRest).
  await chmod(spool, 0o777);
  await chown(pgbrRepo, uid, gid);
  await mkdir(join(configDir, "policies"), { recursive: true });
  await mkdir(join(configDir, "jobs"), { recursive: true });
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const { identity, recipient } = await generateIdentity();
  await writeFile(identityFile, `${identity}\n`, { mode: 0o600 });
  await writeFile(
    join(configDir, "policies", "bench.yaml"),
    `name: bench\nrepository: { type: local, path: ${repoDir} }\nencryption: { recipients: [${recipient}] }\n` +
      "retention: { keepLast: 1000 }\nrpo: 26h\n",
  );
  process.env[PASSWORD_ENV] = PASSWORD;
  const backdrill = (args: readonly string[]) =>
    timeCommand(work, process.execPath, [cli, "--config-dir", configDir, ...args]);

  let source: StartedPostgresContainer | undefined;
  try {
    const builder = new PostgresContainer(image).withDatabase(DATABASE).withPassword(PASSWORD);
    // fsync off on the source only, to load fast; both tools read it alike. archive_mode needs a
    // restart, so it is on from the start, with a command that discards the load's WAL.
    builder.withServerArgs(
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "max_wal_size=8GB",
      "-c",
      "maintenance_work_mem=256MB",
      "-c",
      "archive_mode=on",
    );
    builder.container
      .withLabels(labels)
      .withSharedMemorySize(SHM_BYTES)
      .withEnvironment(pgbrEnv(PGDATA, { PGBACKREST_PG1_USER: "test", PGBACKREST_START_FAST: "y" }))
      .withBindMounts([
        { source: spool, target: "/spool", mode: "rw" },
        { source: pgbrRepo, target: "/pgbr-repo", mode: "rw" },
      ]);
    source = await builder.start();
    const server = source;
    const sql = (text: string) => server.psql(text);
    await sql("ALTER SYSTEM SET archive_command = 'true'");
    await sql("SELECT pg_reload_conf()");
    say(`source up; loading ~${targetMiB} MiB`);
    const loadStarted = Date.now();
    await sql(loadSql(targetMiB));
    await sql("VACUUM (FREEZE, ANALYZE)");
    await sql("CHECKPOINT");
    const dbBytes = Number(await sql(`SELECT pg_database_size('${DATABASE}')`));
    say(`loaded ${mib(dbBytes)} in ${secs((Date.now() - loadStarted) / 1000)}`);

    const pgbr = (args: readonly string[]) =>
      docker(["exec", "-u", "postgres", server.getId(), "pgbackrest", ...args]);
    await pgbr(["stanza-create"]);
    await sql(`ALTER SYSTEM SET archive_command = '${ARCHIVE_COMMAND}'`);
    await sql("ALTER SYSTEM SET summarize_wal = on");
    await sql("SELECT pg_reload_conf()");
    await waitFor(
      async () => (await sql("SELECT current_setting('summarize_wal')")) === "on",
      "summarize_wal on",
    );

    const writeJob = (compression: string, fullEvery: number) =>
      writeFile(
        join(configDir, "jobs", `${JOB}.yaml`),
        `name: ${JOB}\nkind: postgres-base\npolicy: bench\n` +
          `connection: { host: 127.0.0.1, port: ${server.port}, user: test, passwordEnv: ${PASSWORD_ENV} }\n` +
          `tools: { image: ${postgresImage()} }\ncompression: ${compression}\n` +
          `incremental: { fullEvery: ${fullEvery}, stateDir: ${stateDir} }\n`,
      );
    const oursBackup = async (compression: string, fullEvery: number): Promise<Backup> => {
      await writeJob(compression, fullEvery);
      const result = await backdrill(["backup", JOB, "--json"]);
      const [outcome] = JSON.parse(result.stdout) as Array<{
        ok: boolean;
        snapshot: string;
        bytes: number;
        durationMs: number;
        error?: string;
      }>;
      if (outcome?.ok !== true)
        throw new Error(`backdrill backup failed: ${outcome?.error ?? result.stdout}`);
      return {
        seconds: outcome.durationMs / 1000,
        wallSeconds: result.seconds,
        peakRssMiB: result.peakRssMiB ?? 0,
        bytes: outcome.bytes,
        id: outcome.snapshot,
      };
    };
    const pgbrBackup = async (type: "full" | "incr", v: PgbrVariant): Promise<Backup> => {
      const result = await timeCommand(work, "docker", [
        "exec",
        "-u",
        "postgres",
        server.getId(),
        "pgbackrest",
        "backup",
        `--type=${type}`,
        `--compress-type=${v.compress}`,
        `--process-max=${v.processMax}`,
      ]);
      const info = JSON.parse(await pgbr(["info", "--output=json"])) as Array<{
        backup: Array<{ label: string; type: string; info: { repository: { delta: number } } }>;
      }>;
      const newest = info[0]?.backup.at(-1);
      if (newest === undefined || newest.type !== type)
        throw new Error(`pgbackrest info shows no new ${type} backup`);
      // The docker CLI's RSS says nothing of pgBackRest's, which runs in the container.
      return {
        seconds: result.seconds,
        wallSeconds: result.seconds,
        peakRssMiB: 0,
        bytes: newest.info.repository.delta,
        id: newest.label,
      };
    };

    // ---- 1. full backups ------------------------------------------------------------------
    const fulls = new Best<Backup>(say, (b) => `${mib(b.bytes)} stored`);
    let oursFull: Backup | undefined;
    let pgbrFull: Backup | undefined;
    for (let run = 1; run <= runs; run++) {
      const ours = async () => {
        fulls.add("none", await oursBackup("none", 1));
        // Last of ours: the full backup restored below and the incremental chain's parent.
        oursFull = await oursBackup("brotli-1", 1);
        fulls.add("brotli-1", oursFull);
      };
      const theirs = async () => {
        for (const v of FULL_VARIANTS) {
          pgbrFull = await pgbrBackup("full", v);
          fulls.add(`${v.compress}/${v.processMax}`, pgbrFull);
        }
      };
      await alternately(run, ours, theirs);
      say(`full backups run ${run}/${runs} done`);
    }
    if (oursFull === undefined || pgbrFull === undefined) throw new Error("no full backups");

    // ---- 2. incremental backups ------------------------------------------------------------
    const scale = pgbenchScale(targetMiB);
    const accounts = scale * 100_000;
    const slice = Math.round(accounts * 0.03);
    const incrs = new Best<Backup>(say, (b) => `${mib(b.bytes)} stored`);
    const oursChain: Backup[] = [];
    let pgbrIncr: Backup | undefined;
    for (let run = 1; run <= runs; run++) {
      // 3 % of the accounts (a contiguous slice, as a day of activity touches some rows, not all
      // pages) and 1 % more history rows.
      const from = (run - 1) * slice + 1;
      await sql(
        `UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN ${from} AND ${from + slice - 1}`,
      );
      await sql(
        `INSERT INTO pgbench_history SELECT g % ${scale * 10} + 1, g % ${scale} + 1, g % ${accounts} + 1, 1, now(), '' FROM generate_series(1, ${scale * 10}) g`,
      );
      const ours = async () => {
        const backup = await oursBackup("brotli-1", 1000);
        oursChain.push(backup);
        incrs.add("ours", backup);
      };
      const theirs = async () => {
        pgbrIncr = await pgbrBackup("incr", INCR_VARIANT);
        incrs.add("pgbr", pgbrIncr);
      };
      await alternately(run, ours, theirs);
      say(`incremental backups run ${run}/${runs} done`);
    }
    const oursIncr = oursChain.at(-1);
    if (oursIncr === undefined || pgbrIncr === undefined) throw new Error("no incremental backups");

    // ---- the WAL range both restores replay ------------------------------------------------
    const walStarted = Date.now();
    const startLsn = await sql("SELECT pg_current_wal_lsn()");
    for (let from = 1; ; from = (from + 100_000) % accounts) {
      const written = Number(await sql(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '${startLsn}')`));
      if (written >= segments * SEGMENT_BYTES) break;
      await sql(
        `UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN ${from} AND ${from + 99_999}`,
      );
    }
    const expected = await sql("SELECT sum(abalance)::text || '/' || count(*)::text FROM pgbench_accounts");
    await sql("SELECT pg_logical_emit_message(false, 'backdrill-bench', 'end')");
    const last = await sql("SELECT pg_walfile_name(pg_switch_wal())");
    await waitFor(
      async () => (await sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")) >= last,
      `segment ${last} archived`,
      600_000,
    );
    const shipped = await backdrill(["wal", "ship", JOB, spool, "--once"]);
    say(
      `${segments} segments written and archived in ${secs((Date.now() - walStarted) / 1000)}, shipped in ${secs(shipped.seconds)}`,
    );

    // ---- 3. restore + recovery ---------------------------------------------------------------
    const repoReal = await realpath(ctx.repoRoot);
    const nodeModules = await realpath(join(ctx.repoRoot, "node_modules"));
    const native = await realpath(join(ctx.repoRoot, "build", "native"));
    const node = await realpath(process.execPath);
    const wrapper = join(work, "backdrill-on-path");
    // Notes each start and its end (restore_command runs one at a time): how many segments needed
    // a backdrill start and how long recovery waited for them.
    await writeFile(
      wrapper,
      `#!/bin/sh\necho "S $(date +%s.%N) $*" >> ${CALLS_LOG}\n/usr/local/bin/node ${cli} "$@"\n` +
        `status=$?\necho "E $(date +%s.%N) $status" >> ${CALLS_LOG}\nexit $status\n`,
      { mode: 0o755 },
    );
    const logDir = process.env.BENCH_PGBASE_LOG_DIR;
    let restoreCount = 0;
    /** A server container for one restore: started (untimed) with `dir` at /restore, idle until pg_ctl. */
    const restoreContainer = async (dir: string, env: Record<string, string>, mounts: string[]) => {
      await mkdir(dir, { mode: 0o700 });
      await chown(dir, uid, gid);
      const name = `backdrill-bench-restore-${runId}-${restoreCount++}`;
      await docker([
        "run",
        "-d",
        "--init",
        "--name",
        name,
        "--label",
        `${BENCH_LABEL}=${runId}`,
        "--user",
        `${uid}:${gid}`,
        "--shm-size",
        String(SHM_BYTES),
        "--entrypoint",
        "sleep",
        ...Object.entries(env).flatMap(([key, value]) => ["-e", `${key}=${value}`]),
        ...["-v", `${dir}:/restore`, ...mounts.flatMap((mount) => ["-v", mount])],
        image,
        "infinity",
      ]);
      return name;
    };
    /** pg_ctl start on /restore until the log says ready (timed), the log parsed, the data compared with the source's. */
    const recover = async (name: string, dir: string, label: string) => {
      const logFile = join(dir, "recovery.log");
      const started = process.hrtime.bigint();
      // pg_ctl -W: with hot_standby off, pg_ctl -w would return as soon as recovery starts
      // (PostgreSQL reports "standby" then), so the log is watched for the end instead.
      const result = await spawnCollect("docker", [
        "exec",
        name,
        "pg_ctl",
        "-D",
        "/restore",
        "-l",
        "/restore/recovery.log",
        "-W",
        "-o",
        START_OPTIONS,
        "start",
      ]);
      if (result.code !== 0) throw new Error(`${label}: pg_ctl start failed: ${result.stderr}`);
      const deadline = Date.now() + 3_600_000;
      let logText = "";
      for (;;) {
        logText = await readFile(logFile, "utf8").catch(() => "");
        if (/database system is ready to accept connections/.test(logText)) break;
        if (
          /PANIC:|startup process \(PID \d+\) (exited|was terminated)|database system is shut down/.test(
            logText,
          ) ||
          Date.now() > deadline
        )
          throw new Error(`${label}: recovery failed:\n${logText.slice(-3000)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const readySeconds = Number(process.hrtime.bigint() - started) / 1e9;
      const got = (
        await docker([
          "exec",
          name,
          "psql",
          "-X",
          "-At",
          "-U",
          "test",
          "-d",
          DATABASE,
          "-c",
          "SELECT sum(abalance)::text || '/' || count(*)::text FROM pgbench_accounts",
        ])
      ).trim();
      if (got !== expected)
        throw new Error(
          `${label}: the restored server has ${got}, the source ${expected}: recovery stopped early`,
        );
      const calls = await spawnCollect("docker", ["exec", name, "cat", CALLS_LOG]);
      if (logDir !== undefined && logDir !== "") {
        const base = join(logDir, `${runId}-${label.replace(/[^\w.-]+/g, "_")}`);
        await writeFile(`${base}.log`, logText);
        if (calls.code === 0) await writeFile(`${base}.calls`, calls.stdout);
      }
      return {
        readySeconds,
        log: parseRecoveryLog(logText),
        calls: calls.code === 0 ? parseCliCalls(calls.stdout) : null,
      };
    };
    const cleanup = async (name: string, dir: string) => {
      await spawnCollect("docker", ["rm", "-f", "-v", name]);
      await rm(dir, { recursive: true, force: true });
    };

    const oursRestore = async (snapshot: string, prefetch: number): Promise<Restored> => {
      const dir = join(work, `restore-${restoreCount}`);
      const name = await restoreContainer(dir, {}, [
        `${node}:/usr/local/bin/node:ro`,
        `${wrapper}:/usr/local/bin/backdrill:ro`,
        `${repoReal}:${repoReal}:ro`,
        `${nodeModules}:${nodeModules}:ro`,
        `${native}:${native}:ro`,
        `${work}:${work}:ro`,
      ]);
      try {
        const label = `backdrill restore of ${snapshot} --prefetch ${prefetch}`;
        const restored = await backdrill([
          "restore",
          JOB,
          "--to",
          dir,
          "--snapshot",
          snapshot,
          "--prefetch",
          String(prefetch),
          "--identity",
          identityFile,
        ]);
        // As the restore plan says: the data directory to the server's user, which also reads
        // the repository, the configuration and the identity (restore_command runs as it).
        await spawnCollect("chown", ["-R", `${uid}:${gid}`, dir, repoDir, configDir, identityFile]);
        const { readySeconds, log, calls } = await recover(name, dir, label);
        return {
          seconds: restored.seconds + readySeconds,
          restoreSeconds: restored.seconds,
          readySeconds,
          peakRssMiB: restored.peakRssMiB,
          log,
          calls,
        };
      } finally {
        await cleanup(name, dir);
      }
    };
    const pgbrRestore = async (set: string | undefined): Promise<Restored> => {
      const dir = join(work, `restore-${restoreCount}`);
      const name = await restoreContainer(
        dir,
        pgbrEnv("/restore", {
          PGBACKREST_ARCHIVE_ASYNC: "y",
          PGBACKREST_PROCESS_MAX: "2",
          PGBACKREST_SPOOL_PATH: "/var/spool/pgbackrest",
        }),
        [`${pgbrRepo}:/pgbr-repo`],
      );
      try {
        const restored = await timeCommand(work, "docker", [
          "exec",
          name,
          "pgbackrest",
          "restore",
          ...(set === undefined ? [] : [`--set=${set}`]),
        ]);
        const { readySeconds, log } = await recover(name, dir, `pgbackrest restore ${set ?? "latest"}`);
        return {
          seconds: restored.seconds + readySeconds,
          restoreSeconds: restored.seconds,
          readySeconds,
          peakRssMiB: null,
          log,
          calls: null,
        };
      } finally {
        await cleanup(name, dir);
      }
    };

    const orNa = (value: number | null, text: (value: number) => string) =>
      value === null ? "n/a" : text(value);
    const describe = (r: Restored) =>
      `restore ${secs(r.restoreSeconds)} + start to ready ${secs(r.readySeconds)}: ${r.log.restored} segments through ` +
      `restore_command, redo ${orNa(r.log.redoSeconds, secs)} (${orNa(r.log.segmentsPerSecond, (n) => n.toFixed(1))} segments/s), ` +
      `redo done to ready ${orNa(r.log.endSeconds, secs)}` +
      (r.calls === null
        ? ""
        : `; ${r.calls.starts} backdrill starts (${r.calls.misses} for files not in the archive) took ${secs(r.calls.seconds)}`);
    const restores = new Best<Restored>(say, describe);
    for (let run = 1; run <= runs; run++) {
      restores.add("pgbr full", await pgbrRestore(pgbrFull.id));
      restores.add("ours full 8", await oursRestore(oursFull.id, 8));
      restores.add("ours full 0", await oursRestore(oursFull.id, 0));
      restores.add("ours chain 8", await oursRestore(oursIncr.id, 8));
      restores.add("pgbr incr", await pgbrRestore(undefined));
      say(`restores run ${run}/${runs} done`);
    }

    // ---- rows ---------------------------------------------------------------------------------
    sampleLoad();
    const load = `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`;
    const rows: BenchRow[] = [];
    /** One row; MiB/s (database size / time) only where the whole database moved. */
    const row = (
      name: string,
      ours: { seconds: number; wallSeconds?: number; peakRssMiB: number | null },
      tool: string,
      theirs: { seconds: number },
      note: string,
      whole = true,
    ): BenchRow => {
      const rate = (seconds: number) => (whole ? { mibPerSecond: dbBytes / MiB / seconds } : {});
      return {
        name,
        ours: {
          seconds: ours.seconds,
          ...(ours.wallSeconds === undefined ? {} : { wallSeconds: ours.wallSeconds }),
          peakRssMiB: ours.peakRssMiB ?? 0,
          ...rate(ours.seconds),
        },
        baseline: { tool, seconds: theirs.seconds, peakRssMiB: null, ...rate(theirs.seconds) },
        ratio: ours.seconds / theirs.seconds,
        note,
        load,
      };
    };
    const backupRow = (name: string, ours: Backup, key: string, tool: string, note: string): BenchRow => {
      const theirs = fulls.get(key);
      return row(
        name,
        ours,
        tool,
        theirs,
        `stored: ours ${mib(ours.bytes)}, pgBackRest ${mib(theirs.bytes)}; ${note}`,
      );
    };
    const db = mib(dbBytes);
    const brotli = fulls.get("brotli-1");
    for (const v of FULL_VARIANTS.filter((variant) => variant.compress !== "none")) {
      rows.push(
        backupRow(
          `postgres-base: full backup of a ${db} database (brotli-1, the default)`,
          brotli,
          `${v.compress}/${v.processMax}`,
          pgbrTool("full", v),
          "MiB/s = database size / time; ours s = the backup in the CLI (without Node start-up)",
        ),
      );
    }
    rows.push(
      backupRow(
        `postgres-base: full backup of a ${db} database (compression: none)`,
        fulls.get("none"),
        "none/1",
        pgbrTool("full", { compress: "none", processMax: 1 }),
        "both encrypt only",
      ),
    );
    const ourIncr = incrs.get("ours");
    const theirIncr = incrs.get("pgbr");
    rows.push(
      row(
        `postgres-base: incremental backup after ${slice} pgbench_accounts rows (3 %, one slice) updated and ${scale * 10} history rows inserted`,
        ourIncr,
        pgbrTool("incr", INCR_VARIANT),
        theirIncr,
        `stored: ours ${mib(ourIncr.bytes)} (pg_basebackup --incremental, block level), pgBackRest ${mib(theirIncr.bytes)} ` +
          "(file level: every changed relation file, up to 1 GiB, whole; repo-block=y, not measured, stores blocks)",
        false,
      ),
    );
    const restoreRow = (name: string, ours: Restored, theirs: Restored, tool: string, note = ""): BenchRow =>
      row(
        name,
        ours,
        tool,
        theirs,
        [`ours: ${describe(ours)}`, `pgBackRest: ${describe(theirs)}`, note]
          .filter((part) => part !== "")
          .join("; "),
      );
    const pgbrAsync = "archive-get with archive-async, process-max 2";
    rows.push(
      restoreRow(
        `postgres-base: restore --to DIR of the full backup + recovery of ${segments}+ segments to ready (--prefetch 8, the default)`,
        restores.get("ours full 8"),
        restores.get("pgbr full"),
        `pgbackrest restore --set=FULL (zst) + recovery, ${pgbrAsync}`,
        "time = restore + pg_ctl start -w (recovery until promoted and ready for connections); ours peak RSS: the restore process",
      ),
      restoreRow(
        `postgres-base: restore --to DIR of the full backup + recovery of ${segments}+ segments to ready (--prefetch 0)`,
        restores.get("ours full 0"),
        restores.get("pgbr full"),
        `pgbackrest restore --set=FULL (zst) + recovery, ${pgbrAsync}`,
        "prefetch 0: one backdrill start per segment",
      ),
      restoreRow(
        `postgres-base: restore --to DIR of the incremental chain (${oursChain.length + 1} links, pg_combinebackup) + recovery to ready (--prefetch 8)`,
        restores.get("ours chain 8"),
        restores.get("pgbr incr"),
        `pgbackrest restore (latest: the incremental) + recovery, ${pgbrAsync}`,
      ),
    );
    return rows;
  } finally {
    await source?.stop({ remove: true, removeVolumes: true }).catch(() => undefined);
    await removeLabelled(runId);
    await rm(work, { recursive: true, force: true });
  }
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`postgres-base bench: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Odd runs ours first, even runs theirs first: neither side always gets the warmer cache. */
async function alternately(
  run: number,
  ours: () => Promise<void>,
  theirs: () => Promise<void>,
): Promise<void> {
  if (run % 2 === 1) {
    await ours();
    await theirs();
  } else {
    await theirs();
    await ours();
  }
}
