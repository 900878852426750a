/**
 * Drills on another Docker engine (issue 20 item 4). The test starts a second dockerd of its own
 * (own socket, own TCP port on 127.0.0.1, own data root, exec root and bridge), loads into it the
 * one image a files drill needs (sshd-rsync), backs a tree up, and runs `backdrill drill` as a
 * child process with the drill's `engine:` on the second engine's TCP port AND DOCKER_HOST for the
 * default engine pointing at a socket that does not exist: nothing can quietly use the default
 * engine (Testcontainers would fall back to /var/run/docker.sock; the probe in docker/engine.ts
 * stops that). Proven: the drill passes, its container was created on the second engine (its
 * event log), `doctor` checks that engine and finds the image there, an unreachable engine fails
 * the drill with one line naming it, and a bad address is exit 2 naming the field.
 *
 * Needs root and dockerd (as scripts/ensure-docker.sh does); the second engine and its bridge are
 * removed in afterAll whatever happened.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/keys.js";
import { makeFileTree } from "../support/file-tree.js";
import { sshdImage } from "../support/images.js";
import { runCli } from "../support/run-cli.js";
import { bundledCliForFile } from "../support/bundle-cli.js";
import { REPO_ROOT } from "../support/test-env.js";

const cliBin = bundledCliForFile();

let work = "";
let configDir = "";
let socket = "";
let tcpUrl = "";
let bridge = "";
let dockerd: ChildProcess | undefined;
let dockerdExited: Promise<void> | undefined;
const startedAt = Math.floor(Date.now() / 1000);

/** A TCP port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The second engine's docker CLI. */
function docker2(args: readonly string[]) {
  return execa("docker", ["--host", `unix://${socket}`, ...args], { reject: false });
}

async function backdrill(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = await execa(
    process.execPath,
    [cliBin(), ...args, "--config-dir", configDir, "--log-level", "error"],
    {
      cwd: REPO_ROOT,
      // The default engine unreachable for this run: a drill that used it would fail.
      env: { ...process.env, DOCKER_HOST: `unix://${work}/no-default-engine.sock`, ...env },
      reject: false,
      timeout: 150_000,
    },
  );
  return { code: child.exitCode ?? -1, stdout: child.stdout, stderr: child.stderr };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "bd-engine-"));
  socket = path.join(work, "docker.sock");
  tcpUrl = `tcp://127.0.0.1:${await freePort()}`;
  // Its own bridge: --bridge none would leave containers without published ports.
  bridge = `bd${randomBytes(4).toString("hex")}`;
  const octet = 100 + ((randomBytes(1)[0] ?? 0) % 100);
  await execa("ip", ["link", "add", bridge, "type", "bridge"]);
  await execa("ip", ["addr", "add", `172.31.${octet}.1/24`, "dev", bridge]);
  await execa("ip", ["link", "set", bridge, "up"]);
  for (const dir of ["data", "exec"]) await mkdir(path.join(work, dir));
  const child = spawn(
    "dockerd",
    [
      "--host",
      `unix://${socket}`,
      "--host",
      tcpUrl,
      "--data-root",
      path.join(work, "data"),
      "--exec-root",
      path.join(work, "exec"),
      "--pidfile",
      path.join(work, "dockerd.pid"),
      "--bridge",
      bridge,
      // The default engine owns the iptables chains; ports are reached through docker-proxy.
      "--iptables=false",
      "--ip-masq=false",
    ],
    { stdio: ["ignore", "ignore", "ignore"] },
  );
  dockerd = child;
  dockerdExited = new Promise((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 60_000;
  while ((await docker2(["info", "--format", "{{.ServerVersion}}"])).exitCode !== 0) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error("the second dockerd did not start");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  // The one image the files drill needs, copied from the default engine.
  await execa("bash", [
    "-c",
    `set -o pipefail; docker save "$1" | docker --host "unix://$2" load`,
    "load",
    sshdImage(),
    socket,
  ]);

  const keys = await generateIdentity();
  const identityFile = path.join(work, "identity.txt");
  await writeFile(identityFile, `${keys.identity}\n`, { mode: 0o600 });
  const tree = await makeFileTree(path.join(work, "tree"), { smallFiles: 40 });
  configDir = path.join(work, "config");
  for (const dir of ["policies", "jobs", "drills"])
    await mkdir(path.join(configDir, dir), { recursive: true });
  const drill = (name: string, engine: string) => `name: ${name}
identityFile: ${identityFile}
reportDir: ${path.join(work, "reports")}
engine: ${engine}
targets:
  - job: tree
    image: ${sshdImage()}
`;
  const files: Record<string, string> = {
    "policies/p.yaml": `name: p
repository: { type: local, path: ${path.join(work, "repo")} }
encryption: { recipients: [${keys.recipient}] }
retention: { keepLast: 5 }
rpo: 26h
`,
    "jobs/tree.yaml": `name: tree
kind: files
policy: p
source: ${tree.root}
destination: ${path.join(work, "snapshots")}
`,
    "drills/second.yaml": drill("second", tcpUrl),
    "drills/down.yaml": drill("down", `tcp://127.0.0.1:${await freePort()}`),
  };
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(configDir, name), text);
  const backup = await runCli(["backup", "tree", "--config-dir", configDir]);
  expect(backup.stderr).toBe("");
  expect(backup.code).toBe(0);
}, 150_000);

