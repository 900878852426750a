/**
 * The demo itself: `backdrill backup --all`, then `backdrill drill monthly` (each job alone) and
 * `backdrill drill stack` (all of them together, with TasK's application as the smoke test, and
 * the stack RTO), through the real CLI
 * (in-process `main()`, the code the `backdrill` executable runs), against the world of world.ts; a short summary; the
 * reports copied out of the temp dir before it is removed.
 */
import { copyFile, mkdir } from "node:fs/promises";
import path from "node:path";
import type { JobKind } from "../../src/kinds/registry.js";
import type { DrillReport } from "../../src/report/types.js";
import { DRILL, STACK_DRILL } from "./config.js";
import { writeAndArchiveWal } from "./stack.js";
import { withDemoWorld, type DemoWorld, type WorldOptions } from "./world.js";

export interface DemoOptions extends WorldOptions {
  /** Where the drill's reports are copied (default ./demo-reports). */
  reportsOut?: string;
}

export interface BackupSummary {
  job: string;
  ok: boolean;
  snapshot: string | null;
  bytes: number;
  durationMs: number;
  error?: string;
}

export interface DemoResult {
  /** Every backup committed and the drill passed, and nothing was left behind. */
  ok: boolean;
  interrupted: boolean;
  error?: string;
  included: Array<{ kind: JobKind; job: string }>;
  skipped: Array<{ kind: JobKind; reason: string }>;
  backups: BackupSummary[];
  backupExitCode: number | null;
  /** `wal ship --once` after the backups, when postgres-base is included. */
  walShipExitCode: number | null;
  drill: DrillReport | null;
  drillExitCode: number | null;
  /** `backdrill drill stack`: the whole stack in one isolated network and the smoke test. */
  stackDrill: DrillReport | null;
  stackDrillExitCode: number | null;
  /** The copied reports (under reportsOut), and the `report --html` page written there. */
  reports: { json: string; markdown: string; junit: string; html: string | null } | null;
  /** The stack drill's reports, copied there too. */
  stackReports: { json: string; markdown: string; junit: string } | null;
  /** `backdrill report --html` after the drill. */
  reportExitCode: number | null;
  cleanupFailures: string[];
  /** Containers the final label sweep had to remove (0 when every release step did its job). */
  sweptContainers: number;
  runId: string;
  sessionId: string | undefined;
  /** The run's temp dir (keys, config, repository); gone once runDemo returns. */
  tempDir: string | undefined;
  durationMs: number;
}

interface DrillJson extends DrillReport {
  files: { json: string; markdown: string; junit: string };
}

