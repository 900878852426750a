/**
 * postgres-base against a real PostgreSQL 17 container whose archive_command copies finished
 * segments into a spool directory bind-mounted from the host; the test drains the spool into the
 * repository with the same code `backdrill wal ship` runs (drainSpool → WalArchive.push).
 *
 * One source cluster, in order: base backup; an archive_command outage (spool not writable) that
 * PostgreSQL must ride out by retrying; continuous inserts with three recorded points in time;
 * PITR drills to each point and to latest; finally a segment removed from the middle of the
 * archive, which must fail the drill naming the gap.
 */
import { chmod, mkdir, mkdtemp, readFile, readdir, realpath, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import pg from "pg";
import { GenericContainer, Wait, type StartedTestContainer } from "testcontainers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobBackup } from "../../../src/runner/backup.js";
import type { PostgresBaseJob } from "../../../src/kinds/postgres-base/job-schema.js";
import { generateIdentity } from "../../../src/crypto/keys.js";
import { postgresBaseKind } from "../../../src/kinds/postgres-base/index.js";
import { drainSpool } from "../../../src/kinds/postgres-base/spool.js";
import { WalArchive } from "../../../src/kinds/postgres-base/wal-archive.js";
import type { PostgresBaseTarget } from "../../../src/kinds/postgres-base/target.js";
import { createLogger } from "../../../src/log/logger.js";
import type { SnapshotManifest } from "../../../src/repository/manifest.js";
import type { TargetReport } from "../../../src/report/types.js";
import { runDrillTarget } from "../../../src/runner/drill-target.js";
import { Repository } from "../../../src/repository/repository.js";
import { LocalBackend } from "../../../src/storage/local/local-backend.js";
import { PostgresContainer, type StartedPostgresContainer } from "../../support/containers/postgres.js";
import { postgresImage } from "../../support/images.js";
import { restoreWith } from "../../support/restore.js";
import { runCli } from "../../support/run-cli.js";
import { bundleCli } from "../../support/bundle-cli.js";
import { REPO_ROOT } from "../../support/test-env.js";
import type { StatusReport } from "../../../src/app/status.js";
import type { RepositoryVerification } from "../../../src/app/verify.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

const log = createLogger({ level: process.env.BACKDRILL_LOG_LEVEL ?? "warn", pretty: false });
const PASSWORD = "base-src-pw-91c2";
const ENV = { ...process.env, PGBASE_TEST_PASSWORD: PASSWORD };
/** The README's durable spool command: file and directory fsynced before PostgreSQL hears "archived". */
const ARCHIVE_COMMAND =
  "test ! -f /spool/%f && cp %p /spool/.%f.tmp && sync /spool/.%f.tmp && mv /spool/.%f.tmp /spool/%f && sync /spool";

let dir: string;
let spool: string;
/** A config directory for the CLI (status, verify, wal ship) over the same repository. */
let configDir: string;
/** The job's archiveRpo: status turns red once the newest archived WAL is older. */
const ARCHIVE_RPO_SECONDS = 20;
let source: StartedPostgresContainer;
let client: pg.Client;
let repository: Repository;
let archive: WalArchive;
let key: { identity: string; recipient: string };
let manifest: SnapshotManifest;
const marks: Array<{ at: string; rows: number }> = [];
let totalRows = 0;

function job(): PostgresBaseJob {
  return {
    name: "task-wal",
    kind: "postgres-base",
    policy: "test",
    connection: { host: "127.0.0.1", port: source.port, user: "test", passwordEnv: "PGBASE_TEST_PASSWORD" },
    tools: { image: postgresImage() },
    compression: "brotli-1",
  };
}

async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
  return (await client.query<T>(sql)).rows;
}

/** Closes the current segment and waits until PostgreSQL reports it archived (into the spool). */
async function switchAndWaitArchived(): Promise<string> {
  // A WAL record first: pg_switch_wal() on an empty segment switches nothing.
  await query("SELECT pg_logical_emit_message(false, 'backdrill-test', 'switch')");
  const [row] = await query<{ name: string }>("SELECT pg_walfile_name(pg_switch_wal()) AS name");
  const name = row?.name ?? "";
  // After failures the archiver may pause up to a minute before it tries again.
  const deadline = Date.now() + 150_000;
  for (;;) {
    const [stat] = await query<{ last: string | null }>(
      "SELECT last_archived_wal AS last FROM pg_stat_archiver",
    );
    if (stat?.last !== null && stat?.last !== undefined && stat.last >= name) return name;
    if (Date.now() > deadline) {
      const [archiver] = await query("SELECT * FROM pg_stat_archiver");
      const logs = await source.exec(["sh", "-c", "ls -la /spool"]);
      throw new Error(
        `segment ${name} was not archived within 150 s: ${JSON.stringify(archiver)} ${logs.output}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function drain(): Promise<void> {
  // Compressed like `wal ship` does by default: recovery below replays compressed WAL.
  const result = await drainSpool(archive, [key.recipient], spool, { log, compression: "brotli-1" });
  expect(result.failed).toEqual([]);
}

async function serverNow(): Promise<string> {
  const [row] = await query<{ now: string }>(
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS now`,
  );
  return row?.now ?? "";
}

async function insertBatch(count: number, note: string): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    await client.query("INSERT INTO events (note) VALUES ($1)", [note]);
    totalRows += 1;
  }
}