afterAll(async () => {
  if (dockerd !== undefined && dockerd.exitCode === null) {
    dockerd.kill("SIGTERM");
    const stopped = await Promise.race([
      dockerdExited?.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20_000)),
    ]);
    if (!stopped) dockerd.kill("SIGKILL");
    await dockerdExited;
  }
  if (bridge !== "") await execa("ip", ["link", "del", bridge], { reject: false });
  if (work !== "") {
    // Overlay mounts a killed dockerd may leave behind, then the directories.
    await execa(
      "bash",
      ["-c", `grep -o " $1[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l`, "umount", work],
      {
        reject: false,
      },
    );
    await rm(work, { recursive: true, force: true });
  }
}, 60_000);

describe("drills on another Docker engine", () => {
  it("a files drill passes on the second engine, with the default engine unreachable", async () => {
    const result = await backdrill(["drill", "second"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    // The drill's container was created (and removed) on the second engine.
    const events = await docker2([
      "events",
      "--since",
      String(startedAt),
      "--until",
      String(Math.floor(Date.now() / 1000) + 1),
      "--filter",
      "type=container",
      "--filter",
      "event=create",
      "--filter",
      "label=backdrill.drill=true",
      "--format",
      "{{.Actor.Attributes.image}}",
    ]);
    expect(events.stdout.trim().split("\n")).toEqual([sshdImage()]);
    const left = await docker2(["ps", "-a", "-q", "--filter", "label=backdrill.drill=true"]);
    expect(left.stdout.trim()).toBe("");
  }, 150_000);

  it("doctor checks the drill's engine and finds the image there, not on the default engine", async () => {
    const result = await backdrill(["doctor", "--json"]);
    const report = JSON.parse(result.stdout) as {
      checks: Array<{ subject: string; name: string; status: string; detail: string }>;
    };
    const check = (subject: string, name: string) =>
      report.checks.find((entry) => entry.subject === subject && entry.name === name);
    expect(check("drill second", "engine")).toMatchObject({ status: "ok" });
    expect(check("drill second", "engine")?.detail).toContain(tcpUrl);
    expect(check("drill second", `image ${sshdImage()}`)).toMatchObject({ status: "ok" });
    expect(check("drill down", "engine")).toMatchObject({ status: "fail" });
  }, 120_000);

  it("an unreachable engine fails the drill with one line naming it", async () => {
    const result = await backdrill(["drill", "down"]);
    expect(result.code).toBe(1);
    const output = `${result.stdout}\n${result.stderr}`;
    const lines = output.split("\n").filter((line) => line.includes("is not reachable"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /Docker engine tcp:\/\/127\.0\.0\.1:\d+ \(engine: of drill down\) is not reachable/,
    );
    expect(output).not.toMatch(/^\s+at /m);
  }, 60_000);

  it("a bad engine address is a usage error naming the field (exit 2)", async () => {
    await writeFile(
      path.join(configDir, "drills", "bad.yaml"),
      `name: bad\nidentityFile: ${path.join(work, "identity.txt")}\nengine: tcp://example.org\ntargets:\n  - job: tree\n    image: x\n`,
    );
    try {
      const result = await backdrill(["validate"]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/engine: tcp:\/\/ needs a port/);
    } finally {
      await rm(path.join(configDir, "drills", "bad.yaml"));
    }
  }, 60_000);
});
