/**
 * What a start of the CLI loads (docs/architecture.md, "CLI start-up"): `--version` and `--help`
 * no command at all, and a command only what it uses — a backup of a files job into a local
 * repository neither the AWS SDK, nor node-postgres, nor testcontainers, nor pino-pretty. Every
 * nightly cron run and every `--help` at 3 a.m. pays for what is loaded (issue 19).
 *
 * The CLI runs as a real process from its sources under tsx (module by module as in dist/; the
 * esbuild bundle of the other CLI tests hoists every package import to its top, so it cannot
 * tell), with a loader hook recording each module URL Node loads.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/keys.js";
import { REPO_ROOT } from "../support/test-env.js";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-startup-"));
  // The hook: register() a load hook that appends every URL to the file TRACE_FILE names.
  await writeFile(
    join(dir, "hooks.mjs"),
    `import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  appendFileSync(process.env.TRACE_FILE, url + "\\n");
  return next(url, context);
}
`,
  );
  await writeFile(
    join(dir, "register.mjs"),
    `import { register } from "node:module";\nregister("./hooks.mjs", import.meta.url);\n`,
  );
  const { recipient } = await generateIdentity();
  await mkdir(join(dir, "config/policies"), { recursive: true });
  await mkdir(join(dir, "config/jobs"), { recursive: true });
  await mkdir(join(dir, "source"), { recursive: true });
  await writeFile(join(dir, "source/a.txt"), "hello\n");
  await writeFile(
    join(dir, "config/policies/local.yaml"),
    [
      "name: local",
      `repository: { type: local, path: ${join(dir, "repo")} }`,
      `encryption: { recipients: [${recipient}] }`,
      "retention: { keepLast: 3 }",
      'schedule: "15 2 * * *"',
      "rpo: 26h",
      "",
    ].join("\n"),
  );
  await writeFile(
    join(dir, "config/jobs/files.yaml"),
    [
      "name: files",
      "kind: files",
      "policy: local",
      `source: ${join(dir, "source")}`,
      `destination: ${join(dir, "destination")}`,
      "",
    ].join("\n"),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI; returns its exit code and the packages it loaded (`pg`, `@aws-sdk/client-s3`). */
async function packagesLoaded(args: string[]): Promise<{ code: number; packages: Set<string> }> {
  const trace = join(dir, `trace-${Math.random().toString(16).slice(2)}.txt`);
  await writeFile(trace, "");
  let code = 0;
  try {
    await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "--import", join(dir, "register.mjs"), join(REPO_ROOT, "src/cli/run.ts"), ...args],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? "", TRACE_FILE: trace, HOME: dir } },
    );
  } catch (error) {
    // A non-zero exit; anything else (the process did not start) fails the test as it is.
    const exit = (error as { code?: unknown }).code;
    if (typeof exit !== "number") throw error;
    code = exit;
  }
  const packages = new Set<string>();
  for (const url of (await readFile(trace, "utf8")).split("\n")) {
    const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (match?.[1] !== undefined) packages.add(match[1]);
  }
  return { code, packages };
}

/** execa: no longer a runtime dependency (src/exec/child.ts); a leftover import would show here. */
const HEAVY = ["@aws-sdk/client-s3", "pg", "testcontainers", "pino-pretty", "execa"];

describe("CLI start-up loads only what the command uses", () => {
  it("--version and --help load no command, no logger, no schema library", async () => {
    for (const args of [["--version"], ["--help"]]) {
      const { code, packages } = await packagesLoaded(args);
      expect(code).toBe(0);
      expect(packages.has("yargs")).toBe(true);
      for (const name of [...HEAVY, "zod", "pino", "yaml"]) {
        expect({ args, loaded: packages.has(name), name }).toEqual({ args, loaded: false, name });
      }
    }
  });

  it("a misspelt command still gets its suggestion", async () => {
    const { code } = await packagesLoaded(["bakup"]);
    expect(code).toBe(2);
  });

  it("a files backup into a local repository loads neither S3, PostgreSQL, Docker nor pretty logs", async () => {
    const { code, packages } = await packagesLoaded(["--config-dir", join(dir, "config"), "backup", "files"]);
    expect(code).toBe(0);
    // It did run: the config and the logger are loaded (rsync ran through node:child_process).
    for (const name of ["zod", "yaml", "pino"]) expect(packages.has(name)).toBe(true);
    for (const name of HEAVY) {
      expect({ loaded: packages.has(name), name }).toEqual({ loaded: false, name });
    }
  });
});
