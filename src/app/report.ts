/**
 * `backdrill report --html OUT`: the history of backups and drills as one self-contained HTML page.
 * Load (history/load.ts) -> redact -> render (history/html/render.ts) -> write 0600.
 */
import { access, constants, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Config } from "../config/types.js";
import { UsageError } from "../errors.js";
import { writePrivateFile } from "../fs/private-files.js";
import { loadChartAssets } from "../history/html/chart-assets.js";
import { renderHistoryHtml } from "../history/html/render.js";
import { loadHistory } from "./history.js";
import { summarizeHistory } from "../history/summary.js";
import { redactDeep } from "../log/redact.js";

export interface HtmlReportOptions {
  /** The file to write (replaced if it exists). Its directory must exist. */
  out: string;
  /** Only this job. */
  job?: string;
  env?: NodeJS.ProcessEnv;
  now?: Date;
}

export interface HtmlReportResult {
  file: string;
  bytes: number;
  jobs: number;
  /** Every job within its RPO and every job's last drill passed. */
  ok: boolean;
  problems: string[];
  /** Manifests or reports that could not be read (also shown on the page). */
  warnings: string[];
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * The output path, absolute, or a UsageError naming it: checked before any repository is read,
 * so a typo costs nothing. The directory is not created: a mistyped one should not appear.
 */
async function checkOutPath(out: string): Promise<string> {
  if (out.trim() === "") throw new UsageError("--html: give the path of the HTML file to write");
  const file = resolve(out);
  const dir = dirname(file);
  const existing = await stat(file).catch(() => null);
  if (existing?.isDirectory() === true) {
    throw new UsageError(`--html ${out}: is a directory`, {
      hint: `give a file path, e.g. ${join(out, "backdrill-report.html")}`,
    });
  }
  const parent = await stat(dir).catch((error: unknown) => {
    if (errnoOf(error) === "ENOENT" || errnoOf(error) === "ENOTDIR") return null;
    throw error;
  });
  if (parent === null) {
    throw new UsageError(`--html ${out}: directory ${dir} does not exist`, { hint: "create it first" });
  }
  if (!parent.isDirectory()) throw new UsageError(`--html ${out}: ${dir} is not a directory`);
  try {
    await access(dir, constants.W_OK);
  } catch {
    throw new UsageError(`--html ${out}: cannot write in directory ${dir} (permission denied)`);
  }
  return file;
}

export async function writeHtmlReport(config: Config, options: HtmlReportOptions): Promise<HtmlReportResult> {
  const file = await checkOutPath(options.out);
  const assets = await loadChartAssets();
  const history = await loadHistory(config, {
    ...(options.job === undefined ? {} : { job: options.job }),
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  // The loader redacts too; this is the renderer's own guard, whatever loader built the history.
  const safe = redactDeep(history);
  const html = renderHistoryHtml(safe, assets);
  try {
    await writePrivateFile(file, html);
  } catch (error) {
    const code = errnoOf(error);
    if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
      throw new UsageError(`--html ${options.out}: cannot write ${file} (${code})`);
    }
    throw error;
  }
  const summary = summarizeHistory(safe);
  return {
    file,
    bytes: Buffer.byteLength(html),
    jobs: safe.jobs.length,
    ok: summary.ok,
    problems: summary.problems,
    warnings: safe.warnings,
  };
}
