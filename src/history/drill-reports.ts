/**
 * The drill report as the history reads it: from the JSON files a drill leaves in its `reportDir`
 * (`<drill>-<stamp>.json`, written by src/report/write.ts) and from the records a drill keeps in
 * the repository (repository/drill-history.ts, merged by app/drill-history.ts). Both are checked
 * against the fields the history needs; anything else in them is ignored, so older and newer
 * reports load.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { redactDeep } from "../log/redact.js";

const finiteMs = z.number().finite().nonnegative();

const targetSchema = z.object({
  job: z.string(),
  kind: z.string(),
  snapshot: z.string().nullable(),
  ok: z.boolean(),
  error: z.string().optional(),
  rtoSeconds: z.number().finite().nullable(),
  timings: z.object({
    fetchMs: finiteMs,
    setupMs: finiteMs,
    restoreMs: finiteMs,
    checksMs: finiteMs,
    totalMs: finiteMs,
  }),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })),
});

const reportSchema = z.object({
  drill: z.string(),
  startedAt: z.string().refine((value) => !Number.isNaN(Date.parse(value)), "not an ISO time"),
  finishedAt: z.string(),
  ok: z.boolean(),
  targets: z.array(targetSchema),
});

export type StoredDrillReport = z.infer<typeof reportSchema>;

const STAMP = "\\d{8}T\\d{6}Z";

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * A drill report read from anywhere (a report file, a repository record), checked against the
 * fields the history needs; throws naming the first problem. Not redacted: the caller redacts.
 */
export function parseDrillReport(value: unknown, drill: string): StoredDrillReport {
  const parsed = reportSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`not a drill report: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
  }
  if (parsed.data.drill !== drill) throw new Error(`it is a report of drill ${parsed.data.drill}`);
  return parsed.data;
}

/** A report file of `dir`: its path, the stamp of its name (`<drill>-<stamp>.json`) and its report. */
export interface LocalDrillReport {
  path: string;
  stamp: string;
  report: StoredDrillReport;
}

/**
 * Every parseable report of `drill` in `dir`, oldest first (by the stamp in the file name), each
 * redacted. A missing directory is no report yet; an unreadable or malformed file becomes a
 * warning naming it.
 */
export async function readDrillReportFiles(
  dir: string,
  drill: string,
  warnings: string[],
): Promise<LocalDrillReport[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    // The snapshots are still worth showing; the page lists what it could not read.
    warnings.push(
      `drill ${drill}: cannot read ${dir}: ${error instanceof Error ? error.message : String(error)}`,
    );
    return [];
  }
  const pattern = new RegExp(`^${escapeRegExp(drill)}-(${STAMP})\\.json$`);
  const files = names
    .map((name) => ({ name, stamp: pattern.exec(name)?.[1] }))
    .filter((entry): entry is { name: string; stamp: string } => entry.stamp !== undefined)
    .sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : 0));
  const reports: LocalDrillReport[] = [];
  for (const { name, stamp } of files) {
    const path = join(dir, name);
    try {
      const report = parseDrillReport(JSON.parse(await readFile(path, "utf8")), drill);
      // Reports were redacted when written; again here, in case a secret was registered since.
      reports.push({ path, stamp, report: redactDeep(report) });
    } catch (error) {
      warnings.push(
        `drill ${drill}: unreadable report ${path}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  return reports;
}
