/**
 * A full local repository at the job level (issue 9): the repository is a 16 MiB tmpfs, a real
 * postgres-dump job (uncompressed custom dump of ~6 MiB, no globals, so the dump is the first
 * artifact) runs through the CLI in-process, and a filler file on the same tmpfs decides where
 * the disk fills:
 *
 *   level "first artifact"  64 KiB left: room for the lock, not for the dump;
 *   level "after the dump"  exactly the dump's pages (+ the lock's) left: the dump is stored, and
 *                           the facts artifact or the manifest (the commit point) hits ENOSPC.
 *
 * Each full run must exit 1 with one FAILED line naming "no space left" and the repository path,
 * commit no manifest, leave no temporary or partial artifact behind (nor any leftover for
 * prune), and leave the snapshot taken earlier, when there was room, verifiable. Once the filler
 * is deleted, the next run succeeds.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, statfs, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/keys.js";
import type { SnapshotManifest } from "../../src/repository/manifest.js";
import { Repository } from "../../src/repository/repository.js";
import { LocalBackend } from "../../src/storage/local/local-backend.js";
import { PostgresContainer, type StartedPostgresContainer } from "../support/containers/postgres.js";
import { postgresImage } from "../support/images.js";
import { runCli, verifyReadData } from "../support/run-cli.js";
import { bigTableSql } from "./support/filler-data.js";

const PG_PASSWORD = "df-Pg-pw-5a9c21";
const JOB = "task-db";
const TMPFS_SIZE = "16m";
/** ~75 bytes per row in COPY text: about 6.5 MiB of uncompressed dump. */
const ROWS = 90_000;
const PAGE = 4096;

let work: string;
let mountPoint: string;
let mounted = false;
let repoDir: string;
let configDir: string;
let identityFile: string;
let source: StartedPostgresContainer;
let baseline: SnapshotManifest;

const env = () => ({ DF_PG_PASSWORD: PG_PASSWORD });
const filler = () => path.join(mountPoint, "filler");

async function withRepository<T>(use: (repository: Repository) => Promise<T>): Promise<T> {
  const repository = new Repository(new LocalBackend({ path: repoDir }));
  try {
    return await use(repository);
  } finally {
    await repository.backend.close();
  }
}

/** Every file under the repository, relative to it. */
async function repositoryFiles(): Promise<string[]> {
  const entries = await readdir(repoDir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(repoDir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** A lock generation's file (`locks/<job>/<n>.json`); its number grows with every run. */
const LOCK_GENERATION = /^locks\/[^/]+\/\d+\.json$/;
const withoutLockGeneration = (file: string): string =>
  LOCK_GENERATION.test(file) ? file.replace(/\d+\.json$/, "<generation>.json") : file;

/** Fills the tmpfs until exactly `leaveBytes` (rounded down to pages) remain free. */
async function fillLeaving(leaveBytes: number): Promise<void> {
  await rm(filler(), { force: true });
  const { bavail, bsize } = await statfs(mountPoint);
  const free = bavail * bsize;
  const size = free - Math.floor(leaveBytes / PAGE) * PAGE;
  if (size <= 0) throw new Error(`cannot leave ${leaveBytes} bytes: only ${free} free`);
  await writeFile(filler(), Buffer.alloc(size));
  const after = await statfs(mountPoint);
  expect(after.bavail * after.bsize).toBe(Math.floor(leaveBytes / PAGE) * PAGE);
}

const backup = () => runCli(["backup", JOB, "--config-dir", configDir], env());

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "backdrill-disk-full-"));
  mountPoint = path.join(work, "volume");
  await mkdir(mountPoint, { recursive: true });
  // Root is available in CI: a failed mount is a broken test bed and must fail, not skip.
  await execa("mount", ["-t", "tmpfs", "-o", `size=${TMPFS_SIZE},mode=0700`, "tmpfs", mountPoint]);
  mounted = true;
  repoDir = path.join(mountPoint, "repo");
  configDir = path.join(work, "config");
  for (const sub of ["policies", "jobs"]) await mkdir(path.join(configDir, sub), { recursive: true });

  const [started, keys] = await Promise.all([
    new PostgresContainer().withDatabase("task").withPassword(PG_PASSWORD).start(),
    generateIdentity(),
  ]);
  source = started;
  identityFile = path.join(work, "identity.txt");
  await writeFile(identityFile, `${keys.identity}\n`, { mode: 0o600 });
  await source.psql(bigTableSql(ROWS));
  await writeFile(
    path.join(configDir, "policies", "p.yaml"),
    `name: p
repository: { type: local, path: ${repoDir} }
encryption: { recipients: [${keys.recipient}] }
retention: { keepLast: 5 }
rpo: 26h
`,
  );
  // compress 0 and no globals: the dump's size is the table's and it is the first artifact.
  await writeFile(
    path.join(configDir, "jobs", `${JOB}.yaml`),
    `name: ${JOB}
kind: postgres-dump
policy: p
connection: { host: 127.0.0.1, port: ${source.port}, user: test, passwordEnv: DF_PG_PASSWORD, sslmode: disable }
databases: [task]
format: custom
compress: 0
globals: false
tools: { image: ${postgresImage()} }
`,
  );
}, 300_000);