function mib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1048576).toFixed(1)} MiB`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Parses `--json` output, or explains what came instead (the CLI printed an error, not a result). */
function parseJson<T>(what: string, stdout: string, stderr: string): T {
  try {
    return JSON.parse(stdout) as T;
  } catch {
    throw new Error(`${what} printed no JSON result; its stderr:\n${stderr.trim() || "(empty)"}`);
  }
}

async function demoBody(world: DemoWorld, options: DemoOptions, result: DemoResult): Promise<void> {
  const { progress, config } = world;
  const configArgs = ["--config-dir", config.configDir];

  progress("");
  progress(`$ backdrill backup --all   (config: ${config.configDir})`);
  const backup = await world.cli(["backup", "--all", "--json", ...configArgs]);
  result.backupExitCode = backup.code;
  result.backups = parseJson<BackupSummary[]>("backdrill backup --all", backup.stdout, backup.stderr);
  for (const item of result.backups) {
    const kind = config.jobs.find((job) => job.name === item.job)?.kind ?? "?";
    progress(
      item.ok
        ? `  ok      ${item.job.padEnd(14)} ${kind.padEnd(16)} snapshot ${item.snapshot ?? "-"}  ${mib(item.bytes).padStart(10)}  ${seconds(item.durationMs)}`
        : `  FAILED  ${item.job.padEnd(14)} ${kind.padEnd(16)} ${item.error ?? ""}`,
    );
  }
  for (const line of logLines(backup.stderr)) progress(`  | ${line}`);
  world.signal.throwIfAborted();

  const walJob = world.included.find((item) => item.kind === "postgres-base")?.job;
  const spool = world.stack.postgres?.walSpool;
  if (walJob !== undefined && spool !== undefined) {
    // Continuous archiving: rows written after the base backup reach the drill only through
    // the WAL archive, so a passing point-in-time drill proves the archive too.
    const rows = await writeAndArchiveWal(world.stack);
    progress("");
    progress(`$ backdrill wal ship ${walJob} ${spool} --once   (after ${rows} more rows and a WAL switch)`);
    const ship = await world.cli(["wal", "ship", walJob, spool, "--once", ...configArgs]);
    result.walShipExitCode = ship.code;
    progress(`  ${ship.stdout.trim() || `exit ${ship.code}`}`);
    for (const line of logLines(ship.stderr)) progress(`  | ${line}`);
    world.signal.throwIfAborted();
  }

  progress("");
  progress(
    `$ backdrill drill ${DRILL}   (each snapshot restored into a throwaway container, checked, timed)`,
  );
  // The drill reads the identity from its identityFile; the postgres-base engine still reads the
  // WAL archive with $BACKDRILL_IDENTITY_FILE (a drill host sets it anyway, see docs/deployment.md).
  const drill = await world.cli(["drill", DRILL, "--json", ...configArgs], {
    BACKDRILL_IDENTITY_FILE: world.keys.identityFile,
  });
  result.drillExitCode = drill.code;
  const runs = parseJson<DrillJson[]>(`backdrill drill ${DRILL}`, drill.stdout, drill.stderr);
  const run = runs[0];
  if (run === undefined) throw new Error(`backdrill drill ${DRILL} reported no run`);
  const { files, ...report } = run;
  result.drill = report;
  progress(`  drill ${report.drill}: ${report.ok ? "PASSED" : "FAILED"}`);
  for (const target of report.targets) {
    const passed = target.checks.filter((check) => check.ok).length;
    const rto = target.rtoSeconds === null ? "no RTO" : `RTO ${target.rtoSeconds} s`;
    progress(
      `  ${target.ok ? "ok    " : "FAILED"}  ${target.job.padEnd(14)} restore ${seconds(target.timings.restoreMs).padStart(7)}, total ${seconds(target.timings.totalMs).padStart(7)} / ${rto.padEnd(10)} checks ${passed}/${target.checks.length} ok`,
    );
    for (const check of target.checks.filter((c) => !c.ok))
      progress(`          failed check ${check.name}: ${check.detail}`);
    if (target.error !== undefined) progress(`          error: ${target.error}`);
  }
  for (const line of logLines(drill.stderr)) progress(`  | ${line}`);

  world.signal.throwIfAborted();

  // The temp dir goes away with the keys; the reports are the demo's product, so they stay.
  const out = path.resolve(options.reportsOut ?? "demo-reports");
  await mkdir(out, { recursive: true });
  const copy = async (file: string): Promise<string> => {
    const target = path.join(out, path.basename(file));
    await copyFile(file, target);
    return target;
  };
  result.reports = {
    json: await copy(files.json),
    markdown: await copy(files.markdown),
    junit: await copy(files.junit),
    html: null,
  };

  const stackFiles = await stackDrill(world, result);
  if (stackFiles !== undefined) {
    result.stackReports = {
      json: await copy(stackFiles.json),
      markdown: await copy(stackFiles.markdown),
      junit: await copy(stackFiles.junit),
    };
  }

  // The history page, written straight into the output dir (it reads the temp repository now).
  const html = path.join(out, "backdrill-report.html");
  progress("");
  progress(`$ backdrill report --html ${shown(html)}`);
  const page = await world.cli(["report", "--html", html, ...configArgs]);
  result.reportExitCode = page.code;
  if (page.code === 0) result.reports.html = html;
  progress(`  ${page.stdout.trim() || `exit ${page.code}`}`);
  for (const line of logLines(page.stderr)) progress(`  | ${line}`);
}

/** `backdrill drill stack`: the stack's services, the smoke test's lines, the stack RTO. */
async function stackDrill(world: DemoWorld, result: DemoResult): Promise<DrillJson["files"] | undefined> {
  const { progress, config } = world;
  progress("");
  progress(
    `$ backdrill drill ${STACK_DRILL}   (the whole stack restored together into an isolated network; TasK's application must boot against it)`,
  );
  const drill = await world.cli(["drill", STACK_DRILL, "--json", "--config-dir", config.configDir], {
    BACKDRILL_IDENTITY_FILE: world.keys.identityFile,
  });
  result.stackDrillExitCode = drill.code;
  const run = parseJson<DrillJson[]>(`backdrill drill ${STACK_DRILL}`, drill.stdout, drill.stderr)[0];
  if (run === undefined) throw new Error(`backdrill drill ${STACK_DRILL} reported no run`);
  const { files, ...report } = run;
  result.stackDrill = report;
  const stack = report.stack;
  for (const service of stack?.services ?? []) {
    const target = report.targets.find((t) => t.job === service.job);
    const passed = target?.checks.filter((check) => check.ok).length ?? 0;
    progress(
      `  ${service.ok ? "ok    " : "FAILED"}  ${service.service.padEnd(14)} ${service.kind.padEnd(16)} at +${seconds(service.startMs).padStart(7)}, restore ${seconds(service.timings.restoreMs).padStart(7)}, total ${seconds(service.timings.totalMs).padStart(7)}  checks ${passed}/${target?.checks.length ?? 0} ok`,
    );
    if (target?.error !== undefined) progress(`          error: ${target.error}`);
  }
  const smoke = stack?.smokeTest ?? null;
  if (smoke !== null) {
    progress(
      `  ${smoke.ok ? "ok    " : "FAILED"}  ${"smoke test".padEnd(14)} ${smoke.image} at +${seconds(smoke.startMs)}, ${smoke.exitCode === null ? "no exit" : `exit ${smoke.exitCode}`} after ${seconds(smoke.durationMs)}`,
    );
  }
  for (const check of stack?.checks ?? []) {
    if (check.name.startsWith("smoke: ") || !check.ok) {
      progress(`          ${check.ok ? "ok" : "FAILED"} ${check.name}: ${check.detail.split("\n")[0]}`);
    }
  }
  if (stack?.error !== undefined) progress(`          error: ${stack.error}`);
  const rto =
    stack === undefined || stack.rtoMs === null
      ? "not reached (the application did not come up)"
      : `${seconds(stack.rtoMs)} from the drill's start until the application answered` +
        (stack.rtoSeconds === null ? "" : ` (budget ${Math.round(stack.rtoSeconds / 60)} min)`);
  progress(`  drill ${report.drill}: ${report.ok ? "PASSED" : "FAILED"}; stack RTO ${rto}`);
  for (const line of logLines(drill.stderr)) progress(`  | ${line}`);
  return files;
}