async function drill(target: Omit<PostgresBaseTarget, "job" | "snapshot">): Promise<TargetReport> {
  const report = await runDrillTarget(
    {
      job: job(),
      target: { job: "task-wal", snapshot: manifest.id, ...target },
      kind: postgresBaseKind,
      repository,
      snapshot: manifest.id,
      identities: [key.identity],
      rtoSeconds: null,
    },
    { log, signal: new AbortController().signal, env: {}, configDir: dir },
  );
  if (report.error !== undefined) throw new Error(report.error);
  return report;
}

function countCheck(rows: number) {
  return { name: `exactly ${rows} rows`, database: "task", query: `SELECT count(*) = ${rows} FROM events` };
}

function failed(outcome: TargetReport): string[] {
  return outcome.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail}`);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "pgbase-it-"));
  spool = path.join(dir, "spool");
  await mkdir(spool);
  // The container's postgres user (another uid) must write here.
  await chmod(spool, 0o777);
  key = await generateIdentity();
  repository = new Repository(new LocalBackend({ path: path.join(dir, "repo") }));
  await repository.init();
  archive = new WalArchive(repository, "task-wal");
  const container = new PostgresContainer()
    .withDatabase("task")
    .withPassword(PASSWORD)
    .withServerArgs(
      "-c",
      "wal_level=replica",
      "-c",
      "archive_mode=on",
      "-c",
      `archive_command=${ARCHIVE_COMMAND}`,
    );
  container.container.withBindMounts([{ source: spool, target: "/spool", mode: "rw" }]);
  source = await container.start();
  client = new pg.Client({ connectionString: source.connectionUri });
  await client.connect();
  await client.query(
    "CREATE TABLE events (id bigserial PRIMARY KEY, note text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())",
  );
  configDir = path.join(dir, "config");
  await mkdir(path.join(configDir, "policies"), { recursive: true });
  await mkdir(path.join(configDir, "jobs"));
  await writeFile(
    path.join(configDir, "policies/test.yaml"),
    `name: test\nrepository: { type: local, path: ${path.join(dir, "repo")} }\n` +
      `encryption: { recipients: [${key.recipient}] }\nretention: { keepLast: 5 }\nrpo: 1h\n`,
  );
  await writeFile(
    path.join(configDir, "jobs/task-wal.yaml"),
    `name: task-wal\nkind: postgres-base\npolicy: test\n` +
      `connection: { host: 127.0.0.1, port: ${source.port}, user: test, passwordEnv: PGBASE_TEST_PASSWORD }\n` +
      `tools: { image: ${postgresImage()} }\narchiveRpo: ${ARCHIVE_RPO_SECONDS}s\nspool: ${spool}\n`,
  );
});

async function statusOf(): Promise<{ code: number; report: StatusReport; text: string }> {
  // With the job's password: status asks the server's pg_stat_archiver too.
  const env = { PGBASE_TEST_PASSWORD: PASSWORD };
  const json = await runCli(["--config-dir", configDir, "status", "--json"], env);
  const text = await runCli(["--config-dir", configDir, "status"], env);
  expect(text.code).toBe(json.code);
  return { code: json.code, report: JSON.parse(json.stdout) as StatusReport, text: text.stdout };
}

async function verifyArchive(): Promise<{ code: number; problems: string[]; text: string }> {
  const json = await runCli(["--config-dir", configDir, "verify", "--json"]);
  const text = await runCli(["--config-dir", configDir, "verify"]);
  const reports = JSON.parse(json.stdout) as RepositoryVerification[];
  const archive = reports[0]?.archives.find((entry) => entry.job === "task-wal");
  if (archive === undefined) throw new Error(`verify reported no WAL archive: ${json.stdout}`);
  expect(archive.checked).toBeGreaterThan(3);
  expect(text.code).toBe(json.code);
  return { code: json.code, problems: archive.problems, text: text.stdout };
}

afterAll(async () => {
  await client?.end().catch(() => undefined);
  await source?.stop().catch(() => undefined);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe("postgres-base: base backup, WAL archive, PITR drills", () => {
  it("takes a streamed, encrypted base backup with LSNs and timeline in the manifest", async () => {
    await insertBatch(20, "before backup");
    const { result, manifest: written } = await runJobBackup(
      { job: job(), kind: postgresBaseKind, repository, recipients: [key.recipient] },
      { log, signal: new AbortController().signal, env: ENV, configDir: dir },
    );
    expect(result.error).toBeUndefined();
    expect(written).toBeDefined();
    manifest = written as SnapshotManifest;
    expect(manifest.meta).toMatchObject({ timeline: 1, walSegmentSize: 16 * 1024 * 1024 });
    expect(manifest.meta.startLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(manifest.meta.stopLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(manifest.meta.startWalFile).toMatch(/^[0-9A-F]{24}$/);
    expect(manifest.artifacts.map((artifact) => artifact.name).sort()).toEqual(["base.tar", "facts.json"]);
    // Compressed before encryption (the job's compression), so every later drill and restore
    // decompresses it; the manifest format says so to older versions.
    expect(manifest.format).toBe(2);
    const base = manifest.artifacts.find((artifact) => artifact.name === "base.tar");
    expect(base).toMatchObject({ compression: "brotli-1", plainSize: expect.any(Number) });
    expect(base?.size).toBeLessThan(base?.plainSize ?? 0);
    const facts = await repository.readFacts<Record<string, unknown>>(manifest, [key.identity]);
    expect(facts).toMatchObject({
      superuser: "test",
      databases: expect.arrayContaining(["task", "postgres"]),
    });
    await switchAndWaitArchived();
    await drain();
    // The .backup history file of this base backup was archived too.
    expect((await archive.list()).some((file) => file.kind === "backup")).toBe(true);
  }, 300_000);

  it("rides out an archive_command outage: PostgreSQL retries and nothing is lost", async () => {
    await chmod(spool, 0o555);
    const [before] = await query<{ failed: string }>(
      "SELECT failed_count::text AS failed FROM pg_stat_archiver",
    );
    await insertBatch(15, "during outage");
    const [row] = await query<{ name: string }>("SELECT pg_walfile_name(pg_switch_wal()) AS name");
    const stuck = row?.name ?? "";
    const deadline = Date.now() + 60_000;
    let failures = Number(before?.failed ?? 0);
    while (failures <= Number(before?.failed ?? 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const [stat] = await query<{ failed: string }>(
        "SELECT failed_count::text AS failed FROM pg_stat_archiver",
      );
      failures = Number(stat?.failed ?? 0);
    }
    expect(failures).toBeGreaterThan(Number(before?.failed ?? 0));
    expect(await readdir(spool)).not.toContain(stuck);
    await chmod(spool, 0o777);
    // PostgreSQL keeps the segment and retries; once the spool is writable it arrives.
    await switchAndWaitArchived();
    await drain();
    expect(await archive.has(stuck)).toBe(true);
  }, 180_000);

  it("archives continuous inserts and records three points in time", async () => {
    for (let mark = 0; mark < 3; mark += 1) {
      await insertBatch(10 + mark * 5, `batch ${mark}`);
      await new Promise((resolve) => setTimeout(resolve, 400));
      marks.push({ at: await serverNow(), rows: totalRows });
      await new Promise((resolve) => setTimeout(resolve, 400));
      // A segment switch in the middle, so the targets sit in different segments.
      if (mark === 1) await switchAndWaitArchived();
    }
    await insertBatch(7, "after the last mark");
    await switchAndWaitArchived();
    await drain();
    const [count] = await query<{ n: string }>("SELECT count(*)::text AS n FROM events");
    expect(Number(count?.n)).toBe(totalRows);
  }, 180_000);

  it("status and the metrics report the PITR RPO; verify finds the archive complete", async () => {
    await insertBatch(3, "before status");
    const segment = await switchAndWaitArchived();
    // Shipped by the CLI this time, with the metrics textfile configured.
    const metricsFile = path.join(dir, "metrics", "backdrill.prom");
    const shipped = await runCli(["--config-dir", configDir, "wal", "ship", "task-wal", spool, "--once"], {
      BACKDRILL_METRICS_FILE: metricsFile,
    });
    expect(shipped.code).toBe(0);
    expect(await archive.has(segment)).toBe(true);
    const metrics = await readFile(metricsFile, "utf8");
    expect(metrics).toMatch(/^backdrill_wal_last_archived_timestamp_seconds\{job="task-wal"\} \d+/m);
    expect(metrics).toContain(`backdrill_wal_rpo_seconds{job="task-wal"} ${ARCHIVE_RPO_SECONDS}`);
    expect(metrics).toContain('backdrill_wal_spool_files{job="task-wal"} 0');

    const { code, report, text } = await statusOf();
    expect(code).toBe(0);
    const job = report.jobs.find((entry) => entry.job === "task-wal");
    expect(job).toMatchObject({
      ok: true,
      archive: { ok: true, rpoSeconds: ARCHIVE_RPO_SECONDS, backlog: { dir: spool, files: 0 } },
    });
    expect((job?.archive?.newest?.name ?? "") >= segment).toBe(true);
    expect(job?.archive?.ageSeconds).toBeLessThanOrEqual(ARCHIVE_RPO_SECONDS);
    expect(text).toMatch(/ok +WAL archive: PITR RPO newest [0-9A-F]{24}/);
    expect(job?.archive?.source).toMatchObject({ ok: true, stats: { lastArchivedWal: expect.any(String) } });
    expect(text).toMatch(/ok +WAL archive source: archiver ok: last archived [0-9A-F]{24}/);

    const verified = await verifyArchive();
    expect(verified.problems).toEqual([]);
    expect(verified.code).toBe(0);
    expect(verified.text).toMatch(/every segment archived: [0-9A-F]{24}\.\.[0-9A-F]{24} on timeline\(s\) 1/);
  }, 180_000);

  it("doctor --switch-wal forces a segment and sees it arrive in the repository; summarize_wal reported", async () => {
    let done = false;
    // The job archives through the spool: drain it meanwhile, as wal ship would.
    const shipping = (async () => {
      while (!done) {
        await drain();
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
    let doctored: Awaited<ReturnType<typeof runCli>>;
    try {
      doctored = await runCli(["--config-dir", configDir, "doctor", "task-wal", "--switch-wal", "--json"], {
        PGBASE_TEST_PASSWORD: PASSWORD,
      });
    } finally {
      done = true;
      await shipping;
    }
    const report = JSON.parse(doctored.stdout) as {
      checks: Array<{ subject: string; name: string; status: string; detail: string }>;
    };
    const check = (name: string) => report.checks.find((entry) => entry.name === name);
    expect(check("WAL switch arrives"), doctored.stdout).toMatchObject({ status: "ok" });
    expect(check("WAL switch arrives")?.detail).toMatch(
      /switched WAL: [0-9A-F]{24} reached the repository in/,
    );
    expect(check("summarize_wal")).toMatchObject({
      status: "ok",
      detail: expect.stringMatching(/^off: only needed/),
    });
  }, 180_000);

  it("a broken archive_command turns status red naming the PITR RPO, while the base backup is fresh", async () => {
    // The spool becomes unwritable: archive_command fails, PostgreSQL keeps the segment and retries.
    await chmod(spool, 0o555);
    try {
      const [before] = await query<{ failed: string }>(
        "SELECT failed_count::text AS failed FROM pg_stat_archiver",
      );
      await insertBatch(4, "archiving broken");
      await query("SELECT pg_switch_wal()");
      const deadline = Date.now() + 60_000;
      for (;;) {
        const [stat] = await query<{ failed: string }>(
          "SELECT failed_count::text AS failed FROM pg_stat_archiver",
        );
        if (Number(stat?.failed) > Number(before?.failed)) break;
        if (Date.now() > deadline) throw new Error("archive_command never failed");
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      // The server knows at once: status fails on pg_stat_archiver before the PITR RPO is breached.
      const failing = await statusOf();
      const failingJob = failing.report.jobs.find((entry) => entry.job === "task-wal");
      expect(failing.code).toBe(1);
      expect(failingJob).toMatchObject({ ok: false, archive: { source: { ok: false } } });
      expect(failingJob?.archive?.source?.stats).toMatchObject({ lastFailedWal: expect.any(String) });
      expect(failing.text).toMatch(/FAILING +WAL archive source: archive_command failing: \d+ failure\(s\)/);
      // Let the archive age past archiveRpo (the policy's rpo, 1h, keeps the base backup fresh).
      for (;;) {
        const { code, report, text } = await statusOf();
        const job = report.jobs.find((entry) => entry.job === "task-wal");
        expect(code).toBe(1);
        if ((job?.archive?.ageSeconds ?? 0) <= ARCHIVE_RPO_SECONDS) {
          await new Promise((resolve) => setTimeout(resolve, 2_000));
          continue;
        }
        expect(report.ok).toBe(false);
        expect(job).toMatchObject({ ok: false, archive: { ok: false } });
        expect(job?.ageSeconds).toBeLessThan(3600);
        expect(text).toMatch(/BREACHED +WAL archive: PITR RPO newest [0-9A-F]{24}, \d+s old \(RPO 20s\)/);
        break;
      }
    } finally {
      await chmod(spool, 0o777);
    }
    // Archiving repaired: the held-back segment arrives and status is green again.
    await switchAndWaitArchived();
    await drain();
    expect((await statusOf()).code).toBe(0);
  }, 240_000);

  for (const index of [0, 1, 2]) {
    it(`PITR to point ${index + 1} has exactly the rows committed before it`, async () => {
      const mark = marks[index];
      if (mark === undefined) throw new Error("no mark recorded");
      const outcome = await drill({
        image: postgresImage(),
        pitr: mark.at,
        checks: { amcheck: false, sql: [countCheck(mark.rows)] },
      });
      expect(failed(outcome)).toEqual([]);
      expect(outcome.details).toMatchObject({ timeline: 2 });
      console.log(
        `PITR to ${mark.at}:`,
        JSON.stringify({ timings: outcome.timings, details: outcome.details }),
      );
    }, 600_000);
  }

  it("PITR to latest has every row, including those archived after the outage; amcheck passes", async () => {
    const outcome = await drill({
      image: postgresImage(),
      pitr: "latest",
      checks: { amcheck: true, sql: [countCheck(totalRows)] },
    });
    expect(failed(outcome)).toEqual([]);
    expect(Number(outcome.details?.segmentsReplayed)).toBeGreaterThan(0);
    console.log("PITR latest:", JSON.stringify({ timings: outcome.timings, details: outcome.details }));
  }, 600_000);

  it("restore --to lays out a data directory ready to recover, with a plan for --dry-run", async () => {
    const target = path.join(dir, "restored-data");
    const restore = (dryRun: boolean) =>
      restoreWith({
        kind: postgresBaseKind,
        job: job(),
        repository,
        identity: key.identity,
        identityFile: "/secure/id.txt",
        snapshot: manifest.id,
        to: target,
        flags: { at: marks[1]?.at },
        dryRun,
        log,
        configDir: dir,
      });
    const { plan } = await restore(true);
    expect(plan.steps.join("\n")).toMatch(/recovery_target_time = '.+\+00'/);
    await expect(readdir(target)).rejects.toThrow(/ENOENT/);
    await restore(false);
    const files = await readdir(target);
    expect(files).toEqual(
      expect.arrayContaining(["PG_VERSION", "backup_label", "recovery.signal", "pg_wal"]),
    );
    const auto = await readFile(path.join(target, "postgresql.auto.conf"), "utf8");
    expect(auto).toContain(`wal fetch task-wal %f %p --identity /secure/id.txt`);
    expect(auto).toContain("recovery_target_action = 'promote'");
    // A second restore into the now non-empty directory is refused without --force.
    await expect(restore(true)).rejects.toThrow(/not empty/);
  });

  it("disaster restore: restore --to DIR --at T, PostgreSQL 17 started on DIR recovers through backdrill wal fetch to T, segments prefetched", async () => {
    // T between two inserts: the rows of the marks before it exist afterwards, later ones not.
    const mark = marks[1];
    if (mark === undefined) throw new Error("no mark recorded");
    expect(totalRows).toBeGreaterThan(mark.rows);
    const target = path.join(dir, "disaster-data");
    await restoreCli(target, ["--at", mark.at]);
    const auto = await readFile(path.join(target, "postgresql.auto.conf"), "utf8");
    expect(auto).toContain(`wal fetch task-wal %f %p --identity ${identityFile()}`);
    expect(auto).toContain("if [ -f pg_wal/.backdrill-prefetch/%f ]; then mv -f");
    expect(auto).toContain("--prefetch 8 --prefetch-dir pg_wal/.backdrill-prefetch");

    const server = await startOnRestored(target);
    try {
      expect(await server.psql("SELECT pg_is_in_recovery()")).toBe("f");
      expect(Number(await server.psql("SELECT count(*) FROM events"))).toBe(mark.rows);
      expect(await server.psql(`SELECT count(*) FROM events WHERE at > '${mark.at}'`)).toBe("0");
      expect(await server.psql("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")).toBe(
        "00000002",
      );
      const { logs, calls, recovery } = await server.recovery();
      // Segments came through restore_command, recovery stopped at T.
      expect(logs).toMatch(/restored log file "[0-9A-F]{24}" from archive/);
      expect(logs).toMatch(/recovery stopping before commit of transaction/);
      // Fewer backdrill starts for segments than segments restored: the rest were renames of
      // prefetched files (and the prefetch fetched at least one).
      expect(recovery.fromPrefetch).toBeGreaterThan(0);
      expect(calls.some((call) => call.includes("--prefetch 8"))).toBe(true);
      console.log("disaster restore:", JSON.stringify(recovery));
    } finally {
      await server.stop();
    }
  }, 600_000);

  it("fails the drill naming the gap when a segment in the middle is missing", async () => {
    const segments = (await archive.list()).filter((file) => file.kind === "segment");
    const stop = String(manifest.meta.stopWalFile);
    const after = segments.filter((file) => file.name > stop);
    expect(after.length).toBeGreaterThanOrEqual(3);
    const victim = after[1];
    if (victim === undefined) throw new Error("no segment to remove");
    await repository.backend.delete(`wal/task-wal/${victim.name}.age`);
    const outcome = await drill({ image: postgresImage(), pitr: "latest", checks: { amcheck: false } });
    const continuity = outcome.checks.find((check) => check.name === "WAL continuity");
    expect(continuity?.ok).toBe(false);
    expect(continuity?.detail).toContain(victim.name);
  }, 600_000);

  it("verify names the missing segment as damage of the WAL archive (exit 1)", async () => {
    const segments = (await archive.list()).filter((file) => file.kind === "segment");
    const stop = String(manifest.meta.stopWalFile);
    const present = new Set(segments.map((file) => file.name));
    const after = segments.filter((file) => file.name > stop);
    // The segment the previous test removed: the one between two present ones.
    const victim = after[0] === undefined ? undefined : nextName(after[0].name);
    expect(victim !== undefined && !present.has(victim)).toBe(true);
    const verified = await verifyArchive();
    expect(verified.code).toBe(1);
    expect(verified.problems).toHaveLength(1);
    expect(verified.problems[0]).toContain(`1 segment(s) missing from the archive: ${victim}`);
    expect(verified.text).toContain(
      `DAMAGED: task-wal WAL archive: 1 segment(s) missing from the archive: ${victim}`,
    );
  });

  // PostgreSQL 17 incremental base backups: a chain full → incremental → incremental, restored
  // by pg_combinebackup (CLI restore, PostgreSQL started on it) and drilled.
  const chain: SnapshotManifest[] = [];
  const incrementalJob = (): PostgresBaseJob => ({
    ...job(),
    incremental: { fullEvery: 3, stateDir: path.join(dir, "state") },
  });
  async function backupIncremental(): Promise<{ manifest: SnapshotManifest; ms: number; bytes: number }> {
    const { result, manifest: written } = await runJobBackup(
      { job: incrementalJob(), kind: postgresBaseKind, repository, recipients: [key.recipient] },
      { log, signal: new AbortController().signal, env: ENV, configDir: dir },
    );
    expect(result.error).toBeUndefined();
    const committed = written as SnapshotManifest;
    chain.push(committed);
    const base = committed.artifacts.find((artifact) => artifact.name === "base.tar");
    return { manifest: committed, ms: result.durationMs, bytes: base?.size ?? 0 };
  }

  it("incremental: refuses clearly while summarize_wal is off, then takes full → incremental → incremental", async () => {
    // The newest snapshot recorded no backup_manifest checksum: the first backup is full anyway;
    // with a parent in the state directory and summarize_wal off, the job's setting is named.
    const full = await backupIncremental();
    expect(full.manifest.meta).toMatchObject({
      backupType: "full",
      manifestSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const off = await runJobBackup(
      { job: incrementalJob(), kind: postgresBaseKind, repository, recipients: [key.recipient] },
      { log, signal: new AbortController().signal, env: ENV, configDir: dir },
    );
    expect(off.result).toMatchObject({ ok: false, usage: true });
    expect(off.result.error).toMatch(
      /jobs\/task-wal\.yaml: incremental: job task-wal: the server has summarize_wal = off/,
    );

    await query("ALTER SYSTEM SET summarize_wal = on");
    await query("SELECT pg_reload_conf()");
    // Summaries must cover the parent's start: a new full backup after the summarizer runs.
    chain.length = 0;
    for (;;) {
      const [state] = await query<{ on: string }>("SELECT current_setting('summarize_wal') AS on");
      if (state?.on === "on") break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const stateDir = path.join(dir, "state");
    await rm(stateDir, { recursive: true, force: true });
    const first = await backupIncremental();
    expect(first.manifest.meta.backupType).toBe("full");
    const links = [first];
    for (const note of ["after the full backup", "after the first incremental"]) {
      await insertBatch(30, note);
      const next = await backupIncremental();
      expect(next.manifest.meta).toMatchObject({
        backupType: "incremental",
        parent: links.at(-1)?.manifest.id,
        chainFull: first.manifest.id,
      });
      // Only what changed since the parent (and the WAL of the backup itself).
      expect(next.bytes).toBeLessThan(first.bytes / 2);
      links.push(next);
    }
    const [, second, third] = links;
    if (second === undefined || third === undefined) throw new Error("no incremental backups");
    // The state directory keeps the newest backup_manifest (and its parent's, in case the newest
    // never committed), private.
    const kept = (await readdir(path.join(stateDir, "task-wal"))).sort();
    expect(kept).toEqual([`${second.manifest.id}.backup_manifest`, `${third.manifest.id}.backup_manifest`]);
    expect((await stat(path.join(stateDir, "task-wal", kept[1] ?? ""))).mode & 0o777).toBe(0o600);
    console.log(
      "incremental backups:",
      JSON.stringify({
        full: { ms: first.ms, bytes: first.bytes, plain: first.manifest.artifacts[0]?.plainSize },
        incremental1: { ms: second.ms, bytes: second.bytes },
        incremental2: { ms: third.ms, bytes: third.bytes },
      }),
    );
    await insertBatch(5, "after the second incremental");
    await switchAndWaitArchived();
    await drain();
  }, 600_000);

  it("incremental: restore --to DIR of the newest combines the chain; PostgreSQL 17 starts on it with every row", async () => {
    const newest = chain.at(-1);
    if (newest === undefined) throw new Error("no incremental chain");
    const target = path.join(dir, "incremental-data");
    const plan = await runRestoreCli(target, ["--dry-run"]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(
      `full ${chain[0]?.id} → incremental ${chain[1]?.id} → incremental ${newest.id}`,
    );
    expect(plan.stdout).toContain(`pg_combinebackup -o ${target}`);
    await restoreCli(target, []);
    const leftovers = (await readdir(os.tmpdir())).filter((name) => name.startsWith(`backdrill-chain-`));
    expect(leftovers).toEqual([]);
    const server = await startOnRestored(target);
    try {
      expect(await server.psql("SELECT pg_is_in_recovery()")).toBe("f");
      expect(Number(await server.psql("SELECT count(*) FROM events"))).toBe(totalRows);
    } finally {
      await server.stop();
    }
  }, 600_000);

  it("incremental: prune keeps the chain the newest snapshot needs, whatever the retention says", async () => {
    const policyFile = path.join(configDir, "policies/test.yaml");
    const policy = await readFile(policyFile, "utf8");
    await writeFile(policyFile, policy.replace("keepLast: 5", "keepLast: 1"));
    try {
      const pruned = await runCli(["--config-dir", configDir, "prune", "task-wal", "--dry-run", "--json"]);
      expect(pruned.code, pruned.stderr).toBe(0);
      const report = JSON.parse(pruned.stdout) as {
        jobs: Array<{ snapshots: Array<{ id: string; action: string; reasons: string[] }> }>;
      };
      const entries = report.jobs[0]?.snapshots ?? [];
      const newest = chain.at(-1)?.id;
      for (const link of chain.slice(0, -1)) {
        expect(entries.find((entry) => entry.id === link.id)).toMatchObject({
          action: "keep",
          reasons: [`needed by the incremental backup ${newest}`],
        });
      }
      const others = entries.filter((entry) => !chain.some((link) => link.id === entry.id));
      expect(others.length).toBeGreaterThan(0);
      expect(others.every((entry) => entry.action === "remove")).toBe(true);
    } finally {
      await writeFile(policyFile, policy);
    }
  });

  it("incremental: a drill of the newest incremental backup passes", async () => {
    const newest = chain.at(-1);
    if (newest === undefined) throw new Error("no incremental chain");
    const target: PostgresBaseTarget = {
      job: "task-wal",
      snapshot: newest.id,
      image: postgresImage(),
      pitr: "latest",
      checks: { amcheck: true, sql: [countCheck(totalRows)] },
    };
    const report = await runDrillTarget(
      {
        job: job(),
        target,
        kind: postgresBaseKind,
        repository,
        snapshot: newest.id,
        identities: [key.identity],
        rtoSeconds: null,
      },
      { log, signal: new AbortController().signal, env: {}, configDir: dir },
    );
    expect(report.error).toBeUndefined();
    expect(failed(report)).toEqual([]);
    expect(report.details?.chain).toEqual(chain.map((link) => link.id));
    console.log("incremental drill:", JSON.stringify({ timings: report.timings, details: report.details }));
  }, 600_000);
});

function identityFile(): string {
  return path.join(dir, "restore-identity.txt");
}

/** `backdrill restore task-wal --to target ...` through the CLI, with the identity file. */
async function restoreCli(target: string, flags: string[]): Promise<void> {
  const restored = await runRestoreCli(target, flags);
  expect(restored.code, restored.stderr).toBe(0);
}

async function runRestoreCli(target: string, flags: string[]): ReturnType<typeof runCli> {
  await writeFile(identityFile(), `${key.identity}\n`, { mode: 0o600 });
  return runCli([
    "--config-dir",
    configDir,
    "restore",
    "task-wal",
    "--to",
    target,
    ...flags,
    "--identity",
    identityFile(),
  ]);
}

/** What a recovery cost, from the server's log and the restore_command's backdrill starts. */
interface RecoveryFigures {
  segmentsRestored: number;
  /** backdrill starts (`wal fetch` of a segment) during recovery. */
  segmentFetches: number;
  /** Segments restore_command took from pg_wal/.backdrill-prefetch: restored minus fetched. */
  fromPrefetch: number;
  /** From "starting ... recovery" to the last restored segment, by the server's log timestamps. */
  recoveryMs: number | null;
  segmentsPerSecond: number | null;
}

/**
 * PostgreSQL 17 started on a restored data directory, with backdrill installed on that host as
 * README says: node and the CLI on PATH, the config, repository and identity at the same paths.
 * PostgreSQL runs as uid 100 in the image: it owns the data directory and reads the rest (the
 * restore plan's warning says so). The `backdrill` on PATH notes each start in /tmp.
 */
async function startOnRestored(target: string) {
  const cli = await bundleCli();
  const wrapper = path.join(dir, "backdrill-on-path");
  await writeFile(
    wrapper,
    `#!/bin/sh\necho "$*" >> /tmp/backdrill-calls.log\nexec /usr/bin/node ${cli.bin} "$@"\n`,
    { mode: 0o755 },
  );
  const repoDir = path.join(dir, "repo");
  await execa("chown", ["-R", "100:102", target, repoDir, configDir, identityFile()]);
  const same = async (source: string) => {
    const real = await realpath(source);
    return { source: real, target: real, mode: "ro" as const };
  };
  const mounts = [
    { source: target, target: "/restore", mode: "rw" as const },
    { source: process.execPath, target: "/usr/bin/node", mode: "ro" as const },
    { source: wrapper, target: "/usr/local/bin/backdrill", mode: "ro" as const },
    await same(REPO_ROOT),
    await same(path.join(REPO_ROOT, "node_modules")),
    await same(path.join(REPO_ROOT, "build", "native")),
    { source: configDir, target: configDir, mode: "ro" as const },
    { source: repoDir, target: repoDir, mode: "ro" as const },
    { source: identityFile(), target: identityFile(), mode: "ro" as const },
  ];
  let server: StartedTestContainer;
  try {
    server = await new GenericContainer(postgresImage())
      .withUser("100:102")
      .withEntrypoint(["/usr/lib/postgresql/17/bin/postgres"])
      .withCommand(["-D", "/restore", "-c", "listen_addresses=", "-c", "archive_mode=off"])
      .withBindMounts(mounts)
      // After recovery reached its target and promoted (read-only connections come first).
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/))
      .withStartupTimeout(900_000)
      .start();
  } catch (error) {
    await cli.remove();
    throw error;
  }
  const psql = async (sql: string) => {
    const result = await server.exec(["psql", "-U", "test", "-d", "task", "-Atc", sql]);
    if (result.exitCode !== 0) throw new Error(`psql ${sql}: ${result.output}`);
    return result.output.trim();
  };
  const recovery = async () => {
    const logs = await new Promise<string>((resolve, reject) => {
      let text = "";
      void server
        .logs()
        .then((stream) => {
          stream.on("data", (chunk: Buffer | string) => (text += chunk.toString()));
          setTimeout(() => {
            stream.destroy();
            resolve(text);
          }, 1_000);
        })
        .catch(reject);
    });
    const calls = (await server.exec(["cat", "/tmp/backdrill-calls.log"])).stdout
      .split("\n")
      .filter((line) => line.includes("wal fetch"));
    const lines = logs.split("\n");
    const restored = new Set(
      lines.flatMap((line) => /restored log file "([0-9A-F]{24})" from archive/.exec(line)?.[1] ?? []),
    );
    const segmentFetches = calls.filter((call) => /wal fetch task-wal [0-9A-F]{24} /.test(call)).length;
    const stamp = (line: string | undefined) => {
      const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}\.\d{3}) UTC/.exec(line ?? "");
      return match === null ? null : Date.parse(`${match[1]}T${match[2]}Z`);
    };
    const begin = stamp(lines.find((line) => /starting (point-in-time|archive) recovery/.test(line)));
    const end = stamp(lines.filter((line) => /restored log file/.test(line)).at(-1));
    const recoveryMs = begin === null || end === null ? null : end - begin;
    const figures: RecoveryFigures = {
      segmentsRestored: restored.size,
      segmentFetches,
      fromPrefetch: restored.size - segmentFetches,
      recoveryMs,
      segmentsPerSecond:
        recoveryMs === null || recoveryMs <= 0
          ? null
          : Math.round((restored.size / (recoveryMs / 1000)) * 100) / 100,
    };
    return { logs, calls, recovery: figures };
  };
  const stop = async () => {
    await server.stop().catch(() => undefined);
    await cli.remove();
  };
  return { psql, recovery, stop };
}

/** The next segment's name on the same timeline (16 MiB segments). */
function nextName(name: string): string {
  const timeline = name.slice(0, 8);
  const segno = Number.parseInt(name.slice(8, 16), 16) * 256 + Number.parseInt(name.slice(16, 24), 16) + 1;
  const hex = (value: number) => value.toString(16).toUpperCase().padStart(8, "0");
  return `${timeline}${hex(Math.floor(segno / 256))}${hex(segno % 256)}`;
}
