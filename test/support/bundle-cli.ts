/** The CLI bundled into one ESM file, for tests that run it as a real process. */
import { rm } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { REPO_ROOT } from "./test-env.js";

const SOURCE_BIN = path.join(REPO_ROOT, "src/cli/run.ts");

/**
 * The CLI as one ESM file, bundled from the source by esbuild (what tsx uses under the hood) with
 * the packages left external. A trial is dominated by process start-up: tsx transpiles on every
 * start (~1.8 s here), the bundle starts in ~0.7 s, and the kills are about the work, not the
 * start-up. Written next to package.json's level (dist/) so `../package.json` and node_modules
 * resolve as from the source tree; one file per test process, removed at the end. Also what a test
 * puts on a container's PATH as `backdrill` (mounted with node_modules at the same paths).
 */
export async function bundleCli(): Promise<{ bin: string; remove: () => Promise<void> }> {
  const bin = path.join(REPO_ROOT, "dist", `backdrill-test-${process.pid}.mjs`);
  await execa(
    path.join(REPO_ROOT, "node_modules/.bin/esbuild"),
    [
      SOURCE_BIN,
      "--bundle",
      "--platform=node",
      "--format=esm",
      "--packages=external",
      "--log-level=warning",
      `--outfile=${bin}`,
    ],
    { cwd: REPO_ROOT, stdio: "inherit" },
  );
  return { bin, remove: () => rm(bin, { force: true }) };
}
