import { mkdtemp, readFile, readdir, rm, stat, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/keys.js";
import { FACTS_ARTIFACT } from "../../src/repository/manifest.js";
import { Repository } from "../../src/repository/repository.js";
import { LocalBackend } from "../../src/storage/local/local-backend.js";
import { runCli, verifyReadData } from "../support/run-cli.js";

const corpus = resolve("test/fixtures/config/invalid");
const cases = (await readdir(corpus, { withFileTypes: true }))
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name);

describe("backdrill CLI: usage and exit codes", () => {
  it("--help lists every command and the exit codes", async () => {
    const result = await runCli(["--help"]);
    expect(result.code).toBe(0);
    for (const command of [
      "validate",
      "backup",
      "snapshots",
      "drill",
      "restore",
      "verify",
      "prune",
      "status",
      "report",
      "schedule",
      "wal",
      "keys",
      "doctor",
    ]) {
      expect(result.stdout).toContain(command);
    }
    expect(result.stdout).toMatch(/3 {2}another run holds the job's lock/);
  });

  it.each([
    [["frobnicate"], /Unknown argument: frobnicate|Did you mean/],
    [[], /name a command/],
    [["backup", "--bogus"], /Unknown argument/],
    [["restore"], /Not enough non-option arguments|Missing required argument/],
    [["keys", "rotate"], /Invalid values/],
  ])("bad usage %j exits 2 with a message and no stack trace", async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/);
  });

  it("validate accepts the example TasK configuration", async () => {
    const result = await runCli(["validate", "--config-dir", "."]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/task-db\s+postgres-dump\s+policy nightly/);
  });

  it("a missing config directory is exit 2 naming what to do", async () => {
    const result = await runCli(["validate", "--config-dir", "/nonexistent/backdrill"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/config-dir|BACKDRILL_CONFIG_DIR/);
  });
});

describe("backdrill validate over the invalid-config corpus", () => {
  it("has at least 40 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)("%s: exit 2, the expected file: path: message lines, no stack trace", async (name) => {
    const expected = (await readFile(join(corpus, name, "expected.txt"), "utf8")).trim().split("\n");
    const result = await runCli(["validate", "--config-dir", join(corpus, name)]);
    expect(result.code).toBe(2);
    for (const line of expected) expect(result.stderr).toContain(line);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe("");
  });
});

describe("backdrill keys, snapshots and verify on a local repository", () => {
  let dir: string;
  let configDir: string;
  let repoDir: string;
  let keys: { identity: string; recipient: string };
  let identityFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "backdrill-cli-"));
    configDir = join(dir, "config");
    repoDir = join(dir, "repo");
    keys = await generateIdentity();
    identityFile = join(dir, "identity.txt");
    await writeFile(identityFile, `${keys.identity}\n`, { mode: 0o600 });
    await mkdir(join(configDir, "policies"), { recursive: true });
    await mkdir(join(configDir, "jobs"), { recursive: true });
    await writeFile(
      join(configDir, "policies", "p.yaml"),
      `name: p\nrepository: { type: local, path: ${repoDir} }\nencryption: { recipients: [${keys.recipient}] }\nretention: { keepLast: 3 }\nrpo: 26h\n`,
    );
    await writeFile(
      join(configDir, "jobs", "db.yaml"),
      "name: db\nkind: postgres-dump\npolicy: p\nconnection: { host: 127.0.0.1, user: backup }\ntools: { binDir: /usr/lib/postgresql/17/bin }\n",
    );
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function seedSnapshot(content: string) {
    const repository = new Repository(new LocalBackend({ path: repoDir }));
    await repository.init();
    const writer = repository.createSnapshot({
      job: "db",
      kind: "postgres-dump",
      recipients: [keys.recipient],
    });
    await writer.addArtifact("task.dump", Readable.from([Buffer.from(content)]));
    await writer.addJson(FACTS_ARTIFACT, { tables: {} });
    return writer.commit({ serverVersion: "17.2" });
  }

  it("keys generate writes a 0600 identity, prints the recipient, and refuses to overwrite", async () => {
    const out = join(dir, "new-identity.txt");
    const first = await runCli(["keys", "generate", "--out", out, "--json"]);
    expect(first.code).toBe(0);
    const printed = JSON.parse(first.stdout) as { recipient: string; identityFile: string };
    expect(printed.recipient).toMatch(/^age1[0-9a-z]{58}$/);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect(await readFile(out, "utf8")).toMatch(/^AGE-SECRET-KEY-1/m);
    expect(first.stdout + first.stderr).not.toMatch(/AGE-SECRET-KEY/);
    const again = await runCli(["keys", "generate", "--out", out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/refusing to overwrite/);
  });

  it("snapshots --json lists committed snapshots oldest first in the documented shape", async () => {
    const one = await seedSnapshot("first");
    const two = await seedSnapshot("second");
    const result = await runCli(["snapshots", "db", "--json", "--config-dir", configDir]);
    expect(result.code).toBe(0);
    const listed = JSON.parse(result.stdout) as Array<{
      id: string;
      job: string;
      kind: string;
      createdAt: string;
      artifacts: Array<Record<string, unknown>>;
    }>;
    expect(listed.map((s) => s.id)).toEqual([one.id, two.id].sort());
    expect(listed[0]).toMatchObject({ job: "db", kind: "postgres-dump" });
    expect(Object.keys(listed[0]!.artifacts[0]!).sort()).toEqual(["name", "path", "sha256", "size"]);
  });

  it("verify passes, --read-data decrypts, and a flipped byte fails with exit 1 naming the artifact", async () => {
    const ok = await runCli(["verify", "--config-dir", configDir]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/no damage found/);
    const readData = await verifyReadData(configDir, identityFile);
    expect(readData.code).toBe(0);
    expect(readData.stdout).toMatch(/decrypted/);
    const victim = await seedSnapshot("x".repeat(100_000));
    const path = join(repoDir, victim.artifacts[0]!.path);
    const bytes = await readFile(path);
    bytes[5000] = (bytes[5000] ?? 0) ^ 0xff;
    await writeFile(path, bytes);
    const damaged = await runCli(["verify", "db", "--config-dir", configDir]);
    expect(damaged.code).toBe(1);
    expect(damaged.stdout).toContain(`DAMAGED: db/${victim.id} artifact task.dump`);
  });

  it("verify --read-data without an identity is a usage error", async () => {
    const result = await runCli(["verify", "--read-data", "--config-dir", configDir], {
      BACKDRILL_IDENTITY_FILE: undefined,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--read-data needs --identity/);
  });

  it("backup of an unknown job is exit 2 with a suggestion", async () => {
    const result = await runCli(["backup", "dbb", "--config-dir", configDir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown job "dbb"; did you mean "db"\?/);
  });

  it("restore without an identity is exit 2 and says where to get one", async () => {
    const result = await runCli(
      ["restore", "db", "--to", "postgres://u:hunter2secret@127.0.0.1:1/x", "--config-dir", configDir],
      {
        BACKDRILL_IDENTITY_FILE: undefined,
      },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--identity/);
    expect(result.stderr + result.stdout).not.toContain("hunter2secret");
  });
});
