/**
 * Prometheus metrics as a node_exporter textfile (`--collector.textfile.directory`): a `.prom`
 * file in the text exposition format, replaced atomically so the collector never reads half a
 * file (temp file in the same directory, fsync, rename; the temp name does not end in `.prom`, so
 * the collector ignores it).
 *
 * One file holds every job and drill. Each run rewrites only its own series and keeps the rest, so
 * a failed run leaves `..._last_success_timestamp_seconds` at the previous success — which is what
 * an alert like `time() - backdrill_job_last_success_timestamp_seconds > 26*3600` needs. Writes in
 * one process are serialised; two processes finishing in the same instant may lose one update
 * (the next run repairs it), which is acceptable for gauges of "last run".
 *
 * The file is 0644, unlike backdrill's other files: node_exporter runs as its own user and must
 * read it, and it holds only job names, times and sizes.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** HELP texts, which also define which families this file owns. */
export const METRIC_FAMILIES: Record<string, string> = {
  backdrill_job_last_run_timestamp_seconds: "Unix time the last backup run of the job finished.",
  backdrill_job_last_run_success: "1 if the last backup run of the job committed a snapshot, else 0.",
  backdrill_job_last_success_timestamp_seconds: "Unix time the last successful backup of the job finished.",
  backdrill_job_last_duration_seconds: "Duration of the last backup run of the job.",
  backdrill_job_last_success_bytes: "Stored (encrypted) bytes of the job's last successful snapshot.",
  backdrill_drill_last_run_timestamp_seconds: "Unix time the last run of the drill finished.",
  backdrill_drill_last_run_success: "1 if every target of the drill's last run passed, else 0.",
  backdrill_drill_target_last_run_timestamp_seconds: "Unix time the target was last drilled.",
  backdrill_drill_target_last_run_success: "1 if the target's last drill passed, else 0.",
  backdrill_drill_target_last_success_timestamp_seconds: "Unix time the target last passed a drill.",
  backdrill_drill_target_restore_seconds:
    "Restore time of the target's last drill (download, decrypt, load).",
  backdrill_drill_target_total_seconds: "Total time (fetch + restore + checks) of the target's last drill.",
  backdrill_drill_target_rto_seconds: "The target's RTO budget.",
  backdrill_drill_target_backup_age_seconds: "Age of the snapshot the target's last drill restored.",
  backdrill_wal_last_archived_timestamp_seconds:
    "Unix time the job's newest WAL file was stored in the repository (wal push / wal ship); its age is the PITR RPO.",
  backdrill_wal_rpo_seconds:
    "The job's RPO: alert when time() - backdrill_wal_last_archived_timestamp_seconds exceeds it.",
  backdrill_wal_spool_files: "WAL files waiting in the job's spool directory (wal ship).",
  backdrill_wal_spool_bytes: "Bytes of the WAL files waiting in the job's spool directory (wal ship).",
  backdrill_wal_spool_oldest_age_seconds:
    "Age of the oldest WAL file waiting in the spool; 0 when it is empty.",
};

export interface JobRunMetrics {
  job: string;
  ok: boolean;
  finishedAt: Date;
  durationSeconds: number;
  /** Stored bytes of the snapshot (successful runs). */
  bytes: number;
}

export interface DrillTargetMetrics {
  job: string;
  ok: boolean;
  restoreSeconds: number;
  totalSeconds: number;
  rtoSeconds: number | null;
  backupAgeSeconds: number | null;
}

export interface DrillRunMetrics {
  drill: string;
  ok: boolean;
  finishedAt: Date;
  targets: DrillTargetMetrics[];
}

/** Samples a backup run sets (failed runs leave the last-success series alone). */
export function jobSamples(run: JobRunMetrics): Sample[] {
  const labels = { job: run.job };
  const finished = run.finishedAt.getTime() / 1000;
  const samples: Sample[] = [
    { name: "backdrill_job_last_run_timestamp_seconds", labels, value: finished },
    { name: "backdrill_job_last_run_success", labels, value: run.ok ? 1 : 0 },
    { name: "backdrill_job_last_duration_seconds", labels, value: run.durationSeconds },
  ];
  if (run.ok) {
    samples.push(
      { name: "backdrill_job_last_success_timestamp_seconds", labels, value: finished },
      { name: "backdrill_job_last_success_bytes", labels, value: run.bytes },
    );
  }
  return samples;
}

export function drillSamples(run: DrillRunMetrics): Sample[] {
  const finished = run.finishedAt.getTime() / 1000;
  const samples: Sample[] = [
    { name: "backdrill_drill_last_run_timestamp_seconds", labels: { drill: run.drill }, value: finished },
    { name: "backdrill_drill_last_run_success", labels: { drill: run.drill }, value: run.ok ? 1 : 0 },
  ];
  for (const target of run.targets) {
    const labels = { drill: run.drill, job: target.job };
    samples.push(
      { name: "backdrill_drill_target_last_run_timestamp_seconds", labels, value: finished },
      { name: "backdrill_drill_target_last_run_success", labels, value: target.ok ? 1 : 0 },
      { name: "backdrill_drill_target_restore_seconds", labels, value: target.restoreSeconds },
      { name: "backdrill_drill_target_total_seconds", labels, value: target.totalSeconds },
    );
    if (target.ok)
      samples.push({
        name: "backdrill_drill_target_last_success_timestamp_seconds",
        labels,
        value: finished,
      });
    if (target.rtoSeconds !== null)
      samples.push({ name: "backdrill_drill_target_rto_seconds", labels, value: target.rtoSeconds });
    if (target.backupAgeSeconds !== null) {
      samples.push({
        name: "backdrill_drill_target_backup_age_seconds",
        labels,
        value: target.backupAgeSeconds,
      });
    }
  }
  return samples;
}

