/**
 * A drill-and-backup history on disk for `backdrill report --html` tests: a config dir (one
 * policy with a local repository, two jobs, one drill), snapshots written through the repository's
 * own writer (real encrypted artifacts, growing in size), and drill reports written by the drill's
 * own report writer. Some drills fail; check details and errors carry hostile markup.
 *
 * Snapshots go through SnapshotWriter.addArtifact; the manifest is then written with
 * Repository.writeManifest (what commit() does) so that finishedAt can lie in the past: a backup
 * that took minutes a month ago, not one that finished now.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { generateIdentity } from "../../src/crypto/keys.js";
import type { DrillReport, TargetReport } from "../../src/report/types.js";
import { writeDrillReport } from "../../src/report/write.js";
import { MANIFEST_FORMAT } from "../../src/repository/manifest.js";
import { Repository } from "../../src/repository/repository.js";
import { LocalBackend } from "../../src/storage/local/local-backend.js";

/** Breaks out of a <script> or an attribute if the page fails to escape it. */
export const HOSTILE_DETAIL = `</script><img src=x onerror="globalThis.__pwned=1"><script>globalThis.__pwned=2</script>`;
export const HOSTILE_ERROR = `restore failed: <!-- '"&amp; </style><b>not bold</b>`;
export const DRILL = "nightly-restore";
export const RTO_SECONDS = 1800;
export const RPO = "26h";

export interface FixtureJob {
  job: string;
  kind: string;
  snapshots: Array<{ id: string; createdAt: string; finishedAt: string; bytes: number }>;
  /** Drill results as the report holds them, oldest first. */
  drills: Array<{ startedAt: string; ok: boolean; totalMs: number; failedChecks: string[]; error?: string }>;
}

export interface HistoryFixture {
  dir: string;
  configDir: string;
  repoDir: string;
  reportDir: string;
  jobs: FixtureJob[];
  /** Every failure row the page must show, per job, newest first: [when ISO, check, detail]. */
  failures: Record<string, Array<{ at: string; check: string; detail: string }>>;
  cleanup(): Promise<void>;
}

export interface HistoryFixtureOptions {
  /** Snapshots per job, in job order. */
  snapshots: [number, number];
  drills: number;
  now?: Date;
}

const DAY = 86_400_000;

