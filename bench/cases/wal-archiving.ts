/**
 * Sustained WAL archiving (issue 18 item 2: "≥ 6 segments/s with encryption here"): a real
 * PostgreSQL 17 (the pgBackRest bench image, bench/pgbackrest-image.ts) writes BENCH_WAL_SEGMENTS
 * (default 96) segments of WAL as fast as one session can (bench/wal/load.ts) while an archiver
 * stores them, each archiver in a fresh server (bench/wal/archivers.ts says how each is set up):
 *
 *   - backdrill spool (README's archive_command) + `wal ship` on the host, brotli-1 and none;
 *   - backdrill direct `wal push` as archive_command (a quarter of the segments: it is slow);
 *   - pgBackRest archive-push, archive-async=y, process-max=2, aes-256-cbc, lz4 and gz (half);
 *   - plain `cp` (the ceiling).
 *
 * Measured per run: segments/s from the first to the last segment of the load *stored in the
 * repository* (the directory watched every 100 ms), the same from PostgreSQL's view
 * (pg_stat_archiver.archived_count: for the spool that is the spool, not the repository), the
 * rate the load wrote WAL at, and how far the archive was behind when the load stopped. "ours s"
 * and "baseline s" are the time to store BENCH_WAL_SEGMENTS segments at that sustained rate.
 *
 * Every container carries the label backdrill.bench=<run id> and is removed in `finally`, with
 * any left by a killed earlier run of this case (label backdrill.bench.case=wal-archiving).
 * BENCH_WAL_RUNS (default 1) loads per archiver (the best is kept).
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { generateIdentity } from "../../src/crypto/keys.js";
import { bundleCli } from "../../test/support/bundle-cli.js";
import { PostgresContainer, type StartedPostgresContainer } from "../../test/support/containers/postgres.js";
import { configureTestcontainers } from "../../test/support/docker.js";
import { type BenchContext, type BenchRow, envInt, loadAverages, spawnCollect } from "../lib.js";
import { ensurePgbackrestImage } from "../pgbackrest-image.js";
import { type ArchiverPlan, type ArchiverSpec, planArchiver } from "../wal/archivers.js";
import { drainArchiver, generateWal, SEGMENT_BYTES, SETUP_SQL, segmentRange } from "../wal/load.js";
import { ArchiveWatch, storedBytes, type Timeline } from "../wal/watch.js";

const BENCH_LABEL = "backdrill.bench";
const CASE_LABEL = "backdrill.bench.case";
const CASE = "wal-archiving";
const PASSWORD = "bench-wal-password";
const GOAL_SEGMENTS_PER_SECOND = 6;
const MiB = 1024 * 1024;

const ARCHIVERS: readonly ArchiverSpec[] = [
  { kind: "cp", compression: "none", label: "cp (no fsync, no compression, no encryption)" },
  { kind: "pgbackrest", compression: "lz4", label: "pgBackRest archive-push async, lz4, aes-256-cbc" },
  { kind: "ship", compression: "brotli-1", label: "backdrill spool + wal ship, brotli-1, age" },
  { kind: "ship", compression: "none", label: "backdrill spool + wal ship, no compression, age" },
  {
    kind: "pgbackrest",
    compression: "gz",
    label: "pgBackRest archive-push async, gz (default), aes-256-cbc",
  },
  { kind: "push", compression: "brotli-1", label: "backdrill wal push as archive_command, brotli-1, age" },
];

/**
 * The slow archivers get a share of BENCH_WAL_SEGMENTS, so that the case stays within minutes:
 * direct `wal push` (about one segment/s) and pgBackRest's gz (level 6: 0.2–0.6 seg/s under load).
 * Their rate is what the rows compare; "seconds" are scaled to BENCH_WAL_SEGMENTS for every row.
 */
const SHARE: Record<string, number> = { "push brotli-1": 0.25, "pgbackrest gz": 0.5 };

