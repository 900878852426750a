/**
 * The charting library inlined into the page: uPlot's minified browser build and its stylesheet,
 * read from node_modules at render time (no copy of it lives in this repository, so an `npm
 * update` is all an upgrade takes). uPlot: ~50 KB, canvas, time series, maintained, MIT.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { OperationError } from "../../errors.js";

export interface ChartAssets {
  /** Shown in the page footer. */
  name: string;
  version: string;
  license: string;
  /** Defines the global `uPlot`. */
  script: string;
  css: string;
}

let cached: Promise<ChartAssets> | undefined;

async function read(): Promise<ChartAssets> {
  const require = createRequire(import.meta.url);
  let packageFile: string;
  try {
    packageFile = require.resolve("uplot/package.json");
  } catch {
    throw new OperationError("the charting library is missing: npm package uplot is not installed", {
      hint: "reinstall backdrill with its dependencies (npm ci)",
    });
  }
  const meta = JSON.parse(await readFile(packageFile, "utf8")) as { version?: unknown; license?: unknown };
  const dist = join(dirname(packageFile), "dist");
  return {
    name: "uPlot",
    version: typeof meta.version === "string" ? meta.version : "unknown",
    license: typeof meta.license === "string" ? meta.license : "see its package",
    script: await readFile(join(dist, "uPlot.iife.min.js"), "utf8"),
    css: await readFile(join(dist, "uPlot.min.css"), "utf8"),
  };
}

/** Read once per process. */
export function loadChartAssets(): Promise<ChartAssets> {
  cached ??= read().catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}