const LEVELS: Readonly<Record<number, string>> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

/**
 * backdrill's log lines (pino JSON, since stderr is captured and not a TTY) as one short line
 * each: level, message, then the fields. Anything that is not a JSON log line is kept as it is.
 */
export function logLines(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return line;
      }
      if (typeof entry !== "object" || entry === null) return line;
      const { level, time: _time, msg, ...fields } = entry;
      const name = typeof level === "number" ? (LEVELS[level] ?? String(level)) : "log";
      const rest = Object.entries(fields)
        .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
        .join(" ");
      return `${name}: ${String(msg ?? "")}${rest === "" ? "" : ` (${rest})`}`;
    });
}

function stackSummary(report: DrillReport | null): string {
  if (report === null) return "not run";
  const rtoMs = report.stack?.rtoMs ?? null;
  return `${report.ok ? "passed" : "failed"}${rtoMs === null ? "" : ` (stack RTO ${seconds(rtoMs)})`}`;
}

/** A path relative to the working directory when it lies inside it (shorter to read), else absolute. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
}

/** Runs the whole demo; never throws (the result says what failed). */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const started = Date.now();
  // Bound now, for the same reason as in world.ts: in-process CLI runs capture process.stdout.
  const stdoutWrite = process.stdout.write.bind(process.stdout);
  const progress = options.progress ?? ((line: string) => void stdoutWrite(`${line}\n`));
  const result: DemoResult = {
    ok: false,
    interrupted: false,
    included: [],
    skipped: [],
    backups: [],
    backupExitCode: null,
    walShipExitCode: null,
    drill: null,
    drillExitCode: null,
    stackDrill: null,
    stackDrillExitCode: null,
    reports: null,
    stackReports: null,
    reportExitCode: null,
    cleanupFailures: [],
    sweptContainers: 0,
    runId: "",
    sessionId: undefined,
    tempDir: undefined,
    durationMs: 0,
  };
  const outcome = await withDemoWorld({ ...options, progress }, async (world) => {
    progress(`demo: jobs included: ${world.included.map((item) => `${item.job} (${item.kind})`).join(", ")}`);
    for (const item of world.skipped) progress(`demo: skipped ${item.kind}: ${item.reason}`);
    await demoBody(world, { ...options, progress }, result);
  });
  result.included = outcome.included;
  result.skipped = outcome.skipped;
  result.interrupted = outcome.interrupted;
  result.cleanupFailures = outcome.cleanupFailures;
  result.sweptContainers = outcome.sweptContainers;
  result.runId = outcome.runId;
  result.sessionId = outcome.sessionId;
  result.tempDir = outcome.tempDir;
  if (outcome.error !== undefined) {
    result.error = outcome.interrupted
      ? "interrupted"
      : outcome.error instanceof Error
        ? outcome.error.message
        : String(outcome.error);
  }
  result.durationMs = Date.now() - started;
  result.ok =
    result.error === undefined &&
    !result.interrupted &&
    result.included.length > 0 &&
    result.backupExitCode === 0 &&
    result.backups.length === result.included.length &&
    result.backups.every((item) => item.ok) &&
    (result.walShipExitCode === null || result.walShipExitCode === 0) &&
    result.drillExitCode === 0 &&
    result.drill?.ok === true &&
    result.stackDrillExitCode === 0 &&
    result.stackDrill?.ok === true &&
    result.reportExitCode === 0 &&
    result.cleanupFailures.length === 0;

  progress("");
  for (const failure of result.cleanupFailures) progress(`demo: cleanup step failed: ${failure}`);
  if (result.sweptContainers > 0)
    progress(`demo: removed ${result.sweptContainers} leftover container(s) by label`);
  if (result.error !== undefined) progress(`demo: ${result.error}`);
  if (result.reports !== null) {
    progress("Reports (copied out of the temp dir):");
    progress(`  ${shown(result.reports.markdown)}  (for people)`);
    progress(`  ${shown(result.reports.json)}  (for tools)`);
    progress(`  ${shown(result.reports.junit)}  (for CI dashboards)`);
    if (result.reports.html !== null)
      progress(`  ${shown(result.reports.html)}  (the history page; open it in a browser)`);
  }
  if (result.stackReports !== null) progress(`  ${shown(result.stackReports.markdown)}  (the stack drill)`);
  progress(
    `demo: ${result.ok ? "PASSED" : "FAILED"} in ${seconds(result.durationMs)}: ${result.backups.filter((b) => b.ok).length}/${result.included.length} backups, drill ${result.drill === null ? "not run" : result.drill.ok ? "passed" : "failed"}, stack drill ${stackSummary(result.stackDrill)}`,
  );
  return result;
}