/** One load through one archiver. */
interface RunResult {
  mode: Mode;
  segments: number;
  /** Segments/s from the first to the last stored (null with fewer than two). */
  storedRate: number;
  /** The same from pg_stat_archiver's archived_count. */
  archiverRate: number | null;
  /** Segments/s the load wrote. */
  loadRate: number;
  /** Segments of the load not yet stored when it ended, and seconds until the last was. */
  behindAtEnd: number;
  catchUpSeconds: number;
  failed: number;
  /** CPU seconds per segment of the archiver's own process (wal ship), when it has one. */
  cpuPerSegment: number | null;
  load: string;
}

interface ArchiverResult {
  spec: ArchiverSpec;
  /** Stored bytes per segment over everything this archiver stored, / 16 MiB. */
  storedFraction: number | null;
  /** The best run of each mode measured. */
  best: Partial<Record<Mode, RunResult>>;
  peakRssMiB: number | null;
}

function rate(count: number, firstMs: number, lastMs: number): number | null {
  return count < 2 || lastMs <= firstMs ? null : (count - 1) / ((lastMs - firstMs) / 1000);
}

function summarise(
  mode: Mode,
  names: readonly string[],
  timeline: Timeline,
  loadStart: number,
  loadEnd: number,
  load: string,
  cpuSeconds: number | null,
): RunResult {
  const times = names.map((name) => timeline.stored.get(name) ?? Number.NaN);
  const first = Math.min(...times);
  const last = Math.max(...times);
  const base = timeline.archived[0]?.[1] ?? 0;
  const reached = (count: number) => timeline.archived.find(([, archived]) => archived >= base + count)?.[0];
  const archivedFirst = reached(1);
  const archivedLast = reached(names.length);
  return {
    mode,
    segments: names.length,
    storedRate: rate(names.length, first, last) ?? Number.NaN,
    archiverRate:
      archivedFirst === undefined || archivedLast === undefined
        ? null
        : rate(names.length, archivedFirst, archivedLast),
    loadRate: names.length / ((loadEnd - loadStart) / 1000),
    behindAtEnd: times.filter((time) => time > loadEnd).length,
    catchUpSeconds: Math.max(0, (last - loadEnd) / 1000),
    failed: timeline.failed,
    cpuPerSegment: cpuSeconds === null ? null : cpuSeconds / names.length,
    load,
  };
}

async function removeLabelled(filter: string): Promise<void> {
  const listed = await spawnCollect("docker", ["ps", "-aq", "--filter", `label=${filter}`]);
  const ids = listed.stdout.split("\n").filter((id) => id.trim() !== "");
  if (ids.length > 0) await spawnCollect("docker", ["rm", "-f", "-v", ...ids]);
}

async function startServer(image: string, plan: ArchiverPlan, labels: Record<string, string>) {
  const builder = new PostgresContainer(image).withDatabase("bench").withPassword(PASSWORD);
  // Archiving off until the archiver is ready (pgBackRest needs its stanza first): the default,
  // empty archive_command keeps the WAL without counting failures (which would back the archiver
  // off). It is set with ALTER SYSTEM later, so it must not be on the command line (which wins).
  builder.withServerArgs("-c", "wal_level=replica", "-c", "archive_mode=on", "-c", "wal_compression=off");
  builder.container
    .withLabels(labels)
    .withBindMounts(plan.mounts)
    .withSharedMemorySize(256 * MiB);
  return builder.start();
}

async function connect(server: StartedPostgresContainer): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: server.connectionUri });
  await client.connect();
  return client;
}

type Mode = "sustained" | "backlog";

async function setArchiveCommand(client: pg.Client, command: string | null): Promise<void> {
  if (command === null) await client.query("ALTER SYSTEM RESET archive_command");
  else await client.query(`ALTER SYSTEM SET archive_command = '${command.replaceAll("'", "''")}'`);
  await client.query("SELECT pg_reload_conf()");
}

/**
 * One load through the archiver. sustained: archiving on while the load writes. backlog: the
 * load writes with archiving off (the WAL waits in pg_wal, as after an outage of the archive),
 * then archiving is switched on and the archiver drains it: its capacity, not limited by how fast
 * one session writes WAL on a shared machine.
 */