export async function createHistoryFixture(options: HistoryFixtureOptions): Promise<HistoryFixture> {
  const now = options.now ?? new Date();
  const dir = await mkdtemp(join(tmpdir(), "backdrill-history-"));
  const configDir = join(dir, "config");
  const repoDir = join(dir, "repo");
  const reportDir = join(dir, "reports");
  const keys = await generateIdentity();
  for (const sub of ["policies", "jobs", "drills"]) await mkdir(join(configDir, sub), { recursive: true });
  await writeFile(join(dir, "identity.txt"), `${keys.identity}\n`, { mode: 0o600 });
  await writeFile(
    join(configDir, "policies", "nightly.yaml"),
    [
      "name: nightly",
      `repository: { type: local, path: ${repoDir} }`,
      `encryption: { recipients: [${keys.recipient}] }`,
      "retention: { keepLast: 400 }",
      'schedule: "0 2 * * *"',
      `rpo: ${RPO}`,
    ].join("\n"),
  );
  await writeFile(
    join(configDir, "jobs", "task-db.yaml"),
    [
      "name: task-db",
      "kind: postgres-dump",
      "policy: nightly",
      "connection: { host: 127.0.0.1, user: backup, passwordEnv: HISTORY_FIXTURE_PW }",
      "tools: { binDir: /usr/lib/postgresql/17/bin }",
    ].join("\n"),
  );
  await writeFile(
    join(configDir, "jobs", "mq.yaml"),
    [
      "name: mq",
      "kind: rabbitmq",
      "policy: nightly",
      "url: http://127.0.0.1:1",
      "user: backup",
      "passwordEnv: HISTORY_FIXTURE_MQ_PW",
    ].join("\n"),
  );
  await writeFile(
    join(configDir, "drills", `${DRILL}.yaml`),
    [
      `name: ${DRILL}`,
      `identityFile: ${join(dir, "identity.txt")}`,
      `reportDir: ${reportDir}`,
      "targets:",
      `  - { job: task-db, rto: ${RTO_SECONDS}s }`,
      `  - { job: mq, rto: ${RTO_SECONDS}s }`,
    ].join("\n"),
  );

  const repository = new Repository(new LocalBackend({ path: repoDir }));
  await repository.init();
  const jobs: FixtureJob[] = [
    { job: "task-db", kind: "postgres-dump", snapshots: [], drills: [] },
    { job: "mq", kind: "rabbitmq", snapshots: [], drills: [] },
  ];
  for (const [index, job] of jobs.entries()) {
    const count = options.snapshots[index] ?? 0;
    // mq's newest snapshot is 3 days old: past its RPO, so the page must say so.
    const newestAgeDays = job.job === "mq" ? 3 : 0.25;
    for (let i = 0; i < count; i += 1) {
      const createdAt = new Date(now.getTime() - (count - 1 - i + newestAgeDays) * DAY);
      const finishedAt = new Date(createdAt.getTime() + (240 + 60 * Math.sin(i / 2)) * 1000);
      const writer = repository.createSnapshot({
        job: job.job,
        kind: job.kind,
        recipients: [keys.recipient],
        at: createdAt,
      });
      const body = Buffer.alloc(4096 + i * 512 + Math.round(2048 * Math.sin(i / 4) ** 2), 0x61 + (i % 26));
      const artifact = await writer.addArtifact("data.bin", Readable.from([body]));
      await repository.writeManifest({
        format: MANIFEST_FORMAT,
        id: writer.id,
        job: job.job,
        kind: job.kind,
        createdAt: createdAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        host: hostname(),
        backdrillVersion: "0.0.0-fixture",
        meta: {},
        artifacts: [artifact],
      });
      job.snapshots.push({
        id: writer.id,
        createdAt: createdAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        bytes: artifact.size,
      });
    }
  }

  const failures: HistoryFixture["failures"] = { "task-db": [], mq: [] };
  for (let i = 0; i < options.drills; i += 1) {
    const startedAt = new Date(now.getTime() - (options.drills - i) * 3 * DAY + 4 * 3600_000);
    const targets: TargetReport[] = jobs.map((job) => {
      // task-db: every 7th drill runs over its RTO; mq: one restore error. The rest pass.
      const overRto = job.job === "task-db" && i % 7 === 3;
      const restoreError = job.job === "mq" && i === 10 ? HOSTILE_ERROR : undefined;
      const totalMs = Math.round((600 + 300 * Math.sin(i / 3) + (overRto ? RTO_SECONDS : 0)) * 1000);
      const checks = [
        { name: "row counts", ok: true, detail: `${40 + (i % 3)} tables match the backup's facts` },
        {
          name: "rto",
          ok: !overRto,
          detail: overRto
            ? `over the RTO: ${HOSTILE_DETAIL}`
            : `${(totalMs / 1000).toFixed(1)} s of ${RTO_SECONDS} s`,
        },
      ];
      const snapshot = job.snapshots.at(-1)?.id ?? null;
      const ok = !overRto && restoreError === undefined;
      job.drills.push({
        startedAt: startedAt.toISOString(),
        ok,
        totalMs,
        failedChecks: checks.filter((check) => !check.ok).map((check) => check.name),
        ...(restoreError === undefined ? {} : { error: restoreError }),
      });
      // The page lists a failed drill's restore error first, then its failed checks; drills newest first.
      failures[job.job]?.unshift(
        ...(restoreError === undefined
          ? []
          : [{ at: startedAt.toISOString(), check: "restore", detail: restoreError }]),
        ...checks
          .filter((c) => !c.ok)
          .map((c) => ({ at: startedAt.toISOString(), check: c.name, detail: c.detail })),
      );
      return {
        job: job.job,
        kind: job.kind,
        snapshot,
        ok,
        ...(restoreError === undefined ? {} : { error: restoreError }),
        backupAgeSeconds: 3600,
        rtoSeconds: RTO_SECONDS,
        timings: { fetchMs: 1000, setupMs: 2000, restoreMs: totalMs - 4000, checksMs: 1000, totalMs },
        checks: restoreError === undefined ? checks : [],
      };
    });
    const report: DrillReport = {
      drill: DRILL,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date(startedAt.getTime() + 900_000).toISOString(),
      ok: targets.every((target) => target.ok),
      host: hostname(),
      backdrillVersion: "0.0.0-fixture",
      targets,
    };
    await writeDrillReport(reportDir, report);
  }
  return {
    dir,
    configDir,
    repoDir,
    reportDir,
    jobs,
    failures,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
