import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import { loadConfig } from "./load.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const RECIPIENT = "age19nqh0my2qgm2sc2wfl357zecntg6dn7c89k6ntyemk8a2a8ptc6sthe8ls";

const POLICY = `name: nightly
repository: { type: local, path: /var/backups/task }
encryption: { recipients: [${RECIPIENT}] }
retention: { keepDaily: 7 }
rpo: 26h
`;
const JOB = `name: task-db
kind: postgres-dump
policy: nightly
connection: { host: 127.0.0.1, user: backup, passwordEnv: TASK_DB_PASSWORD }
tools: { image: "pgvector/pgvector:pg17" }
`;
const DRILL = `name: monthly
identityFile: /etc/backdrill/identity.txt
targets: [{ job: task-db }]
`;

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-config-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(files: Record<string, string>): Promise<void> {
  for (const [file, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await writeFile(join(dir, file), text);
  }
}

async function loadError(env: NodeJS.ProcessEnv = {}): Promise<ConfigError> {
  const error = await loadConfig({ dir, env }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe("loadConfig: the example config at the repository root", () => {
  it("loads with an empty environment", async () => {
    const config = await loadConfig({ dir: repoRoot, env: {} });
    expect(config.dir).toBe(repoRoot);
    expect([...config.policies.keys()]).toEqual(["nightly"]);
    expect([...config.jobs.keys()]).toEqual([
      "task-bucket",
      "task-db",
      "task-files",
      "task-rabbitmq",
      "task-secrets",
      "task-wal",
    ]);
    expect(new Set([...config.jobs.values()].map(({ job }) => job.kind)).size).toBe(6);
    expect(config.jobs.get("task-db")?.file).toBe("jobs/task-db.yaml");
    expect(config.jobs.get("task-db")?.job).toMatchObject({
      connection: { host: "127.0.0.1", port: 5432, user: "backup", passwordEnv: "TASK_DB_PASSWORD" },
    });
    expect(config.jobs.get("task-secrets")?.job).toMatchObject({ environment: "prod" });
    const drill = config.drills.get("monthly");
    expect(drill?.drill.reportDir).toBe(join(repoRoot, "reports"));
    expect(drill?.drill.targets).toHaveLength(6);
    const stack = config.drills.get("stack")?.drill;
    expect(stack?.targets.map((target) => target.service)).toEqual([
      "postgres",
      "postgres-pitr",
      "rabbitmq",
      "s3",
      "files",
      "secrets",
    ]);
    expect(stack?.stack?.smokeTest).toMatchObject({ timeout: "10m", env: { APP_ENV: "prod" } });
    expect(config.policies.get("nightly")?.policy.repository).toMatchObject({
      type: "s3",
      bucket: "task-backups",
      endpoint: undefined,
      forcePathStyle: true,
    });
  });

  it("takes values from the environment", async () => {
    const config = await loadConfig({
      dir: repoRoot,
      env: { TASK_DB_HOST: "db.internal", TASK_DB_PORT: "6432", BACKUP_S3_ENDPOINT: "http://127.0.0.1:9000" },
    });
    expect(config.jobs.get("task-db")?.job).toMatchObject({
      connection: { host: "db.internal", port: 6432 },
    });
    expect(config.policies.get("nightly")?.policy.repository).toMatchObject({
      endpoint: "http://127.0.0.1:9000",
    });
  });

  it("every example file points the editor at its JSON Schema", async () => {
    const config = await loadConfig({ dir: repoRoot, env: {} });
    const { readFile } = await import("node:fs/promises");
    const files = [
      ...[...config.policies.values()].map((item) => [item.file, "policy"]),
      ...[...config.jobs.values()].map((item) => [item.file, "job"]),
      ...[...config.drills.values()].map((item) => [item.file, "drill"]),
    ];
    for (const [file, kind] of files) {
      const text = await readFile(join(repoRoot, file ?? ""), "utf8");
      expect(text.split("\n")[0]).toBe(`# yaml-language-server: $schema=../schema/${kind}.schema.json`);
    }
  });
});

describe("loadConfig: directories and files", () => {
  it("accepts missing sections, .yml files, and ignores dotfiles and other extensions", async () => {
    await write({
      "policies/nightly.yml": POLICY,
      "policies/.#nightly.yaml": "garbage: [",
      "policies/README.md": "# notes",
      "policies/old.yaml.bak": "garbage: [",
    });
    const config = await loadConfig({ dir, env: {} });
    expect([...config.policies.keys()]).toEqual(["nightly"]);
    expect(config.jobs.size).toBe(0);
    expect(config.drills.size).toBe(0);
  });

  it("reports a config dir that does not exist", async () => {
    const missing = join(dir, "nope");
    const error = await loadConfig({ dir: missing, env: {} }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(
      `config directory ${missing} does not exist; run from the config directory, pass --config-dir, or set BACKDRILL_CONFIG_DIR`,
    );
    expect((error as ConfigError).exitCode).toBe(2);
  });

  it("reports a config dir without any config files", async () => {
    const error = await loadError();
    expect(error.message).toMatch(
      /^no config files in .*: expected policies\/\*\.yaml, jobs\/\*\.yaml and drills\/\*\.yaml/,
    );
  });

  it("reports a section that is not a directory", async () => {
    await write({ "policies/nightly.yaml": POLICY, jobs: "not a directory" });
    expect((await loadError()).message).toBe("jobs: cannot read directory: is not a directory");
  });

  it("resolves a relative reportDir against the config dir and keeps an absolute one", async () => {
    await write({
      "policies/nightly.yaml": POLICY,
      "jobs/task-db.yaml": JOB,
      "drills/monthly.yaml": DRILL,
      "drills/quarterly.yaml": DRILL.replace("monthly", "quarterly") + "reportDir: /srv/reports\n",
    });
    const config = await loadConfig({ dir, env: {} });
    expect(config.drills.get("monthly")?.drill.reportDir).toBe(join(dir, "reports"));
    expect(config.drills.get("quarterly")?.drill.reportDir).toBe("/srv/reports");
  });
});

describe("loadConfig: issues", () => {
  it("collects every issue across files, grouped policies, jobs, drills", async () => {
    await write({
      "policies/nightly.yaml": POLICY.replace("rpo: 26h", "rpo: 26"),
      "jobs/a.yaml": JOB.replace("task-db", "a").replace("host: 127.0.0.1,", "host: 127.0.0.1, port: x,"),
      "jobs/b.yaml": JOB.replace("task-db", "b").replace("policy: nightly", "policy: weekly"),
      "drills/monthly.yaml": DRILL.replace("task-db", "c"),
    });
    expect((await loadError()).message.split("\n")).toEqual([
      "policies/nightly.yaml: rpo: expected a duration like 90s, 30m, 26h, 7d or 1h30m (units: s, m, h, d, w), got 26",
      'jobs/a.yaml: connection.port: expected a number, got "x"',
      'jobs/b.yaml: policy: no policy named "weekly": policies/ holds none; create policies/weekly.yaml',
      'drills/monthly.yaml: targets.0.job: no job named "c" (defined: b)',
    ]);
  });

  it("does not report references to objects whose own file is broken", async () => {
    await write({
      "policies/nightly.yaml": POLICY.replace("rpo: 26h", "rpo: never"),
      "jobs/task-db.yaml": JOB,
      "drills/monthly.yaml": DRILL,
    });
    expect((await loadError()).issues.map((issue) => issue.file)).toEqual(["policies/nightly.yaml"]);
  });

  it("treats a YAML key named __proto__ as an unknown field", async () => {
    await write({ "policies/nightly.yaml": `${POLICY}__proto__: { rpo: 1h }\n` });
    expect((await loadError()).message).toMatch(/^policies\/nightly\.yaml: __proto__: unknown field/);
  });

  it("reports duplicate names in three files against the first", async () => {
    await write({
      "policies/a.yaml": POLICY,
      "policies/b.yaml": POLICY,
      "policies/c.yaml": POLICY,
    });
    expect((await loadError()).message.split("\n")).toEqual([
      'policies/b.yaml: name: policy "nightly" is also defined in policies/a.yaml; policy names must be unique, rename one of them',
      'policies/c.yaml: name: policy "nightly" is also defined in policies/a.yaml; policy names must be unique, rename one of them',
    ]);
  });

  it("rejects a files job whose destination is inside a local repository", async () => {
    await write({
      "policies/nightly.yaml": POLICY,
      "jobs/f.yaml":
        "name: f\nkind: files\npolicy: nightly\nsource: /mnt/f\ndestination: /var/backups/task/files\n",
    });
    expect((await loadError()).message).toBe(
      "jobs/f.yaml: destination: overlaps the repository of policy nightly (/var/backups/task); use a separate directory",
    );
  });

  it("rejects an s3-bucket job that backs up the repository bucket", async () => {
    await write({
      "policies/nightly.yaml": POLICY.replace(
        "{ type: local, path: /var/backups/task }",
        "{ type: s3, bucket: task }",
      ),
      "jobs/b.yaml": "name: b\nkind: s3-bucket\npolicy: nightly\nbucket: task\n",
    });
    expect((await loadError()).message).toBe(
      "jobs/b.yaml: bucket: is the repository bucket of policy nightly; backing a bucket up into itself protects nothing",
    );
  });

  it("rejects a drill target fromCopy that names no copy of the job's policy; takes one that does", async () => {
    await write({
      "policies/nightly.yaml": `${POLICY}copies:\n  - { type: local, path: /var/backups/copy }\n`,
      "jobs/task-db.yaml": JOB,
      "drills/monthly.yaml": `name: monthly
identityFile: /id
targets:
  - { job: task-db }
  - { job: task-db, fromCopy: 1 }
  - { job: task-db, fromCopy: 2 }
`,
    });
    expect((await loadError()).message).toBe(
      "drills/monthly.yaml: targets.2.fromCopy: policy nightly of job task-db has 1 copy (copies:); fromCopy 2 names none",
    );
  });

  it("rejects a drill listing the same job and snapshot twice, and an image on a secrets target", async () => {
    await write({
      "policies/nightly.yaml": POLICY,
      "jobs/task-db.yaml": JOB,
      "jobs/s.yaml": `name: s\nkind: symfony-secrets\npolicy: nightly\nvault: /srv/prod\nescrowRecipients: [${RECIPIENT}]\n`,
      "drills/monthly.yaml": `name: monthly
identityFile: /id
targets:
  - { job: task-db }
  - { job: task-db, snapshot: 20261128T021500Z-3f9a1c }
  - { job: task-db }
  - { job: s, image: alpine, escrowIdentityFile: /escrow }
`,
    });
    expect((await loadError()).message.split("\n")).toEqual([
      "drills/monthly.yaml: targets.2.job: task-db (snapshot latest) is already target 0; list each job and snapshot once",
      "drills/monthly.yaml: targets.3.image: symfony-secrets targets run no container (the vault is opened in-process); remove image",
    ]);
  });
});
