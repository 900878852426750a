/**
 * Hostile `files` snapshots: facts that point the restore at another directory (copying it into
 * the target), facts replayed from an older snapshot (restoring that one instead), a destination
 * whose user or host is an ssh option (`-oProxyCommand=…`, which ssh would run), and a per-file
 * manifest whose paths leave the tree. Refused; the target stays empty and no command ran.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import path from "node:path";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sshdImage } from "../../support/images.js";
import { entries, hostileWorld, SLOW, type HostileWorld } from "./kind-support.js";

const exec = promisify(execFile);

const LOCAL_JOB = "files-local";
const REMOTE_JOB = "files-remote";
let world: HostileWorld;
let destination: string;
let source: string;
/**
 * A PATH whose `ssh` records its arguments, one per line, then runs the real one: the witness
 * that no option-looking login reached ssh. (This host's OpenSSH refuses the host name that then
 * follows, so ProxyCommand itself would not run here; older ones do run it.)
 */
let shimPath: string;
let sshLog: string;

async function sshArguments(): Promise<string[]> {
  return (await readFile(sshLog, "utf8").catch(() => "")).split("\n");
}

function facts(id: string, over: Record<string, unknown> = {}): unknown {
  return {
    format: 1,
    destination,
    snapshotDir: id,
    linkDest: null,
    files: 1,
    dirs: 0,
    symlinks: 0,
    other: 0,
    bytes: 5,
    hashedFiles: 1,
    hashedBytes: 5,
    exclude: [],
    manifestArtifact: "files.jsonl",
    ...over,
  };
}

/** A files.jsonl line for a regular file. */
function entry(file: string, content: string): string {
  return JSON.stringify({
    path: file,
    type: "file",
    size: Buffer.byteLength(content),
    mtime: new Date(0).toISOString(),
    mode: "0644",
    uid: 0,
    gid: 0,
    sha256: createHash("sha256").update(content).digest("hex"),
  });
}

/** A snapshot directory `name` in `root` holding one file. */
async function snapshotDirIn(root: string, name: string, file: string, content: string): Promise<void> {
  await mkdir(path.join(root, name), { recursive: true });
  await writeFile(path.join(root, name, file), content);
}

beforeAll(async () => {
  world = await hostileWorld("hostile-files");
  destination = path.join(world.config.root, "destination");
  source = path.join(world.config.root, "source");
  await mkdir(destination, { recursive: true });
  await mkdir(source, { recursive: true });
  const key = path.join(world.config.root, "id_ed25519");
  await writeFile(key, "not a key\n", { mode: 0o600 });
  await world.writeJob({ name: LOCAL_JOB, kind: "files", source, destination });
  const shim = path.join(world.config.root, "shim");
  await mkdir(shim, { recursive: true });
  sshLog = path.join(world.config.root, "ssh-arguments.log");
  const realSsh = (await exec("sh", ["-c", "command -v ssh"])).stdout.trim();
  await writeFile(
    path.join(shim, "ssh"),
    `#!/bin/sh\nprintf '%s\\n' "$@" >> '${sshLog}'\nexec '${realSsh}' "$@"\n`,
    { mode: 0o755 },
  );
  shimPath = `${shim}:${process.env.PATH ?? "/usr/bin:/bin"}`;
  await world.writeJob({
    name: REMOTE_JOB,
    kind: "files",
    source,
    destination: "backup@127.0.0.1:/srv/backup",
    sshKeyFile: key,
  });
}, SLOW);

afterAll(async () => {
  await world?.remove();
}, SLOW);

describe("hostile files snapshots", () => {
  it(
    "restore: facts naming another directory as the destination are refused; it is not copied into the target",
    async () => {
      const secret = path.join(world.outside, "secret-tree");
      const forged = await world.forge(LOCAL_JOB, "files", {
        artifacts: { "files.jsonl": `${entry("secret.txt", "s3cr3t")}\n` },
        facts: (id: string) => facts(id, { destination: secret }),
      });
      await snapshotDirIn(secret, forged.id, "secret.txt", "s3cr3t");
      const to = path.join(world.config.root, "restore-other-dir");
      const result = await world.restore(LOCAL_JOB, forged.id, to);
      expect(await entries(to)).toEqual([]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /its facts say it was made to .*secret-tree, but job files-local's destination is/,
      );
    },
    SLOW,
  );

  it(
    "restore: facts replayed from an older snapshot (its directory) are refused; the older snapshot is not restored",
    async () => {
      const older = "20200101T000000Z-0a1b2c";
      await snapshotDirIn(destination, older, "old.txt", "older");
      const forged = await world.forge(LOCAL_JOB, "files", {
        artifacts: { "files.jsonl": `${entry("old.txt", "older")}\n` },
        facts: () => facts(older),
      });
      const to = path.join(world.config.root, "restore-replayed");
      const result = await world.restore(LOCAL_JOB, forged.id, to);
      expect(await entries(to)).toEqual([]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toContain(`its facts name the snapshot directory ${older}, not ${forged.id}`);
    },
    SLOW,
  );

  it(
    "restore: a manifest path leaving the tree is refused before anything is copied",
    async () => {
      const forged = await world.forge(LOCAL_JOB, "files", {
        artifacts: { "files.jsonl": `${entry("../../outside/secret.txt", "s3cr3t")}\n` },
        facts: (id: string) => facts(id),
      });
      await snapshotDirIn(destination, forged.id, "a.txt", "plain");
      const to = path.join(world.config.root, "restore-dotdot");
      const result = await world.restore(LOCAL_JOB, forged.id, to);
      expect(await entries(to)).toEqual([]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /files\.jsonl line 1 is not a file entry \(path: not a relative path inside the tree/,
      );
    },
    SLOW,
  );

  it(
    "restore: a destination user that is an ssh option (-oProxyCommand=…) is refused; ssh never sees it",
    async () => {
      const forged = await world.forge(REMOTE_JOB, "files", {
        artifacts: { "files.jsonl": `${entry("a.txt", "plain")}\n` },
        facts: (id: string) => facts(id, { destination: "-oProxyCommand=touch${IFS}canary@x:/srv/backup" }),
      });
      const to = path.join(world.config.root, "restore-proxy");
      const result = await world.restore(REMOTE_JOB, forged.id, to, [], { PATH: shimPath });
      expect(await sshArguments()).not.toContain("-oProxyCommand=touch${IFS}canary@x");
      expect(await entries(to)).toEqual([]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/destination: not a destination/);
    },
    SLOW,
  );

  it(
    "drill: a destination host that is an ssh option is refused before any container; ssh never sees it",
    async () => {
      const forged = await world.forge(REMOTE_JOB, "files", {
        artifacts: { "files.jsonl": `${entry("a.txt", "plain")}\n` },
        facts: (id: string) => facts(id, { destination: "-oProxyCommand=touch${IFS}canary:/srv/backup" }),
      });
      const { target } = await world.drill(
        "files-proxy",
        { job: REMOTE_JOB, snapshot: forged.id, image: sshdImage() },
        { PATH: shimPath },
      );
      expect(await sshArguments()).not.toContain("-oProxyCommand=touch${IFS}canary");
      expect(target.ok).toBe(false);
      expect(target.error).toMatch(/destination: not a destination/);
    },
    SLOW,
  );
});
