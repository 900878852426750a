/**
 * `npm run bench [-- FILTER...]`: runs every bench/cases/*.ts whose name contains one of the
 * filters (all when none), prints a table and writes bench/results.md with the machine description.
 *
 * Environment: BENCH_SIZE_MIB (default 1024), BENCH_RUNS (default 3; the best run is reported).
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  type BenchContext,
  type BenchRow,
  MiB,
  compileWorkers,
  hasTime,
  randomDataFile,
  runWorker,
  timeCommand,
  timeFunction,
} from "./lib.js";

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const benchDir = join(repoRoot, "bench");

type CaseModule = { run: (ctx: BenchContext) => Promise<BenchRow[]> };

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function toolVersion(file: string): string {
  try {
    return execFileSync(file, ["--version"], { encoding: "utf8" }).trim();
  } catch {
    return "not installed";
  }
}

function machine(): string[] {
  const cpu = cpus()[0]?.model ?? "unknown";
  return [
    `- date: ${new Date().toISOString()}`,
    `- CPU: ${cpu}, nproc ${availableParallelism()}`,
    `- memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `- kernel: Linux ${release()}`,
    `- node ${process.version} (OpenSSL ${process.versions.openssl}), age ${toolVersion("age")}`,
    `- load average at start: ${loadavg()
      .map((n) => n.toFixed(2))
      .join(" ")}`,
  ];
}

const fmt = (n: number | null | undefined, digits = 2): string =>
  n === null || n === undefined || !Number.isFinite(n) ? "n/a" : n.toFixed(digits);

const HEADER = [
  "case",
  "ours s",
  "ours MiB/s",
  "ours wall s",
  "ours peak RSS MiB",
  "baseline",
  "baseline s",
  "baseline MiB/s",
  "baseline peak RSS MiB",
  "ratio (ours s / baseline s, lower is better)",
  "note",
];

function tableRows(rows: readonly BenchRow[]): string[][] {
  return rows.map((row) => [
    row.name,
    fmt(row.ours.seconds, 3),
    fmt(row.ours.mibPerSecond, 0),
    fmt(row.ours.wallSeconds, 3),
    fmt(row.ours.peakRssMiB, 1),
    row.baseline.tool,
    fmt(row.baseline.seconds, 3),
    fmt(row.baseline.mibPerSecond, 0),
    fmt(row.baseline.peakRssMiB, 1),
    `${fmt(row.ratio, 2)}x`,
    row.note ?? "",
  ]);
}

function markdownTable(rows: readonly BenchRow[]): string {
  const lines = [HEADER, HEADER.map(() => "---"), ...tableRows(rows)];
  return lines.map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

function consoleTable(rows: readonly BenchRow[]): string {
  const all = [HEADER, ...tableRows(rows)];
  const widths = HEADER.map((_, i) => Math.max(...all.map((cells) => (cells[i] ?? "").length)));
  return all.map((cells) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ")).join("\n");
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2).filter((arg) => !arg.startsWith("-"));
  const sizeMiB = positiveInt("BENCH_SIZE_MIB", 1024);
  const runs = positiveInt("BENCH_RUNS", 3);
  const cases = (await readdir(join(benchDir, "cases")))
    .filter((file) => file.endsWith(".ts"))
    .sort()
    .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)));
  if (cases.length === 0) throw new Error(`no bench case matches ${filters.join(", ")}`);
  const workers = (await readdir(join(benchDir, "workers"))).filter((file) => file.endsWith(".ts"));
  const description = machine();
  console.log(description.join("\n"));
  console.log(`compiling ${workers.length} bench worker(s) with tsc…`);
  await compileWorkers(
    repoRoot,
    workers.map((file) => join(benchDir, "workers", file)),
  );
  const tmpDir = await mkdtemp(join(tmpdir(), "backdrill-bench-"));
  const rows: BenchRow[] = [];
  try {
    const ctx: BenchContext = {
      sizeMiB,
      runs,
      tmpDir,
      repoRoot,
      log: (message) => console.log(`  ${message}`),
      randomDataFile: (bytes = sizeMiB * MiB) => randomDataFile(bytes),
      timeFunction,
      timeCommand: (file, args) => timeCommand(tmpDir, file, args),
      runWorker: (name, args) => runWorker(repoRoot, name, args),
    };
    for (const file of cases) {
      console.log(`case ${basename(file, ".ts")} (${sizeMiB} MiB, best of ${runs})`);
      const module = (await import(pathToFileURL(join(benchDir, "cases", file)).href)) as CaseModule;
      rows.push(...(await module.run(ctx)));
    }
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
  console.log(`\n${consoleTable(rows)}\n`);
  const results = [
    "# backdrill benchmarks",
    "",
    `\`npm run bench${filters.length > 0 ? ` -- ${filters.join(" ")}` : ""}\` with BENCH_SIZE_MIB=${sizeMiB}, BENCH_RUNS=${runs}.`,
    "",
    ...description,
    `- load average at end: ${loadavg()
      .map((n) => n.toFixed(2))
      .join(" ")}`,
    "",
    'Times are the best of the runs (ours and the baseline run alternately). "ours s" is measured inside',
    'our process (the stream pipeline, without Node start-up); "ours wall s" is the whole child process.',
    "Baselines are timed as whole processes. Peak RSS: ours from getrusage inside the worker process,",
    `baselines from ${hasTime ? "/usr/bin/time -f %M" : "nothing (/usr/bin/time is not installed: n/a)"}.`,
    "**ratio = ours seconds / baseline seconds: lower is better, below 1.0 means backdrill is faster.**",
    "",
    markdownTable(rows),
    "",
  ].join("\n");
  await writeFile(join(benchDir, "results.md"), results);
  console.log(`wrote ${join("bench", "results.md")}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
