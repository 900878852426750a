import { openConfig } from "../../app/config.js";
import { formatDuration } from "../../schema/duration.js";
import { status, type JobStatus } from "../../app/status.js";
import { defineCommand } from "../command.js";

export const statusCommand = defineCommand({
  builder: (yargs) =>
    yargs
      .example("$0 status", "a table for people")
      .example(
        "$0 status --json",
        "for monitoring: { jobs: [...], drills: [...] }; exit 1 when an RPO is breached or a drill failed",
      ),
  run: async (context) => {
    const config = await openConfig(context.configDir);
    const report = await status(config, { log: context.log });
    if (context.json) context.printJson(report);
    for (const job of report.jobs) {
      const age = job.ageSeconds === null ? "no snapshot" : `${formatDuration(job.ageSeconds)} old`;
      const trend =
        job.size?.changePercent === null || job.size === null
          ? ""
          : `  size ${(job.size.newestBytes / 1048576).toFixed(1)} MiB (${job.size.changePercent >= 0 ? "+" : ""}${job.size.changePercent}%)`;
      context.print(
        `${job.ok ? "ok      " : job.problems !== undefined ? "PROBLEM " : archiveFailing(job) ? "FAILING " : "BREACHED"}  ${job.job.padEnd(20)}  ${age} (RPO ${formatDuration(job.rpoSeconds)})${trend}` +
          (job.running === null ? "" : `  running: ${job.running}`) +
          (job.error === undefined ? "" : `  ${job.error}`),
      );
      for (const problem of job.problems ?? []) context.print(`    problem: ${problem}`);
      if (job.archive !== undefined) {
        const archive = job.archive;
        const newest =
          archive.newest === null || archive.ageSeconds === null
            ? "nothing archived"
            : `newest ${archive.newest.name}, ${formatDuration(archive.ageSeconds)} old`;
        context.print(
          `    ${archive.ok ? "ok      " : "BREACHED"}  ${archive.label}: PITR RPO ${newest} (RPO ${formatDuration(archive.rpoSeconds)})`,
        );
        if (archive.source !== undefined) {
          const state = archive.source.ok === null ? "unknown " : archive.source.ok ? "ok      " : "FAILING ";
          context.print(`    ${state}  ${archive.label} source: ${archive.source.detail}`);
        }
        if (archive.backlog !== null) {
          context.print(
            `    spool ${archive.backlog.dir}: ${archive.backlog.files} file(s), ${(archive.backlog.bytes / 1048576).toFixed(1)} MiB waiting` +
              (archive.backlog.oldest === null ? "" : `, oldest from ${archive.backlog.oldest}`),
          );
        }
      }
      for (const copy of job.copies ?? []) {
        const lag =
          copy.error !== undefined
            ? `cannot read: ${copy.error}`
            : copy.newest === null
              ? "no snapshot yet"
              : copy.behind === 0
                ? "up to date"
                : `${copy.behind} snapshot(s) behind, ${formatDuration(copy.lagSeconds ?? 0)}`;
        context.print(`    copy ${copy.copy} (${copy.location}): ${lag}`);
      }
    }
    for (const drill of report.drills) {
      if (drill.last === null) {
        context.print(`never     drill ${drill.drill}`);
        continue;
      }
      context.print(
        `${drill.last.ok ? "ok      " : "FAILED  "}  drill ${drill.drill}  at ${drill.last.at}  (${drill.last.report})`,
      );
      for (const target of drill.last.targets) {
        const margin =
          target.rtoMarginSeconds === null
            ? ""
            : target.rtoMarginSeconds >= 0
              ? `, ${formatDuration(target.rtoMarginSeconds)} under RTO`
              : `, ${formatDuration(-target.rtoMarginSeconds)} OVER RTO`;
        context.print(
          `    ${target.ok ? "ok    " : "FAILED"}  ${target.job}  ${target.totalSeconds.toFixed(1)} s${margin}`,
        );
      }
    }
    for (const warning of report.warnings) context.log.warn({ warning }, "status warning");
    return report.ok ? 0 : 1;
  },
});

/** Not ok only because the archive's producer reports archiving failing (RPO not breached yet). */
function archiveFailing(job: JobStatus): boolean {
  return (
    job.archive?.source?.ok === false &&
    job.archive.ok &&
    job.ageSeconds !== null &&
    job.ageSeconds <= job.rpoSeconds &&
    job.error === undefined
  );
}