export interface WalArchiveMetrics {
  job: string;
  /** When the newest WAL file was stored; undefined: none stored this time (series left alone). */
  archivedAt?: Date | undefined;
  rpoSeconds: number;
  /** The spool, as `wal ship` last saw it. */
  spool?: { files: number; bytes: number; oldestAgeSeconds: number } | undefined;
}

/** Samples `wal push` and `wal ship` set: the PITR RPO is time() minus the last archived time. */
export function walSamples(run: WalArchiveMetrics): Sample[] {
  const labels = { job: run.job };
  const samples: Sample[] = [{ name: "backdrill_wal_rpo_seconds", labels, value: run.rpoSeconds }];
  if (run.archivedAt !== undefined) {
    samples.push({
      name: "backdrill_wal_last_archived_timestamp_seconds",
      labels,
      value: run.archivedAt.getTime() / 1000,
    });
  }
  if (run.spool !== undefined) {
    samples.push(
      { name: "backdrill_wal_spool_files", labels, value: run.spool.files },
      { name: "backdrill_wal_spool_bytes", labels, value: run.spool.bytes },
      { name: "backdrill_wal_spool_oldest_age_seconds", labels, value: run.spool.oldestAgeSeconds },
    );
  }
  return samples;
}

const writes = new Map<string, Promise<void>>();

/** Merges `samples` into the textfile at `path` (created with its directory if missing). */
export async function updateTextfile(path: string, samples: Sample[]): Promise<void> {
  const previous = writes.get(path) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(() => mergeAndWrite(path, samples));
  writes.set(path, next);
  try {
    await next;
  } finally {
    if (writes.get(path) === next) writes.delete(path);
  }
}

async function mergeAndWrite(path: string, samples: Sample[]): Promise<void> {
  let existing: Sample[] = [];
  try {
    existing = parseTextfile(await readFile(path, "utf8"));
  } catch (error) {
    // Missing: first run. Unparseable: start over rather than never write metrics again.
    if ((error as NodeJS.ErrnoException).code !== "ENOENT" && !(error instanceof SyntaxError)) throw error;
  }
  const merged = new Map<string, Sample>();
  for (const sample of [...existing, ...samples]) {
    if (!(sample.name in METRIC_FAMILIES)) continue; // families we no longer write are dropped
    merged.set(sampleKey(sample), sample);
  }
  await writeAtomically(path, renderTextfile([...merged.values()]));
}

function sampleKey(sample: Sample): string {
  return `${sample.name}${renderLabels(sample.labels)}`;
}

/** The exposition format: HELP and TYPE once per family, samples sorted for stable diffs. */
export function renderTextfile(samples: Sample[]): string {
  const byFamily = new Map<string, Sample[]>();
  for (const sample of samples) byFamily.set(sample.name, [...(byFamily.get(sample.name) ?? []), sample]);
  const lines: string[] = [];
  for (const name of [...byFamily.keys()].sort()) {
    lines.push(`# HELP ${name} ${METRIC_FAMILIES[name] ?? name}`, `# TYPE ${name} gauge`);
    const family = (byFamily.get(name) ?? []).map(
      (sample) => `${name}${renderLabels(sample.labels)} ${formatValue(sample.value)}`,
    );
    lines.push(...family.sort());
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

function renderLabels(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  return `{${keys.map((key) => `${key}="${escapeLabel(labels[key] ?? "")}"`).join(",")}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

/**
 * Parses the exposition format (the subset node_exporter's textfile collector accepts: comments,
 * HELP/TYPE lines and samples with optional labels). Throws SyntaxError on a malformed line.
 */
export function parseTextfile(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE_LINE.exec(line);
    if (match === null) throw new SyntaxError(`line ${index + 1}: not a sample: ${line}`);
    const [, name = "", labelText = "", valueText = ""] = match;
    const labels: Record<string, string> = {};
    LABEL_PAIR.lastIndex = 0;
    let consumed = 0;
    for (let pair = LABEL_PAIR.exec(labelText); pair !== null; pair = LABEL_PAIR.exec(labelText)) {
      labels[pair[1] ?? ""] = (pair[2] ?? "").replace(/\\(.)/g, (_all, char: string) =>
        char === "n" ? "\n" : char,
      );
      consumed = LABEL_PAIR.lastIndex;
    }
    if (consumed !== labelText.length) throw new SyntaxError(`line ${index + 1}: malformed labels: ${line}`);
    const value = valueText === "+Inf" ? Infinity : valueText === "-Inf" ? -Infinity : Number(valueText);
    if (Number.isNaN(value) && valueText !== "NaN")
      throw new SyntaxError(`line ${index + 1}: bad value: ${line}`);
    samples.push({ name, labels, value });
  }
  return samples;
}

async function writeAtomically(path: string, content: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temp, "wx", 0o644);
  try {
    await handle.writeFile(content);
    await handle.chmod(0o644);
    await handle.sync();
    await handle.close();
    await rename(temp, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
}
