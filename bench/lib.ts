/**
 * Benchmark harness library: the types every case uses and helpers to make test data, time
 * functions and external commands, and measure peak RSS of a child process.
 *
 * Our code is always measured in a separate Node process (a "worker" script under bench/workers,
 * compiled with tsc exactly like the shipped dist/), so its peak RSS is ours alone and not the
 * harness's or a TypeScript loader's.
 */
import { spawn } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";

export const MiB = 1024 * 1024;
const TIME_BINARY = "/usr/bin/time";
/** The issues' limit for our peak RSS while moving a large stream: 150 MB (decimal), in MiB. */
export const PEAK_RSS_LIMIT_MIB = 150_000_000 / MiB;

export interface OursMeasurement {
  /** Best (lowest) in-process time over the runs: the pipeline only, without process start-up. */
  seconds: number;
  mibPerSecond?: number;
  /** Highest peak RSS over the runs (getrusage ru_maxrss reported by the worker itself). */
  peakRssMiB: number;
  /** Best wall time of the whole child process, start-up included, for comparison with CLIs. */
  wallSeconds?: number;
}

export interface BaselineMeasurement {
  tool: string;
  /** Best (lowest) wall time over the runs. */
  seconds: number;
  mibPerSecond?: number;
  /** Highest peak RSS over the runs, from /usr/bin/time; null if that is not installed. */
  peakRssMiB: number | null;
}

export interface BenchRow {
  name: string;
  ours: OursMeasurement;
  baseline: BaselineMeasurement;
  /** ours.seconds / baseline.seconds: lower is better, below 1.0 means we are faster. */
  ratio: number;
  /** Free text: limits checked, caveats. */
  note?: string;
  /** 1-minute load average over the runs of this row ("min–max"), from os.loadavg(). */
  load?: string;
}

export interface CommandResult {
  seconds: number;
  peakRssMiB: number | null;
}

/** One timed run of our code: a worker's result, or an in-process measurement. */
export interface OursRun {
  seconds: number;
  wallSeconds?: number;
  peakRssMiB: number;
}

export interface WorkerResult {
  seconds: number;
  wallSeconds: number;
  peakRssMiB: number;
  [key: string]: unknown;
}

export interface BenchContext {
  /** Data size for throughput cases (BENCH_SIZE_MIB, default 1024). */
  sizeMiB: number;
  /** Repetitions per measurement (BENCH_RUNS, default 3); the best run is reported. */
  runs: number;
  /** Scratch directory for this bench run (removed afterwards). */
  tmpDir: string;
  repoRoot: string;
  log(message: string): void;
  /** A file of `bytes` random bytes (default: sizeMiB MiB), cached across runs under /tmp. */
  randomDataFile(bytes?: number): Promise<string>;
  timeFunction<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }>;
  /** Runs a command with stdio ignored; wall time and (via /usr/bin/time) peak RSS. */
  timeCommand(file: string, args: readonly string[]): Promise<CommandResult>;
  /**
   * Runs a compiled bench worker (bench/workers/<name>.ts) in its own Node process: this Node, or
   * the `node` binary given (to compare Node versions on the same code).
   */
  runWorker(name: string, args: readonly string[], node?: string): Promise<WorkerResult>;
}

const DATA_CACHE = "/tmp/backdrill-bench-data";

export async function randomDataFile(bytes: number): Promise<string> {
  await mkdir(DATA_CACHE, { recursive: true });
  const path = join(DATA_CACHE, `random-${bytes}.bin`);
  const existing = await stat(path).catch(() => null);
  if (existing?.size === bytes) return path;
  const partial = `${path}.partial`;
  const handle = await open(partial, "w");
  try {
    const block = Buffer.allocUnsafe(4 * MiB);
    for (let written = 0; written < bytes;) {
      const n = Math.min(block.length, bytes - written);
      randomFillSync(block, 0, n);
      await handle.write(block, 0, n);
      written += n;
    }
  } finally {
    await handle.close();
  }
  await rename(partial, path);
  return path;
}

export async function timeFunction<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, value };
}

