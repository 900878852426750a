/** The CLI bundled into one ESM file, for tests that run it as a real process. */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll } from "vitest";
import { REPO_ROOT } from "./test-env.js";

const SOURCE_BIN = path.join(REPO_ROOT, "src/cli/run.ts");

/**
 * The CLI as one ESM file, bundled from the source by esbuild (what tsx uses under the hood) with
 * the packages left external. A trial is dominated by process start-up: tsx transpiles on every
 * start (~1.8 s here), the bundle starts in ~0.7 s, and the kills are about the work, not the
 * start-up. Written next to package.json's level (dist/) so `../package.json` and node_modules
 * resolve as from the source tree; one file per call (two test files may share a worker
 * process), removed by its caller. Also what a test
 * puts on a container's PATH as `backdrill` (mounted with node_modules at the same paths).
 */
export async function bundleCli(): Promise<{ bin: string; remove: () => Promise<void> }> {
  const bin = path.join(
    REPO_ROOT,
    "dist",
    `backdrill-test-${process.pid}-${randomBytes(4).toString("hex")}.mjs`,
  );
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

/**
 * For a test file that runs the CLI as a process: the bundle is built before the file's tests
 * (call this at the top of the file, before other hooks, so it is ready for them) and removed
 * after them. Returns the bundle's path, for `node <bin> ...`.
 */
export function bundledCliForFile(): () => string {
  let cli: { bin: string; remove: () => Promise<void> } | undefined;
  beforeAll(async () => {
    cli = await bundleCli();
  }, 120_000);
  afterAll(async () => {
    await cli?.remove();
  });
  return () => {
    if (cli === undefined)
      throw new Error("the CLI bundle is built in beforeAll: call this from a hook or test");
    return cli.bin;
  };
}