afterAll(async () => {
  await source?.stop();
  if (mounted) await execa("umount", [mountPoint], { reject: false });
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

/** A full-disk run: exit 1, one FAILED line, nothing committed or left over, the baseline intact. */
async function fullDiskRun(): Promise<string> {
  const before = await repositoryFiles();
  const result = await backup();
  expect(result.code, result.stdout + result.stderr).toBe(1);
  expect(result.stdout + result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stdout + result.stderr).not.toContain(PG_PASSWORD);
  const lines = result.stdout.trim().split("\n");
  expect(lines).toHaveLength(1);
  const line = lines[0] ?? "";
  expect(line).toMatch(new RegExp(`^FAILED  ${JOB}  .*no space left on device`));
  expect(line).toContain(repoDir);

  // Nothing committed, nothing half-written: the repository holds exactly what it held before
  // (no temp file, no partial artifact), and prune has nothing to remove. The lock is a log of
  // generations: the failed run took it and gave it back, so its newest generation's number moved
  // on and must say `released`.
  const after = await repositoryFiles();
  expect(after.map(withoutLockGeneration)).toEqual(before.map(withoutLockGeneration));
  const lockFiles = after.filter((file) => LOCK_GENERATION.test(file));
  expect(lockFiles).toHaveLength(1);
  const newest = JSON.parse(await readFile(path.join(repoDir, lockFiles[0] ?? ""), "utf8")) as {
    state?: unknown;
  };
  expect(newest.state).toBe("released");
  await withRepository(async (repository) => {
    expect((await repository.snapshots(JOB)).map((s) => s.id)).toEqual([baseline.id]);
    expect(await repository.leftovers(JOB)).toEqual([]);
  });
  const verify = await verifyReadData(configDir, identityFile);
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  expect(verify.stdout).toMatch(/1 snapshots, 2 artifacts/);
  return line;
}

describe("a full local repository", () => {
  it("takes a baseline snapshot while there is room", async () => {
    const result = await backup();
    expect(result.code, result.stdout + result.stderr).toBe(0);
    await withRepository(async (repository) => {
      const snapshots = await repository.snapshots(JOB);
      expect(snapshots).toHaveLength(1);
      baseline = snapshots[0] as SnapshotManifest;
    });
    const dump = baseline.artifacts.find((a) => a.name === "task.dump");
    console.log(
      `baseline: ${baseline.artifacts.map((a) => `${a.name} ${a.size} B`).join(", ")}; tmpfs ${TMPFS_SIZE}`,
    );
    // The dump must be big enough that "no room for the dump" is a real fill level.
    expect(dump?.size ?? 0).toBeGreaterThan(4 * 1024 * 1024);
  });

  it("fails cleanly when the disk fills during the first artifact (the dump)", async () => {
    await fillLeaving(64 * 1024);
    const line = await fullDiskRun();
    console.log(`first artifact: ${line}`);
    expect(line).toMatch(/task\.dump/);
  });

  it("fails cleanly when the disk fills after the dump (facts or the manifest itself)", async () => {
    const dump = baseline.artifacts.find((a) => a.name === "task.dump");
    if (dump === undefined) throw new Error("no task.dump in the baseline");
    // The dump's pages and one for the lock: the dump is stored in full, then the next write
    // (the facts artifact, the lock's renewal right before the commit, or the manifest) finds
    // the disk full.
    await fillLeaving((Math.ceil(dump.size / PAGE) + 1) * PAGE);
    const line = await fullDiskRun();
    console.log(`after the dump: ${line}`);
    expect(line).not.toMatch(/task\.dump/);
    expect(line).toMatch(/facts\.json|locks\/|snapshots\//);
  });

  it("succeeds again once space is freed", async () => {
    await rm(filler(), { force: true });
    const result = await backup();
    // The server's own log, should the database side be what failed.
    const serverLog =
      result.code === 0
        ? ""
        : (await execa("docker", ["logs", "--tail", "30", source.getId()], { all: true })).all;
    expect(result.code, `${result.stdout}${result.stderr}${serverLog}`).toBe(0);
    const verify = await verifyReadData(configDir, identityFile);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    await withRepository(async (repository) => {
      expect(await repository.snapshots(JOB)).toHaveLength(2);
      expect(await repository.leftovers()).toEqual([]);
    });
  });
});
