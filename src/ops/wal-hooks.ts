/**
 * What `wal push` and `wal ship` report besides their work, so the PITR RPO is watched like the
 * snapshots' RPO: the metrics textfile (`backdrill_wal_last_archived_timestamp_seconds`, the
 * policy's RPO beside it for the alert, and the spool's backlog), and for `wal ship` the webhook
 * check `<job>-wal` (success after rounds that shipped or found nothing to ship, fail after a
 * round with failures). Like a backup's pings, the monitoring side alerts on a fail ping and on a
 * missing success ping: archiving that stopped is noticed by the silence.
 *
 * `wal push` runs once per segment inside PostgreSQL's archiver, so it only writes the metrics
 * (a few milliseconds) and never pings: a slow or unreachable monitor must not stall archiving.
 * `wal ship` throttles both: metrics at most every METRICS_EVERY_MS, pings at most every
 * PING_EVERY_MS per outcome. Failures here are logged and never change the command's outcome.
 */
import type { Logger } from "../log/logger.js";
import { updateTextfile, walSamples, type WalArchiveMetrics } from "./metrics.js";
import { metricsFileFor } from "./run-hooks.js";
import { pingIfConfigured, type PingEvent } from "./webhook.js";

export const METRICS_EVERY_MS = 10_000;
export const PING_EVERY_MS = 60_000;

export interface WalHookContext {
  log: Logger;
  env: NodeJS.ProcessEnv;
  /** The policy's `metricsFile`. */
  metricsFile?: string | undefined;
}

/** The webhook check of a job's WAL archive: `{name}` in BACKDRILL_WEBHOOK_URL becomes this. */
export function walCheckName(job: string): string {
  return `${job}-wal`;
}

/** Writes the WAL samples when a metrics file is configured; logs (never throws) on failure. */
export async function walMetrics(metrics: WalArchiveMetrics, context: WalHookContext): Promise<void> {
  const file = metricsFileFor(context);
  if (file === undefined) return;
  try {
    await updateTextfile(file, walSamples(metrics));
  } catch (error) {
    context.log.error(
      { err: error, file },
      "could not update the metrics textfile (archiving is unaffected)",
    );
  }
}

/** Throttles `wal ship`'s reporting: one instance per running ship. */
export class ShipReporter {
  private metricsAt = 0;
  private readonly pingedAt = new Map<PingEvent, number>();
  private pending: Promise<void> | null = null;

  constructor(
    private readonly job: string,
    private readonly rpoSeconds: number,
    private readonly context: WalHookContext,
    private readonly clock: () => number = Date.now,
  ) {}

  /** After a round: `archivedAt` when it stored something, the spool's backlog, and failures. */
  async round(input: {
    archivedAt: Date | undefined;
    spool: WalArchiveMetrics["spool"];
    failures: string[];
  }): Promise<void> {
    const now = this.clock();
    if (input.archivedAt !== undefined || now - this.metricsAt >= METRICS_EVERY_MS) {
      this.metricsAt = now;
      await walMetrics(
        { job: this.job, archivedAt: input.archivedAt, rpoSeconds: this.rpoSeconds, spool: input.spool },
        this.context,
      );
    }
    const event: PingEvent = input.failures.length > 0 ? "fail" : "success";
    // A ping retries for up to ~30 s against a slow monitor: it runs beside the shipping, never
    // in its way, one at a time.
    if (this.pending !== null || now - (this.pingedAt.get(event) ?? -Infinity) < PING_EVERY_MS) return;
    this.pingedAt.set(event, now);
    const body =
      event === "fail"
        ? `wal ship of ${this.job}: ${input.failures.length} file(s) could not be shipped (kept in the spool):\n${input.failures.join("\n")}`
        : `wal ship of ${this.job}: spool ${input.spool === undefined ? "drained" : `holds ${input.spool.files} file(s)`}`;
    this.pending = pingIfConfigured(this.context.env, walCheckName(this.job), event, {
      log: this.context.log,
      body,
    }).finally(() => {
      this.pending = null;
    });
  }

  /** Waits for a ping in flight (before the process exits). */
  async settled(): Promise<void> {
    await this.pending;
  }
}
