/**
 * `npm run bench [-- FILTER...]`: runs every bench/cases/*.ts whose name contains one of the
 * filters (all when none), prints a table and updates bench/results.md: the machine description at
 * the top, then one section per case file, each between `<!-- bench:case NAME -->` and
 * `<!-- /bench:case NAME -->` markers. A run replaces only the sections of the cases it ran (as
 * each case finishes); other sections, and any text outside the markers (hand-written notes), stay.
 *
 * Environment: BENCH_SIZE_MIB (default 1024), BENCH_RUNS (default 3; the best run is reported),
 * BENCH_ALT_NODE (optional path of another `node` binary; cases that support it add rows run on it),
 * BENCH_PG_MIB (postgres-dump database size, default 1024), BENCH_CRYPTO_SIZES_MIB (crypto sizes,
 * default BENCH_SIZE_MIB and 10x that for the scale rows; see bench/cases/crypto.ts),
 * BENCH_FILES_COUNT (small files in the files case's tree, default 10000; 100000 for its scale row),
 * BENCH_PGBASE_RUNS / BENCH_PGBASE_SEGMENTS (postgres-base: passes, default 1; WAL segments
 * recovered after the backups, default 32; see bench/cases/postgres-base.ts),
 * BENCH_WAL_SEGMENTS / BENCH_WAL_RUNS / BENCH_WAL_MODES / BENCH_WAL_ONLY (wal-archiving: segments per
 * load, default 96; loads per archiver, default 1; sustained,backlog; archiver kinds to run).
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, release, tmpdir, totalmem } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import threadPool from "../src/cli/threadpool.cjs";
import {
  type BenchContext,
  type BenchRow,
  MiB,
  compileWorkers,
  envInt,
  hasTime,
  loadAverages,
  randomDataFile,
  runWorker,
  timeCommand,
  timeFunction,
} from "./lib.js";

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const benchDir = join(repoRoot, "bench");

type CaseModule = { run: (ctx: BenchContext) => Promise<BenchRow[]> };

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
    `- CPU: ${cpu}, nproc ${availableParallelism()}`,
    `- memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `- kernel: Linux ${release()}`,
    `- node ${process.version} (OpenSSL ${process.versions.openssl}), age ${toolVersion("age")}`,
    `- Docker ${dockerVersion()}`,
  ];
}

function dockerVersion(): string {
  try {
    return execFileSync("docker", ["version", "--format", "{{.Server.Version}}"], {
      encoding: "utf8",
    }).trim();
  } catch {
    return "not available";
  }
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
  "load avg 1-min (min–max over the runs)",
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
    row.load ?? "n/a",
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

const RESULTS_TITLE = "# backdrill benchmarks";
const HEADER_START = "<!-- bench:header -->";
const HEADER_END = "<!-- /bench:header -->";
const caseStart = (name: string) => `<!-- bench:case ${name} -->`;
const caseEnd = (name: string) => `<!-- /bench:case ${name} -->`;
const CASE_START = /^<!-- bench:case (\S+) -->$/gm;

function headerBlock(description: readonly string[]): string {
  return [
    HEADER_START,
    `Machine of the latest run (${new Date().toISOString()}):`,
    "",
    ...description,
    "",
    "Each section below comes from the latest `npm run bench` that ran that case (its command,",
    "settings, date and load averages are in the section); a run replaces only its own cases' sections.",
    "",
    'Times are the best of the runs (ours and the baseline run alternately). "ours s" is measured inside',
    'our process (without Node start-up); "ours wall s" is the whole child process.',
    "Baselines are timed as whole processes. Peak RSS: ours from getrusage inside the worker process,",
    `baselines from ${hasTime ? "/usr/bin/time -f %M" : "nothing (/usr/bin/time is not installed: n/a)"}.`,
    "The load column is the 1-minute load average sampled before every run of that row (2 vCPUs shared",
    "with other engineers' Docker tests: anything above 2 means both ours and the baseline waited for CPU).",
    "**ratio = ours seconds / baseline seconds: lower is better, below 1.0 means backdrill is faster.**",
    HEADER_END,
  ].join("\n");
}

interface CaseSection {
  name: string;
  command: string;
  settings: string;
  startedAt: string;
  loadStart: string;
  loadEnd: string;
  rows: readonly BenchRow[];
}

function caseBlock(section: CaseSection): string {
  return [
    caseStart(section.name),
    `## ${section.name}`,
    "",
    `\`${section.command}\` with ${section.settings}; started ${section.startedAt}.`,
    `Load average (1, 5, 15 min): ${section.loadStart} at the start, ${section.loadEnd} at the end.`,
    "",
    markdownTable(section.rows),
    caseEnd(section.name),
  ].join("\n");
}

/**
 * Puts `block` into `text` in place of the block between `start` and `end` markers; when there
 * is none, `insert` decides where it goes. Everything else in `text` is kept byte for byte.
 */
function replaceBlock(
  text: string,
  start: string,
  end: string,
  block: string,
  insert: (text: string) => number,
): string {
  const from = text.indexOf(start);
  if (from >= 0) {
    const to = text.indexOf(end, from);
    if (to < 0) throw new Error(`bench/results.md: "${start}" has no "${end}"; fix the file by hand`);
    return text.slice(0, from) + block + text.slice(to + end.length);
  }
  const at = insert(text);
  const before = text.slice(0, at).replace(/\n*$/, "");
  const after = text.slice(at).replace(/^\n*/, "");
  return `${before}\n\n${block}\n${after === "" ? "" : `\n${after}`}`;
}