async function measureOnce(
  ctx: BenchContext,
  plan: ArchiverPlan,
  clients: { load: pg.Client; watch: pg.Client },
  mode: Mode,
  segments: number,
): Promise<RunResult> {
  const loadBefore = loadAverages();
  const watch = new ArchiveWatch(plan.watchDir, plan.watchDepth, clients.watch);
  if (mode === "backlog") await setArchiveCommand(clients.load, null);
  if (mode === "sustained") await watch.start();
  const cpuBefore = await plan.cpuSeconds();
  const load = await generateWal(clients.load, segments);
  let from = load;
  if (mode === "backlog") {
    await watch.start();
    const enabled = Date.now();
    await setArchiveCommand(clients.load, plan.archiveCommand);
    from = { ...load, startedAt: enabled, endedAt: enabled };
  }
  const names = segmentRange(load.first, load.last);
  try {
    // Direct `wal push` under heavy load: 5–13 s per segment (a Node start each).
    await watch.waitFor(names, 120_000 + names.length * 15_000);
    await watch.waitForArchiver(names.length, 30_000);
  } catch (error) {
    await watch.abandon();
    throw error;
  }
  const cpuAfter = await plan.cpuSeconds();
  const cpu = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore;
  const result = summarise(
    mode,
    names,
    await watch.stop(),
    from.startedAt,
    from.endedAt,
    `${loadBefore} → ${loadAverages()}`,
    cpu,
  );
  ctx.log(`${plan.spec.label}, ${mode}: ${describeRun(result)} (load ${result.load})`);
  return result;
}

async function measureArchiver(
  ctx: BenchContext,
  plan: ArchiverPlan,
  options: {
    image: string;
    segments: number;
    runs: number;
    modes: readonly Mode[];
    labels: Record<string, string>;
  },
): Promise<ArchiverResult> {
  const server = await startServer(options.image, plan, options.labels);
  const opened: pg.Client[] = [];
  try {
    const load = await connect(server);
    opened.push(load);
    const watch = await connect(server);
    opened.push(watch);
    await load.query(SETUP_SQL);
    await plan.prepare(server);
    await setArchiveCommand(load, plan.archiveCommand);
    await drainArchiver(load, 300_000);
    const best: Partial<Record<Mode, RunResult>> = {};
    for (let run = 1; run <= options.runs; run++) {
      for (const mode of options.modes) {
        const result = await measureOnce(ctx, plan, { load, watch }, mode, options.segments);
        const previous = best[mode];
        if (previous === undefined || result.storedRate > previous.storedRate) best[mode] = result;
      }
    }
    const peakRssMiB = (await plan.stop()).peakRssMiB;
    const stored = await storedBytes(plan.watchDir, plan.watchDepth);
    const storedFraction = stored.files === 0 ? null : stored.bytes / stored.files / SEGMENT_BYTES;
    return { spec: plan.spec, best, peakRssMiB, storedFraction };
  } finally {
    await plan.stop().catch(() => undefined);
    for (const client of opened) await client.end().catch(() => undefined);
    await server.stop({ remove: true, removeVolumes: true }).catch(() => undefined);
  }
}

function describeRun(r: RunResult): string {
  const stored = `${r.storedRate.toFixed(2)} seg/s stored (archiver's view ${r.archiverRate?.toFixed(2) ?? "n/a"})`;
  const how =
    r.mode === "sustained"
      ? `load wrote ${r.loadRate.toFixed(2)} seg/s, ${r.behindAtEnd} of ${r.segments} segments behind when it stopped, ` +
        `caught up ${r.catchUpSeconds.toFixed(1)} s later`
      : `a backlog of ${r.segments} segments drained in ${r.catchUpSeconds.toFixed(1)} s`;
  return (
    `${stored}, ${how}` +
    `${r.cpuPerSegment === null ? "" : `, wal ship used ${r.cpuPerSegment.toFixed(3)} CPU s per segment`}` +
    `${r.failed > 0 ? `, ${r.failed} failed archive_command runs` : ""}`
  );
}

function sizeNote(result: ArchiverResult): string {
  return result.storedFraction === null
    ? ""
    : `, stores ${result.storedFraction.toFixed(3)} of a segment's size`;
}

