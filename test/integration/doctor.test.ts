/**
 * `backdrill doctor` through the CLI (in-process) against a real PostgreSQL container and a
 * local repository: a good config passes (exit 0), a wrong password fails the connection check
 * with a hint (exit 1), and a postgres-base job on a server without archive_mode fails (exit 1).
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/keys.js";
import { Repository } from "../../src/repository/repository.js";
import { LocalBackend } from "../../src/storage/local/local-backend.js";
import { PostgresContainer, type StartedPostgresContainer } from "../support/containers/postgres.js";
import { postgresImage } from "../support/images.js";
import { runCli } from "../support/run-cli.js";

const PASSWORD = "doctor-Secret-4711";
let pg: StartedPostgresContainer;
let dir: string;

async function writeJob(name: string, kind: "postgres-dump" | "postgres-base", passwordEnv: string) {
  await writeFile(
    path.join(dir, "jobs", `${name}.yaml`),
    [
      `name: ${name}`,
      `kind: ${kind}`,
      "policy: local",
      `connection: { host: 127.0.0.1, port: ${pg.port}, user: backup, passwordEnv: ${passwordEnv}, database: task, sslmode: disable }`,
      `tools: { image: ${postgresImage()} }`,
      ...(kind === "postgres-dump" ? ["databases: [task]"] : []),
      "",
    ].join("\n"),
  );
}

beforeAll(async () => {
  pg = await new PostgresContainer()
    .withUsername("backup")
    .withPassword(PASSWORD)
    .withDatabase("task")
    .start();
  dir = await mkdtemp(path.join(os.tmpdir(), "doctor-"));
  await mkdir(path.join(dir, "policies"));
  await mkdir(path.join(dir, "jobs"));
  const key = await generateIdentity();
  const repo = path.join(dir, "repo");
  await new Repository(new LocalBackend({ path: repo })).init();
  await writeFile(
    path.join(dir, "policies/local.yaml"),
    `name: local\nrepository: { type: local, path: ${repo} }\nencryption: { recipients: [${key.recipient}] }\nretention: { keepLast: 3 }\nrpo: 26h\n`,
  );
  await writeJob("task-db", "postgres-dump", "TASK_DB_PASSWORD");
  await writeJob("task-db-wrong", "postgres-dump", "TASK_DB_WRONG_PASSWORD");
  await writeJob("task-wal", "postgres-base", "TASK_DB_PASSWORD");
});

afterAll(async () => {
  await pg?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const env = { TASK_DB_PASSWORD: PASSWORD, TASK_DB_WRONG_PASSWORD: "not-the-password" };
const doctor = (...args: string[]) => runCli(["--config-dir", dir, "doctor", ...args], env);

/** The line of one check: `ok    job task-db: connection   ...`. */
function line(stdout: string, title: string): string {
  const found = stdout.split("\n").find((entry) => entry.slice(6).startsWith(`${title} `));
  if (found === undefined) throw new Error(`no line for ${title} in:\n${stdout}`);
  return found;
}

describe("backdrill doctor", () => {
  it("passes for a reachable server, matching tools and a local repository (exit 0)", async () => {
    const result = await doctor("task-db");
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(line(result.stdout, "config")).toMatch(/^ok /);
    expect(line(result.stdout, "secrets")).toMatch(/^ok /);
    expect(line(result.stdout, "policy local: repository")).toMatch(/^ok .*marker present/);
    expect(line(result.stdout, "job task-db: connection")).toMatch(
      /^ok .*backup@127\.0\.0\.1:\d+: PostgreSQL 17/,
    );
    expect(line(result.stdout, "job task-db: client tools")).toMatch(/^ok .*pg_dump 17/);
    expect(line(result.stdout, "job task-db: databases")).toMatch(/^ok .*task/);
    expect(line(result.stdout, "job task-db: lock")).toMatch(/^ok .*free/);
    expect(result.stdout).toMatch(/doctor: ready/);
    expect(result.stdout).not.toContain(PASSWORD);
  });

  it("a wrong password fails the connection with a hint, and exit 1", async () => {
    const result = await doctor("task-db-wrong");
    expect(result.code).toBe(1);
    const lines = result.stdout.split("\n");
    const index = lines.findIndex((entry) => entry.includes("job task-db-wrong: connection"));
    expect(lines[index]).toMatch(/^FAIL .*password authentication failed/);
    expect(lines[index + 1]).toMatch(/^ {6}hint: .*TASK_DB_WRONG_PASSWORD/);
    // Checks that need the connection are skipped, not failed a second time.
    expect(line(result.stdout, "job task-db-wrong: databases")).toMatch(/^skip /);
    expect(line(result.stdout, "job task-db-wrong: client tools")).toMatch(/^WARN .*server version unknown/);
    expect(result.stdout).not.toContain("not-the-password");
  });

  it("postgres-base on a server without archive_mode fails (exit 1); --json has the same checks", async () => {
    const result = await doctor("task-wal");
    expect(result.code).toBe(1);
    expect(line(result.stdout, "job task-wal: archive_mode")).toMatch(/^FAIL .*archive_mode is off/);
    expect(line(result.stdout, "job task-wal: replication")).toMatch(/^ok /);
    expect(line(result.stdout, "job task-wal: WAL continuity")).toMatch(/^WARN .*no base backup/);

    const json = await doctor("task-wal", "--json");
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as {
      ok: boolean;
      counts: Record<string, number>;
      checks: Array<{ subject: string; name: string; status: string; hint?: string }>;
    };
    expect(report.ok).toBe(false);
    const archiveMode = report.checks.find((check) => check.name === "archive_mode");
    expect(archiveMode).toMatchObject({ subject: "job task-wal", status: "fail" });
    expect(archiveMode?.hint).toMatch(/ALTER SYSTEM SET archive_mode = on/);
  });

  it("exit 2 for an unknown job and for a config that does not load", async () => {
    const unknown = await doctor("task-dbb");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown job "task-dbb".*did you mean/);
    const broken = await runCli(["--config-dir", path.join(dir, "jobs"), "doctor"], env);
    expect(broken.code).toBe(2);
  });
});
