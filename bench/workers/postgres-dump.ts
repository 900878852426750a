/**
 * Bench worker for the postgres-dump engine, in its own process so the peak RSS it reports is
 * ours alone (pg_dump / pg_restore run in their own containers, as configured by `tools.image`):
 *
 *   node .../postgres-dump.js backup JSON   (runJobBackup into a local repository)
 *   node .../postgres-dump.js drill JSON    (runDrillTarget of the latest snapshot)
 *
 * JSON: { port, database, image, repoDir, recipient | identityFile }; the source's password is
 * in the environment variable BENCH_PG_PASSWORD. Prints one JSON line: { seconds, maxRssKiB, ... }.
 * For `drill`, seconds is the drill's restoreMs (fetch + decrypt + globals + pg_restore, without
 * the sandbox's start-up and the checks, which are reported apart).
 */
import { peakRssKiB } from "./peak-rss.js";
import { runJobBackup } from "../../src/runner/backup.js";
import type { DrillTarget } from "../../src/config/drill-schema.js";
import type { PostgresDumpJob } from "../../src/kinds/postgres-dump/job-schema.js";
import { readIdentityFile } from "../../src/crypto/keys.js";
import { runDrillTarget } from "../../src/runner/drill-target.js";
import { postgresDumpKind } from "../../src/kinds/postgres-dump/index.js";
import { createLogger } from "../../src/log/logger.js";
import { Repository } from "../../src/repository/repository.js";
import { LocalBackend } from "../../src/storage/local/local-backend.js";

const log = createLogger({ level: "error", pretty: false });
const BENCH_JOB = "bench-db";
const PASSWORD_ENV = "BENCH_PG_PASSWORD";

interface Options {
  port: number;
  database: string;
  image: string;
  repoDir: string;
  recipient?: string;
  identityFile?: string;
}

/** The job as an operator would configure it (jobs/task-db.yaml), on the bench source. */
function job(options: Options): PostgresDumpJob {
  return {
    name: BENCH_JOB,
    kind: "postgres-dump",
    policy: "bench",
    connection: { host: "127.0.0.1", port: options.port, user: "test", passwordEnv: PASSWORD_ENV },
    databases: [options.database],
    format: "custom",
    globals: true,
    tools: { image: options.image },
    facts: { checksumMaxRows: 100_000 },
  } as PostgresDumpJob;
}

function context() {
  return {
    log,
    signal: new AbortController().signal,
    env: { [PASSWORD_ENV]: process.env[PASSWORD_ENV] ?? "" },
    configDir: process.cwd(),
  };
}

async function backup(options: Options): Promise<Record<string, unknown>> {
  if (options.recipient === undefined) throw new Error("backup needs a recipient");
  const repository = new Repository(new LocalBackend({ path: options.repoDir }));
  try {
    const { result } = await runJobBackup(
      { job: job(options), kind: postgresDumpKind, repository, recipients: [options.recipient] },
      context(),
    );
    if (!result.ok) throw new Error(`backup failed: ${result.error ?? "unknown error"}`);
    return { bytes: result.bytes, snapshot: result.snapshot };
  } finally {
    await repository.backend.close();
  }
}

async function drill(options: Options): Promise<{ seconds: number; extra: Record<string, unknown> }> {
  if (options.identityFile === undefined) throw new Error("drill needs an identity file");
  const repository = new Repository(new LocalBackend({ path: options.repoDir }));
  try {
    const target = {
      job: BENCH_JOB,
      snapshot: "latest",
      image: options.image,
      // amcheck is left out to keep the bench short; it runs after the restore and is not timed in it.
      checks: { rowCounts: true, checksums: true, amcheck: false, extensions: ["vector"] },
    } as DrillTarget;
    const report = await runDrillTarget(
      {
        job: job(options),
        target,
        kind: postgresDumpKind,
        repository,
        snapshot: "latest",
        identities: await readIdentityFile(options.identityFile),
        rtoSeconds: null,
      },
      context(),
    );
    if (!report.ok) {
      const failed = report.checks.filter((check) => !check.ok).map((c) => `${c.name}: ${c.detail ?? ""}`);
      throw new Error(`drill failed: ${report.error ?? failed.join("; ")}`);
    }
    return {
      seconds: report.timings.restoreMs / 1000,
      extra: {
        totalMs: report.timings.totalMs,
        fetchMs: report.timings.fetchMs,
        checksMs: report.timings.checksMs,
        sandboxStartMs: report.timings.setupMs,
        rows: report.details?.rows,
      },
    };
  } finally {
    await repository.backend.close();
  }
}

async function main(): Promise<void> {
  const [mode, json] = process.argv.slice(2);
  if ((mode !== "backup" && mode !== "drill") || json === undefined) {
    throw new Error("usage: postgres-dump.js backup|drill JSON");
  }
  const options = JSON.parse(json) as Options;
  const start = process.hrtime.bigint();
  let seconds: number;
  let extra: Record<string, unknown>;
  if (mode === "backup") {
    extra = await backup(options);
    seconds = Number(process.hrtime.bigint() - start) / 1e9;
  } else {
    ({ seconds, extra } = await drill(options));
  }
  const report = { ...extra, seconds, maxRssKiB: peakRssKiB() };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