function row(
  mode: Mode,
  ours: ArchiverResult,
  baseline: ArchiverResult,
  segments: number,
  goal: boolean,
): BenchRow | null {
  const o = ours.best[mode];
  const b = baseline.best[mode];
  if (o === undefined || b === undefined) return null;
  const seconds = (r: RunResult) => segments / r.storedRate;
  const perSecond = (r: RunResult) => (r.storedRate * SEGMENT_BYTES) / MiB;
  const goalNote = goal
    ? `goal ≥ ${GOAL_SEGMENTS_PER_SECOND} seg/s: ${o.storedRate >= GOAL_SEGMENTS_PER_SECOND ? "met" : "NOT met"}; `
    : "";
  return {
    name: `WAL archiving (${mode === "sustained" ? "during the load" : "backlog drain"}): ${ours.spec.label}`,
    ours: { seconds: seconds(o), mibPerSecond: perSecond(o), peakRssMiB: ours.peakRssMiB ?? Number.NaN },
    baseline: {
      tool: baseline.spec.label,
      seconds: seconds(b),
      mibPerSecond: perSecond(b),
      peakRssMiB: null,
    },
    ratio: seconds(o) / seconds(b),
    load: `${o.load}; baseline ${b.load}`,
    note:
      `${goalNote}ours: ${describeRun(o)}${sizeNote(ours)}; ` +
      `baseline: ${describeRun(b)}${sizeNote(baseline)}`,
  };
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const segments = envInt("BENCH_WAL_SEGMENTS", 96);
  const runs = envInt("BENCH_WAL_RUNS", 1);
  const only = (process.env.BENCH_WAL_ONLY ?? "").split(",").filter((kind) => kind !== "");
  const modes = (process.env.BENCH_WAL_MODES ?? "sustained,backlog")
    .split(",")
    .filter((mode): mode is Mode => mode === "sustained" || mode === "backlog");
  if (modes.length === 0) throw new Error("BENCH_WAL_MODES: give sustained, backlog or both");
  const runId = `${process.pid}-${Date.now()}`;
  const labels = { [BENCH_LABEL]: runId, [CASE_LABEL]: CASE };
  configureTestcontainers();
  await removeLabelled(`${CASE_LABEL}=${CASE}`);
  const image = ensurePgbackrestImage(ctx.log);
  const { recipient } = await generateIdentity();
  const cli = await bundleCli();
  const results: ArchiverResult[] = [];
  try {
    for (const [index, spec] of ARCHIVERS.entries()) {
      if (only.length > 0 && !only.includes(spec.kind)) continue;
      const root = join(ctx.tmpDir, `wal-${index}-${spec.kind}`);
      await mkdir(root, { recursive: true });
      const plan = await planArchiver(
        { root, repoRoot: ctx.repoRoot, cliBundle: cli.bin, recipient, log: ctx.log },
        spec,
      );
      const count = Math.max(8, Math.round(segments * (SHARE[`${spec.kind} ${spec.compression}`] ?? 1)));
      try {
        results.push(await measureArchiver(ctx, plan, { image, segments: count, runs, modes, labels }));
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    }
  } finally {
    await cli.remove();
    await removeLabelled(`${BENCH_LABEL}=${runId}`);
  }
  const find = (kind: string, compression: string) =>
    results.find((result) => result.spec.kind === kind && result.spec.compression === compression);
  const rows: BenchRow[] = [];
  const pgbackrest = find("pgbackrest", "lz4") ?? find("pgbackrest", "gz");
  const ship = find("ship", "brotli-1");
  const add = (r: BenchRow | null) => {
    if (r !== null) rows.push(r);
  };
  for (const mode of modes) {
    for (const ours of results.filter(
      (result) => result.spec.kind === "ship" || result.spec.kind === "push",
    )) {
      if (pgbackrest !== undefined) add(row(mode, ours, pgbackrest, segments, ours === ship));
    }
    if (ship !== undefined) {
      for (const baseline of [find("pgbackrest", "gz"), find("cp", "none")]) {
        if (baseline !== undefined && baseline !== pgbackrest)
          add(row(mode, ship, baseline, segments, false));
      }
    }
  }
  if (rows.length === 0)
    throw new Error(`${CASE}: no rows (BENCH_WAL_ONLY=${only.join(",")} leaves nothing to compare)`);
  return rows;
}
