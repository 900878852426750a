/**
 * Reads the JSON drill reports a drill leaves in its `reportDir` (`<drill>-<stamp>.json`, written
 * by src/report/write.ts): today's only record of past drills. Files are checked against the
 * fields the history needs; anything else in them is ignored, so older and newer reports load.
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
 * Every parseable report of `drill` in `dir`, oldest first, each redacted. A missing directory is
 * no report yet; an unreadable or malformed file becomes a warning naming it.
 */
export async function readDrillReports(
  dir: string,
  drill: string,
  warnings: string[],
): Promise<StoredDrillReport[]> {
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
  const files = names.filter((name) => pattern.test(name)).sort();
  const reports: StoredDrillReport[] = [];
  for (const name of files) {
    const path = join(dir, name);
    try {
      const parsed = reportSchema.safeParse(JSON.parse(await readFile(path, "utf8")));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(`not a drill report: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
      }
      if (parsed.data.drill !== drill) throw new Error(`it is a report of drill ${parsed.data.drill}`);
      // Reports were redacted when written; again here, in case a secret was registered since.
      reports.push(redactDeep(parsed.data));
    } catch (error) {
      warnings.push(
        `drill ${drill}: unreadable report ${path}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  return reports.sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
}
