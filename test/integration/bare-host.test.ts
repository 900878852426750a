/**
 * The backdrill CLI as a production host runs it (issue 16): a separate process started like the
 * executable (the CLI bundled from src/, started with plain node), with no TESTCONTAINERS_* variable in its
 * environment. The product turns Testcontainers' reaper off by itself; this machine reaches no
 * image registry, so with the reaper on the drill would fail pulling it. A PATH without rsync
 * gives one line naming rsync's Debian package and exit 2, and a drill image that is not on the
 * host gives one line naming that image and how to get it.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { generateIdentity } from "../../src/crypto/keys.js";
import { makeFileTree } from "../support/file-tree.js";
import { sshdImage } from "../support/images.js";
import { bundledCliForFile } from "../support/bundle-cli.js";
import { REPO_ROOT } from "../support/test-env.js";

const cliBin = bundledCliForFile();
const ABSENT_IMAGE = `backdrill-test/absent-${randomBytes(4).toString("hex")}:none`;
const RSYNC_LINE = "rsync not found: install the Debian package rsync (apt-get install rsync)";

let work = "";
let configDir = "";
/** This process's environment without any TESTCONTAINERS_* variable (the test bed sets some). */
let bareEnv: NodeJS.ProcessEnv = {};
/** A directory of links to every command on PATH except rsync. */
let pathWithoutRsync = "";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function backdrill(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const child = await execa(
    process.execPath,
    [cliBin(), ...args, "--config-dir", configDir, "--log-level", "error"],
    { cwd: REPO_ROOT, env: { ...bareEnv, ...env }, extendEnv: false, reject: false, timeout: 5 * 60_000 },
  );
  return { code: child.exitCode ?? -1, stdout: child.stdout, stderr: child.stderr };
}

/** Links every executable of `PATH` into one directory, leaving `without` out. */
async function pathLacking(without: string, into: string): Promise<string> {
  await mkdir(into);
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (name === without) continue;
      await symlink(path.join(dir, name), path.join(into, name)).catch((error: NodeJS.ErrnoException) => {
        // The first directory on PATH wins, as it does for a lookup.
        if (error.code !== "EEXIST") throw error;
      });
    }
  }
  return into;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "backdrill-bare-host-"));
  configDir = path.join(work, "config");
  for (const sub of ["policies", "jobs", "drills"])
    await mkdir(path.join(configDir, sub), { recursive: true });
  const keys = await generateIdentity();
  const identityFile = path.join(work, "identity.txt");
  await writeFile(identityFile, `${keys.identity}\n`, { mode: 0o600 });
  const tree = await makeFileTree(path.join(work, "source"), { smallFiles: 40, largeFiles: [] });
  const destination = path.join(work, "snapshots");
  await mkdir(destination, { mode: 0o700 });

  const write = (file: string, value: unknown): Promise<void> =>
    writeFile(path.join(configDir, file), YAML.stringify(value));
  await write("policies/nightly.yaml", {
    name: "nightly",
    repository: { type: "local", path: path.join(work, "repository") },
    encryption: { recipients: [keys.recipient] },
    retention: { keepLast: 3 },
    rpo: "26h",
  });
  await write("jobs/task-files.yaml", {
    name: "task-files",
    kind: "files",
    policy: "nightly",
    source: tree.root,
    destination,
  });
  const drill = (name: string, image: string) => ({
    name,
    identityFile,
    reportDir: path.join(work, "reports"),
    targets: [{ job: "task-files", image, rto: "5m" }],
  });
  await write("drills/monthly.yaml", drill("monthly", sshdImage()));
  await write("drills/absent.yaml", drill("absent", ABSENT_IMAGE));

  bareEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("TESTCONTAINERS_")),
  );
  pathWithoutRsync = await pathLacking("rsync", path.join(work, "bin"));
}, 120_000);

afterAll(async () => {
  if (work !== "") await rm(work, { recursive: true, force: true });
});

describe("the CLI on a host that lacks a tool", () => {
  it("backup without rsync on PATH: one line naming rsync's package, exit 2", async () => {
    const run = await backdrill(["backup", "task-files"], { PATH: pathWithoutRsync });
    expect(run.stdout).toBe(`FAILED  task-files  ${RSYNC_LINE}`);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(RSYNC_LINE);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/exit undefined|failed to start/);
  });
});

describe("drills with no TESTCONTAINERS_* variable (the product turns the reaper off)", () => {
  it("the environment really has none", () => {
    expect(Object.keys(bareEnv).filter((name) => name.startsWith("TESTCONTAINERS"))).toEqual([]);
  });

  it("backs up and passes the drill", async () => {
    const backup = await backdrill(["backup", "task-files"]);
    expect(backup.stderr).toBe("");
    expect(backup.code).toBe(0);
    const drill = await backdrill(["drill", "monthly"]);
    expect(drill.stderr).toBe("");
    expect(drill.stdout).toMatch(/^drill monthly: PASSED$/m);
    expect(drill.code).toBe(0);
  });

  it("a drill image that is not on the host: one line naming it and how to get it", async () => {
    const drill = await backdrill(["drill", "absent"]);
    expect(drill.code).toBe(1);
    expect(drill.stdout).toMatch(/^drill absent: FAILED$/m);
    const target = drill.stdout.split("\n").find((line) => line.includes("task-files")) ?? "";
    expect(target).toContain(
      `error: drill image ${ABSENT_IMAGE} is not on this host (backdrill does not pull it: pull: never): `,
    );
    expect(target).toContain(
      `docker pull ${ABSENT_IMAGE}, or build it here (docker build -t ${ABSENT_IMAGE} DIR) ` +
        "or copy it from another host (docker save there, docker load here); or set pull: missing in the drill",
    );
    expect(`${drill.stdout}${drill.stderr}`).not.toMatch(/ryuk|reaper/i);
  });

  it("a reaper turned on explicitly is used, and when its image cannot be had it is named, not the drill image", async () => {
    const { REAPER_IMAGE } = await import("testcontainers/build/reaper/reaper.js");
    const present =
      (await execa("docker", ["image", "inspect", REAPER_IMAGE], { reject: false })).exitCode === 0;
    const drill = await backdrill(["drill", "monthly"], { TESTCONTAINERS_RYUK_DISABLED: "false" });
    if (present) {
      // A host that has the reaper's image: the operator's choice works.
      expect(drill.stdout).toMatch(/^drill monthly: PASSED$/m);
      return;
    }
    expect(drill.code).toBe(1);
    const target = drill.stdout.split("\n").find((line) => line.includes("task-files")) ?? "";
    expect(target).toContain(
      `error: cannot start Testcontainers' reaper, image ${REAPER_IMAGE}, which TESTCONTAINERS_RYUK_DISABLED=false turned on: `,
    );
    expect(target).not.toContain(sshdImage());
  });
});
