/**
 * What happens around every backup and drill run, whoever started it (`backdrill backup` from
 * cron, `backdrill drill`, or the scheduler): the webhook pings and the metrics textfile. Both are
 * reporting, not work: a failure here is logged and never changes the run's outcome.
 *
 * The metrics file is `BACKDRILL_METRICS_FILE` when set (a flag of `schedule` sets it too), else
 * the policy's / drill's `metricsFile`; with neither, no metrics are written.
 */
import type { BackupResult } from "../runner/backup.js";
import type { DrillReport } from "../report/types.js";
import type { Logger } from "../log/logger.js";
import { drillSamples, jobSamples, updateTextfile } from "./metrics.js";
import { pingIfConfigured } from "./webhook.js";

export const METRICS_FILE_ENV = "BACKDRILL_METRICS_FILE";

export interface HookContext {
  log: Logger;
  env: NodeJS.ProcessEnv;
  /** The policy's or drill's `metricsFile`. */
  metricsFile?: string | undefined;
}

export function metricsFileFor(context: HookContext): string | undefined {
  const fromEnv = context.env[METRICS_FILE_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== "") return fromEnv;
  return context.metricsFile;
}

/** Before a backup or drill: the healthchecks "start" ping (lets the monitor measure run time). */
export async function runStarting(name: string, context: HookContext): Promise<void> {
  await pingIfConfigured(context.env, name, "start", { log: context.log });
}

export async function backupFinished(result: BackupResult, context: HookContext): Promise<void> {
  const file = metricsFileFor(context);
  if (file !== undefined) {
    await safely(context.log, file, () =>
      updateTextfile(
        file,
        jobSamples({
          job: result.job,
          ok: result.ok,
          finishedAt: new Date(),
          durationSeconds: result.durationMs / 1000,
          bytes: result.bytes,
        }),
      ),
    );
  }
  const body = result.ok
    ? `backup of ${result.job} committed snapshot ${result.snapshot ?? "?"} (${result.bytes} bytes, ${(result.durationMs / 1000).toFixed(1)} s)`
    : `backup of ${result.job} FAILED: ${result.error ?? "unknown error"}`;
  await pingIfConfigured(context.env, result.job, result.ok ? "success" : "fail", { log: context.log, body });
}

export async function drillFinished(report: DrillReport, context: HookContext): Promise<void> {
  const file = metricsFileFor(context);
  if (file !== undefined) {
    await safely(context.log, file, () =>
      updateTextfile(
        file,
        drillSamples({
          drill: report.drill,
          ok: report.ok,
          finishedAt: new Date(report.finishedAt),
          targets: report.targets.map((target) => ({
            job: target.job,
            ok: target.ok,
            restoreSeconds: target.timings.restoreMs / 1000,
            totalSeconds: target.timings.totalMs / 1000,
            rtoSeconds: target.rtoSeconds,
            backupAgeSeconds: target.backupAgeSeconds,
          })),
        }),
      ),
    );
  }
  const lines = report.targets.map(
    (target) =>
      `${target.ok ? "ok    " : "FAILED"} ${target.job} ${(target.timings.totalMs / 1000).toFixed(1)} s` +
      (target.rtoSeconds === null ? "" : ` (RTO ${target.rtoSeconds} s)`) +
      (target.error === undefined ? "" : `: ${target.error}`),
  );
  const body = `drill ${report.drill} ${report.ok ? "passed" : "FAILED"}\n${lines.join("\n")}`;
  await pingIfConfigured(context.env, report.drill, report.ok ? "success" : "fail", {
    log: context.log,
    body,
  });
}

async function safely(log: Logger, file: string, write: () => Promise<void>): Promise<void> {
  try {
    await write();
  } catch (error) {
    log.error({ err: error, file }, "could not update the metrics textfile (the run itself is unaffected)");
  }
}