export interface SpawnResult {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

export function spawnCollect(file: string, args: readonly string[]): Promise<SpawnResult> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (data: string) => (stdout += data));
    child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr = (stderr + data).slice(-4000)));
    child.on("error", reject);
    child.on("close", (code) => {
      resolve({ code, stdout, stderr, seconds: Number(process.hrtime.bigint() - start) / 1e9 });
    });
  });
}

export const hasTime = existsSync(TIME_BINARY);

export async function timeCommand(
  tmpDir: string,
  file: string,
  args: readonly string[],
): Promise<CommandResult> {
  const rssFile = join(tmpDir, `time-${process.hrtime.bigint()}.txt`);
  const result = hasTime
    ? await spawnCollect(TIME_BINARY, ["-f", "%M", "-o", rssFile, file, ...args])
    : await spawnCollect(file, args);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(" ")} exited with ${result.code}: ${result.stderr.trim()}`);
  }
  let peakRssMiB: number | null = null;
  if (hasTime) {
    // GNU time reports %M (maximum resident set size) in KiB.
    const kib = Number((await readFile(rssFile, "utf8")).trim().split("\n").pop());
    peakRssMiB = Number.isFinite(kib) ? kib / 1024 : null;
    await rm(rssFile, { force: true });
  }
  return { seconds: result.seconds, peakRssMiB };
}

/** Path of the compiled worker; see {@link compileWorkers}. */
export function workerPath(repoRoot: string, name: string): string {
  return join(repoRoot, "bench", "out", "bench", "workers", `${name}.js`);
}

/** Compiles bench/workers/*.ts (and the src modules they import) into bench/out with tsc. */
export async function compileWorkers(repoRoot: string, entries: readonly string[]): Promise<void> {
  const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc");
  const args = [
    tsc,
    "--outDir",
    join(repoRoot, "bench", "out"),
    "--rootDir",
    repoRoot,
    "--module",
    "nodenext",
    "--moduleResolution",
    "nodenext",
    "--target",
    "es2022",
    "--strict",
    "--skipLibCheck",
    "--esModuleInterop",
    "--types",
    "node",
    ...entries,
  ];
  const result = await spawnCollect(process.execPath, args);
  if (result.code !== 0) throw new Error(`compiling bench workers failed:\n${result.stdout}${result.stderr}`);
}

export async function runWorker(
  repoRoot: string,
  name: string,
  args: readonly string[],
  node: string = process.execPath,
): Promise<WorkerResult> {
  const result = await spawnCollect(node, [workerPath(repoRoot, name), ...args]);
  if (result.code !== 0)
    throw new Error(`bench worker ${name} exited with ${result.code}: ${result.stderr.trim()}`);
  const line = result.stdout.trim().split("\n").pop() ?? "";
  const parsed = JSON.parse(line) as { seconds: number; maxRssKiB: number; [key: string]: unknown };
  return {
    ...parsed,
    seconds: parsed.seconds,
    wallSeconds: result.seconds,
    peakRssMiB: parsed.maxRssKiB / 1024,
  };
}

/** A positive integer from the environment (a case's own BENCH_* setting), or `fallback` when unset. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

export function throughput(bytes: number, seconds: number): number {
  return bytes / MiB / seconds;
}

/** The three load averages, "1.23 4.56 7.89" (as `uptime` prints them). */
export function loadAverages(): string {
  return loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");
}

export interface BaselineSpec {
  tool: string;
  /** One timed run of the raw tool (any untimed set-up happens inside, before the timer starts). */
  run: () => Promise<CommandResult>;
}

export interface MeasureOptions {
  /** Called after every single run (ours or a baseline), e.g. to delete its output. */
  after?: () => Promise<void>;
  /**
   * The issue's goal for ours / baseline (e.g. 1.15), against the first baseline (the others are
   * for explanation): that row's note says whether it is met.
   */
  goalRatio?: number;
  /** Our peak RSS limit in MiB (default {@link PEAK_RSS_LIMIT_MIB}); null: not checked. */
  peakRssLimitMiB?: number | null;
  /** Extra text for the note. */
  note?: string;
}

function rssNote(peakRssMiB: number, limitMiB: number | null): string | undefined {
  if (limitMiB === null) return undefined;
  return peakRssMiB < limitMiB
    ? `ours peak RSS < 150 MB (${limitMiB.toFixed(0)} MiB): ok`
    : `ours peak RSS ${peakRssMiB.toFixed(0)} MiB EXCEEDS the 150 MB (${limitMiB.toFixed(0)} MiB) limit`;
}

/**
 * Runs ours and each baseline alternately, ctx.runs times (odd runs baselines first, even runs
 * ours first, so background load and caches hit both alike), and keeps the best time of each and
 * the highest peak RSS. One row per baseline, all sharing our measurement.
 */
export async function measureMany(
  ctx: Pick<BenchContext, "runs" | "log">,
  name: string,
  bytes: number | undefined,
  ours: () => Promise<OursRun>,
  baselines: readonly BaselineSpec[],
  options: MeasureOptions = {},
): Promise<BenchRow[]> {
  const best: OursMeasurement = { seconds: Infinity, peakRssMiB: 0 };
  const others: BaselineMeasurement[] = baselines.map((b) => ({
    tool: b.tool,
    seconds: Infinity,
    peakRssMiB: null,
  }));
  let loadMin = Infinity;
  let loadMax = 0;
  const sampleLoad = () => {
    const one = loadavg()[0] ?? 0;
    loadMin = Math.min(loadMin, one);
    loadMax = Math.max(loadMax, one);
  };
  for (let run = 1; run <= ctx.runs; run++) {
    const times: string[] = [];
    const runOurs = async () => {
      sampleLoad();
      const o = await ours();
      await options.after?.();
      best.seconds = Math.min(best.seconds, o.seconds);
      if (o.wallSeconds !== undefined)
        best.wallSeconds = Math.min(best.wallSeconds ?? Infinity, o.wallSeconds);
      best.peakRssMiB = Math.max(best.peakRssMiB, o.peakRssMiB);
      times.push(`ours ${o.seconds.toFixed(3)} s`);
    };
    const runBaselines = async () => {
      for (const [i, spec] of baselines.entries()) {
        sampleLoad();
        const b = await spec.run();
        await options.after?.();
        const m = others[i];
        if (m === undefined) continue;
        m.seconds = Math.min(m.seconds, b.seconds);
        if (b.peakRssMiB !== null) m.peakRssMiB = Math.max(m.peakRssMiB ?? 0, b.peakRssMiB);
        times.push(`${spec.tool} ${b.seconds.toFixed(3)} s`);
      }
    };
    if (run % 2 === 1) {
      await runBaselines();
      await runOurs();
    } else {
      await runOurs();
      await runBaselines();
    }
    sampleLoad();
    ctx.log(`${name} run ${run}/${ctx.runs}: ${times.join(", ")} (load ${loadAverages()})`);
  }
  if (bytes !== undefined) best.mibPerSecond = throughput(bytes, best.seconds);
  const load = `${loadMin.toFixed(1)}–${loadMax.toFixed(1)}`;
  return others.map((baseline, index) => {
    if (bytes !== undefined) baseline.mibPerSecond = throughput(bytes, baseline.seconds);
    const ratio = best.seconds / baseline.seconds;
    const goal =
      options.goalRatio === undefined || index > 0
        ? undefined
        : `goal ≤ ${options.goalRatio}x: ${ratio <= options.goalRatio ? "met" : "NOT met"}`;
    const note = [goal, rssNote(best.peakRssMiB, options.peakRssLimitMiB ?? PEAK_RSS_LIMIT_MIB), options.note]
      .filter((part) => part !== undefined && part !== "")
      .join("; ");
    return { name, ours: { ...best }, baseline, ratio, note, load };
  });
}

/** {@link measureMany} with one baseline. */
export async function measure(
  ctx: Pick<BenchContext, "runs" | "log">,
  name: string,
  bytes: number | undefined,
  tool: string,
  pair: { ours: () => Promise<OursRun>; baseline: () => Promise<CommandResult> },
  options: MeasureOptions = {},
): Promise<BenchRow> {
  const [row] = await measureMany(ctx, name, bytes, pair.ours, [{ tool, run: pair.baseline }], options);
  if (row === undefined) throw new Error("measure: no row");
  return row;
}
