/**
 * postgres-dump through the real backup and drill runners: encrypted local repository, facts
 * artifact, manifest as the commit point, report-shaped drill results; failures leave no
 * snapshot, and a flipped ciphertext byte is caught by verify and by the drill.
 */
import { mkdtemp, open, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobBackup } from "../../../src/runner/backup.js";
import type { DrillTarget } from "../../../src/config/drill-schema.js";
import type { PostgresDumpJob } from "../../../src/kinds/postgres-dump/job-schema.js";
import { generateIdentity } from "../../../src/crypto/keys.js";
import { runDrillTarget } from "../../../src/runner/drill-target.js";
import { postgresDumpKind } from "../../../src/kinds/postgres-dump/index.js";
import { Repository } from "../../../src/repository/repository.js";
import { verifyRepository } from "../../../src/repository/verify.js";
import type { SnapshotManifest } from "../../../src/repository/manifest.js";
import { LocalBackend } from "../../../src/storage/local/local-backend.js";
import { PostgresContainer, type StartedPostgresContainer } from "../../support/containers/postgres.js";
import { postgresImage } from "../../support/images.js";
import { seedTaskDb } from "../../support/seed-task-db.js";
import { dumpJob, log } from "./harness.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

const PASSWORD = "e2e-source-pw-90ab";
let source: StartedPostgresContainer;
let dir: string;
let repository: Repository;
let keys: { identity: string; recipient: string };

function job(): PostgresDumpJob {
  return {
    ...dumpJob(source.port, "TASK_DB_PASSWORD", { facts: { checksumMaxRows: 100_000 } }),
    policy: "nightly",
  } as PostgresDumpJob;
}

const target = {
  job: "task-db",
  snapshot: "latest",
  image: postgresImage(),
  checks: { rowCounts: true, amcheck: true, extensions: ["vector"] },
} as DrillTarget;

const context = (env: NodeJS.ProcessEnv) => ({
  log,
  signal: new AbortController().signal,
  env,
  configDir: process.cwd(),
});

function backup(env: NodeJS.ProcessEnv) {
  return runJobBackup(
    { job: job(), kind: postgresDumpKind, repository, recipients: [keys.recipient] },
    context(env),
  );
}

function drill() {
  return runDrillTarget(
    {
      job: job(),
      target,
      kind: postgresDumpKind,
      repository,
      snapshot: "latest",
      identities: [keys.identity],
      rtoSeconds: 600,
    },
    context({}),
  );
}

beforeAll(async () => {
  source = await new PostgresContainer().withDatabase("task").withPassword(PASSWORD).start();
  await seedTaskDb(source.connectionUri);
  dir = await mkdtemp(path.join(os.tmpdir(), "backdrill-e2e-pg-"));
  repository = new Repository(new LocalBackend({ path: dir }));
  keys = await generateIdentity();
});

afterAll(async () => {
  await repository?.backend.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  await source?.stop();
});

describe("postgres-dump through the runners", () => {
  let manifest: SnapshotManifest | undefined;

  it("backs up into an encrypted repository and the drill report passes", async () => {
    const result = await backup({ TASK_DB_PASSWORD: PASSWORD });
    expect(result.result).toMatchObject({ job: "task-db", ok: true });
    manifest = result.manifest;
    expect(manifest?.artifacts.map((a) => a.name).sort()).toEqual(["facts.json", "globals.sql", "task.dump"]);
    // The plaintext manifest tells versions, not data: no table names in it.
    expect(JSON.stringify(manifest)).not.toContain("users");

    const report = await drill();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toContain("within RTO");
    expect(report.timings.fetchMs).toBeGreaterThanOrEqual(0);
    expect(report.timings.restoreMs).toBeGreaterThan(0);
  });

  it("writes no snapshot when the password is wrong, and says which job and database", async () => {
    const result = await backup({ TASK_DB_PASSWORD: "wrong-password-xyz" });
    expect(result.result.ok).toBe(false);
    expect(result.result.error).toMatch(/job task-db, database task: .*password authentication failed/);
    expect(result.result.error).not.toContain("wrong-password-xyz");
    expect((await repository.snapshots("task-db")).map((s) => s.id)).toEqual([manifest?.id]);
    expect(await repository.leftovers("task-db")).toEqual([]);
  });

  it("names the damaged artifact in verify and fails the drill when a ciphertext byte flips", async () => {
    if (manifest === undefined) throw new Error("no snapshot from the first test");
    const record = manifest.artifacts.find((a) => a.name === "task.dump");
    if (record === undefined) throw new Error("no task.dump");
    const handle = await open(path.join(dir, record.path), "r+");
    try {
      const offset = Math.floor(record.size / 2);
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, offset);
      byte[0] = (byte[0] ?? 0) ^ 0x01;
      await handle.write(byte, 0, 1, offset);
    } finally {
      await handle.close();
    }

    const verify = await verifyRepository(repository, { job: "task-db" });
    expect(verify.problems.map((p) => p.artifact)).toContain("task.dump");

    const report = await drill();
    expect(report.ok).toBe(false);
    const restore = report.checks.find((c) => c.name === "restore");
    expect(`${restore?.detail ?? ""} ${report.error ?? ""}`).toContain("task.dump");
  });
});
