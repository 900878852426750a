/**
 * The `backdrill` executable as installed: `dist/cli/bin.cjs` built by `npm run build` into a
 * package layout in a temporary directory (package.json, dist/, and links to node_modules and the
 * native addon's build/), run by plain `node` without tsx. It is CommonJS so that it can size libuv's thread pool before Node
 * starts it (src/cli/threadpool.cts); these tests check that premise on the Node that runs them.
 */
import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../support/test-env.js";

const run = promisify(execFile);
let PKG = "";
const bin = (): string => path.join(PKG, "dist", "cli", "bin.cjs");
const threadpoolModule = (): string => path.join(PKG, "dist", "cli", "threadpool.cjs");

/** Runs node and returns exit code, stdout, stderr (never throws on a non-zero exit). */
async function node(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete childEnv[name];
  try {
    const { stdout, stderr } = await run(process.execPath, [...args], { env: childEnv, cwd: REPO_ROOT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

beforeAll(async () => {
  PKG = await mkdtemp(path.join(tmpdir(), "backdrill-pkg-"));
  await copyFile(path.join(REPO_ROOT, "package.json"), path.join(PKG, "package.json"));
  await symlink(path.join(REPO_ROOT, "node_modules"), path.join(PKG, "node_modules"));
  await symlink(path.join(REPO_ROOT, "build"), path.join(PKG, "build"));
  await run(process.execPath, [
    path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"),
    "-p",
    path.join(REPO_ROOT, "tsconfig.build.json"),
    "--outDir",
    path.join(PKG, "dist"),
  ]);
}, 120_000);

afterAll(async () => {
  if (PKG !== "") await rm(PKG, { recursive: true, force: true });
});

describe("the built backdrill executable", () => {
  it("is CommonJS with a node shebang, and starts the program", async () => {
    expect((await readFile(bin(), "utf8")).startsWith("#!/usr/bin/env node\n")).toBe(true);
    const version = JSON.parse(await readFile(path.join(REPO_ROOT, "package.json"), "utf8")) as {
      version: string;
    };
    const result = await node([bin(), "--version"]);
    expect(result).toEqual({ code: 0, stdout: `${version.version}\n`, stderr: "" });
  });

  it("maps bad input to exit 2 with one line, as the program does", async () => {
    const result = await node([bin(), "validate", "--config-dir", path.join(PKG, "no-such-dir")]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/^backdrill: config directory .* does not exist/);
  });

  it("gives the pool one thread per core, 2 to 4, and never overrides the operator's value", () => {
    const pool = createRequire(import.meta.url)(threadpoolModule()) as {
      threadPoolSize(cores: number): number;
      sizeThreadPool(env: NodeJS.ProcessEnv, cores?: number): string;
    };
    expect([1, 2, 3, 4, 16].map((cores) => pool.threadPoolSize(cores))).toEqual([2, 2, 3, 4, 4]);
    const unset: NodeJS.ProcessEnv = {};
    expect(pool.sizeThreadPool(unset, 3)).toBe("3");
    expect(unset.UV_THREADPOOL_SIZE).toBe("3");
    expect(pool.sizeThreadPool({ UV_THREADPOOL_SIZE: "" }, 2)).toBe("2");
    const operator: NodeJS.ProcessEnv = { UV_THREADPOOL_SIZE: "16" };
    expect(pool.sizeThreadPool(operator, 2)).toBe("16");
    expect(operator.UV_THREADPOOL_SIZE).toBe("16");
  });

  it("sizes the pool before Node starts it: 2 threads on 2 cores, the operator's value wins", async () => {
    // Counts this process's threads after enough concurrent fs calls to start every pool thread.
    const probe = (size: string) => `
      const pool = require(${JSON.stringify(threadpoolModule())});
      const inEffect = pool.sizeThreadPool(process.env, ${size});
      const fs = require("node:fs");
      Promise.all(Array.from({ length: 16 }, () => fs.promises.readFile(${JSON.stringify(bin())})))
        .then(() => console.log(JSON.stringify({ inEffect, threads: fs.readdirSync("/proc/self/task").length })));`;
    const sized = JSON.parse((await node(["-e", probe("2")], { UV_THREADPOOL_SIZE: undefined })).stdout) as {
      inEffect: string;
      threads: number;
    };
    const operator = JSON.parse((await node(["-e", probe("2")], { UV_THREADPOOL_SIZE: "4" })).stdout) as {
      inEffect: string;
      threads: number;
    };
    expect(sized.inEffect).toBe("2");
    expect(operator.inEffect).toBe("4");
    // Same process otherwise: the difference is exactly the pool threads we did not start.
    expect(operator.threads - sized.threads).toBe(2);
  });
});
