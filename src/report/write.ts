import { join } from "node:path";
import { ensurePrivateDir, writePrivateFile } from "../fs/private-files.js";
import { redact, redactDeep } from "../log/redact.js";
import { renderJunit } from "./junit.js";
import { renderMarkdown } from "./markdown.js";
import type { DrillReport } from "./types.js";

export interface WrittenReport {
  json: string;
  markdown: string;
  junit: string;
}

/** `20261128T040000Z`: sortable and safe in file names on every OS. */
export function reportStamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
}

/** Writes `<dir>/<drill>-<time>.json|.md|.junit.xml`, redacted, 0600 in a 0700 directory. */
export async function writeDrillReport(dir: string, report: DrillReport): Promise<WrittenReport> {
  await ensurePrivateDir(dir);
  const base = join(dir, `${report.drill}-${reportStamp(new Date(report.startedAt))}`);
  const safe = redactDeep(report);
  const paths = { json: `${base}.json`, markdown: `${base}.md`, junit: `${base}.junit.xml` };
  await writePrivateFile(paths.json, `${JSON.stringify(safe, null, 2)}\n`);
  await writePrivateFile(paths.markdown, redact(renderMarkdown(safe)));
  await writePrivateFile(paths.junit, redact(renderJunit(safe)));
  return paths;
}