/** Merges a header and case sections into the existing report text (or a new one). */
function mergeResults(
  existing: string,
  description: readonly string[],
  sections: readonly CaseSection[],
): string {
  let text = existing.trim() === "" ? `${RESULTS_TITLE}\n` : existing;
  if (!text.includes("<!-- bench:") && text.trim() !== RESULTS_TITLE) {
    // A report from before the sectioned format: keep it, below, as hand-written text.
    text = `${RESULTS_TITLE}\n\n## Older results\n\n${text.replace(RESULTS_TITLE, "").trim()}\n`;
  }
  text = replaceBlock(text, HEADER_START, HEADER_END, headerBlock(description), (t) => {
    const title = t.indexOf(RESULTS_TITLE);
    return title >= 0 ? title + RESULTS_TITLE.length : 0;
  });
  for (const section of sections) {
    text = replaceBlock(text, caseStart(section.name), caseEnd(section.name), caseBlock(section), (t) => {
      // Alphabetical among the existing sections: before the first one whose name sorts after.
      for (const match of t.matchAll(CASE_START)) {
        if ((match[1] ?? "") > section.name) return match.index;
      }
      return t.length;
    });
  }
  return `${text.replace(/\n*$/, "")}\n`;
}

async function writeResults(description: readonly string[], sections: readonly CaseSection[]): Promise<void> {
  const file = join(benchDir, "results.md");
  const existing = await readFile(file, "utf8").catch(() => "");
  const partial = `${file}.partial`;
  await writeFile(partial, mergeResults(existing, description, sections));
  await rename(partial, file);
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2).filter((arg) => !arg.startsWith("-"));
  const sizeMiB = envInt("BENCH_SIZE_MIB", 1024);
  const runs = envInt("BENCH_RUNS", 3);
  const cases = (await readdir(join(benchDir, "cases")))
    .filter((file) => file.endsWith(".ts"))
    .sort()
    .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)));
  if (cases.length === 0) throw new Error(`no bench case matches ${filters.join(", ")}`);
  const workers = (await readdir(join(benchDir, "workers"))).filter((file) => file.endsWith(".ts"));
  // Workers are started the way the `backdrill` executable starts itself (src/cli/bin.cts):
  // with libuv's pool sized to the machine. They inherit it from here.
  const poolSize = threadPool.sizeThreadPool(process.env);
  const description = machine();
  console.log(description.join("\n"));
  console.log(`load average: ${loadAverages()}`);
  console.log(`compiling ${workers.length} bench worker(s) with tsc…`);
  await compileWorkers(
    repoRoot,
    workers.map((file) => join(benchDir, "workers", file)),
  );
  const settings = [
    `BENCH_SIZE_MIB=${sizeMiB}`,
    `BENCH_RUNS=${runs}`,
    `${threadPool.THREADPOOL_ENV}=${poolSize}`,
    ...[
      "BENCH_PG_MIB",
      "BENCH_PGBASE_RUNS",
      "BENCH_PGBASE_SEGMENTS",
      "BENCH_ALT_NODE",
      "BENCH_CRYPTO_SIZES_MIB",
      "BENCH_FILES_COUNT",
      "BENCH_WAL_SEGMENTS",
      "BENCH_WAL_RUNS",
      "BENCH_WAL_MODES",
      "BENCH_WAL_ONLY",
    ]
      .filter((name) => (process.env[name] ?? "") !== "")
      .map((name) => `${name}=${process.env[name] ?? ""}`),
  ].join(", ");
  const tmpDir = await mkdtemp(join(tmpdir(), "backdrill-bench-"));
  const rows: BenchRow[] = [];
  const failed: string[] = [];
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
      runWorker: (name, args, node) => runWorker(repoRoot, name, args, node),
    };
    for (const file of cases) {
      const name = basename(file, ".ts");
      const startedAt = new Date().toISOString();
      const loadStart = loadAverages();
      console.log(`case ${name} (${sizeMiB} MiB, best of ${runs}; load ${loadStart})`);
      try {
        const module = (await import(pathToFileURL(join(benchDir, "cases", file)).href)) as CaseModule;
        const caseRows = await module.run(ctx);
        rows.push(...caseRows);
        await writeResults(description, [
          {
            name,
            command: filters.length === 0 ? "npm run bench" : `npm run bench -- ${filters.join(" ")}`,
            settings,
            startedAt,
            loadStart,
            loadEnd: loadAverages(),
            rows: caseRows,
          },
        ]);
        console.log(`  wrote the ${name} section of bench/results.md`);
      } catch (error) {
        // One broken case must not cost the others their results; its old section stays.
        failed.push(name);
        console.error(
          `case ${name} FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
      }
    }
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
  console.log(`\n${consoleTable(rows)}\n`);
  console.log(`load average at end: ${loadAverages()}`);
  if (failed.length > 0)
    throw new Error(`failed case(s): ${failed.join(", ")} (their sections were kept as they were)`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
