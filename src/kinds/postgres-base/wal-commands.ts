/**
 * The library behind `backdrill wal push | fetch | ship`: PostgreSQL's archive_command and
 * restore_command. The command (src/cli/commands/wal.ts) opens the job's repository through the
 * app layer and hands it here; each function does one thing.
 *
 * Contracts (PostgreSQL documentation, "Continuous Archiving"):
 *   - push resolves only once the file is durably stored (exit 0); any failure throws (non-zero),
 *     and PostgreSQL keeps the segment and retries. The same content twice succeeds; different
 *     content under an archived name fails and never overwrites.
 *   - fetch returns false when the archive has no such file (exit 1: "not available", which
 *     PostgreSQL asks for routinely, e.g. the next timeline's history file). Any other failure
 *     throws, and the CLI turns it into an exit status above 125, which makes PostgreSQL stop
 *     recovery with an error instead of treating the file as missing and ending recovery early.
 */
import type { Policy } from "../../schema/policy.js";
import type { Repository } from "../../repository/repository.js";
import { readRecipients } from "../../secrets/resolve.js";
import type { Logger } from "../../log/logger.js";
import { ShipReporter, walMetrics, type WalHookContext } from "../../ops/wal-hooks.js";
import { parseDurationSeconds } from "../../schema/duration.js";
import type { Compression } from "../../streams/compression.js";
import { drainSpool, shipSpool, spoolBacklog, type DrainResult } from "./spool.js";
import { prefetchAfter, type PrefetchResult } from "./prefetch.js";
import { WalArchive, type PushResult } from "./wal-archive.js";

/** The job whose archive a command works on, with its repository open (the caller closes it). */
export interface WalJob {
  name: string;
  archiveRpo?: string | undefined;
  /** How `push` and `ship` compress new files (the job's `compression`). */
  compression: Compression;
  repository: Repository;
  policy: { file: string; policy: Policy };
}

/** archive_command: `backdrill wal push <job> %p`. */
export async function walPush(
  job: WalJob,
  file: string,
  signal: AbortSignal,
  options: { log: Logger; env: NodeJS.ProcessEnv },
): Promise<{ name: string; result: PushResult }> {
  const archive = new WalArchive(job.repository, job.name);
  const recipients = await readRecipients(job.policy);
  // Archiving may start before the first base backup: make sure the repository exists.
  await job.repository.init();
  const result = await archive.push(file, recipients, { signal, compression: job.compression });
  const name = file.split("/").at(-1) ?? file;
  await walMetrics(
    { job: job.name, archivedAt: new Date(), rpoSeconds: rpoOf(job) },
    hookContext(job, options),
  );
  return { name, result };
}

/** What `wal fetch --prefetch N --prefetch-dir D` asks for (prefetch.ts). */
export interface PrefetchRequest {
  count: number;
  dir: string;
  log: Logger;
}

/**
 * restore_command: `backdrill wal fetch <job> %f %p [--prefetch N --prefetch-dir D]`. False: not
 * in the archive. With a prefetch, the next segments follow into D once %f is in place.
 */
export async function walFetch(
  job: WalJob,
  name: string,
  dest: string,
  identities: readonly string[],
  signal: AbortSignal,
  prefetch?: PrefetchRequest,
): Promise<{ found: boolean; prefetch: PrefetchResult | null }> {
  const archive = new WalArchive(job.repository, job.name);
  const found = await archive.fetch(name, dest, [...identities], { signal });
  if (!found || prefetch === undefined || prefetch.count <= 0) return { found, prefetch: null };
  return {
    found,
    prefetch: await prefetchAfter(archive, name, dest, {
      count: prefetch.count,
      dir: prefetch.dir,
      identities,
      signal,
      log: prefetch.log,
    }),
  };
}

/** `backdrill wal ship <job> <spool>`: drains once (`once`) or until the signal aborts. */
export async function walShip(
  job: WalJob,
  options: {
    spool: string;
    once: boolean;
    intervalMs: number;
    log: Logger;
    signal: AbortSignal;
    env?: NodeJS.ProcessEnv;
  },
): Promise<{ once: DrainResult } | { shipped: number; failedRounds: number }> {
  const archive = new WalArchive(job.repository, job.name);
  const recipients = await readRecipients(job.policy);
  await job.repository.init();
  if (options.once) {
    const once = await drainSpool(archive, recipients, options.spool, {
      signal: options.signal,
      log: options.log,
      compression: job.compression,
    });
    await walMetrics(
      {
        job: job.name,
        archivedAt: once.stored.length > 0 ? new Date() : undefined,
        rpoSeconds: rpoOf(job),
        spool: spoolMetrics(await spoolBacklog(options.spool), Date.now()),
      },
      hookContext(job, options),
    );
    return { once };
  }
  const reporter = new ShipReporter(job.name, rpoOf(job), hookContext(job, options));
  try {
    return await shipSpool(archive, recipients, options.spool, {
      signal: options.signal,
      log: options.log,
      compression: job.compression,
      intervalMs: options.intervalMs,
      onRound: async (round) => {
        const backlog = await spoolBacklog(options.spool);
        const now = Date.now();
        await reporter.round({
          archivedAt: round !== null && round.stored.length > 0 ? new Date(now) : undefined,
          spool: spoolMetrics(backlog, now),
          failures:
            round === null
              ? ["the spool could not be read"]
              : round.failed.map((failure) => `${failure.name}: ${failure.error}`),
        });
      },
    });
  } finally {
    await reporter.settled();
  }
}

function spoolMetrics(backlog: Awaited<ReturnType<typeof spoolBacklog>>, now: number) {
  if (backlog === null) return undefined;
  const oldestAgeSeconds =
    backlog.oldest === null ? 0 : Math.max(0, Math.round((now - backlog.oldest.getTime()) / 1000));
  return { files: backlog.files, bytes: backlog.bytes, oldestAgeSeconds };
}

/** The PITR RPO the metrics carry for the alert: the job's `archiveRpo`, else the policy's `rpo`. */
function rpoOf(job: WalJob): number {
  return parseDurationSeconds(job.archiveRpo ?? job.policy.policy.rpo);
}

function hookContext(job: WalJob, options: { log: Logger; env?: NodeJS.ProcessEnv }): WalHookContext {
  return { log: options.log, env: options.env ?? process.env, metricsFile: job.policy.policy.metricsFile };
}
