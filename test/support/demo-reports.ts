/**
 * The reports `npm run demo` leaves in its reports directory (./demo-reports by default): the
 * monthly drill's and the stack drill's JSON, Markdown and JUnit files (src/report/write.ts names
 * them `<drill>-<time>.<ext>`) and the history page. Found by name, parsed, nothing asserted here.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { DrillReport } from "../../src/report/types.js";

export interface DemoReportFiles {
  /** Paths of the three files of one drill run. */
  json: string;
  markdown: string;
  junit: string;
  report: DrillReport;
}

export interface DemoReports {
  drill: DemoReportFiles;
  stack: DemoReportFiles;
  /** The history page (`report --html`). */
  html: string;
}

async function drillFiles(dir: string, names: readonly string[], drill: string): Promise<DemoReportFiles> {
  const pattern = new RegExp(`^${drill}-.+\\.json$`);
  const json = names.filter((name) => pattern.test(name));
  if (json.length !== 1)
    throw new Error(`${dir}: expected one ${drill}-*.json report, found ${json.length}: ${names.join(", ")}`);
  const file = path.join(dir, json[0] ?? "");
  const base = file.slice(0, -".json".length);
  return {
    json: file,
    markdown: `${base}.md`,
    junit: `${base}.junit.xml`,
    report: JSON.parse(await readFile(file, "utf8")) as DrillReport,
  };
}

export async function readDemoReports(dir: string, drill: string, stackDrill: string): Promise<DemoReports> {
  const names = await readdir(dir);
  return {
    drill: await drillFiles(dir, names, drill),
    stack: await drillFiles(dir, names, stackDrill),
    html: path.join(dir, "backdrill-report.html"),
  };
}
