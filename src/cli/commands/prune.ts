import { openConfig } from "../../app/config.js";
import { prune, type PruneReport } from "../../app/prune.js";
import { defineCommand } from "../command.js";

export const pruneCommand = defineCommand({
  builder: (yargs) =>
    yargs
      .positional("job", { type: "string", describe: "only this job (default: every job)" })
      .option("dry-run", {
        type: "boolean",
        default: false,
        describe: "list each snapshot with keep/remove and the reason; change nothing",
      })
      .example("$0 prune --dry-run", "what retention would remove, and why")
      .example("$0 prune task-db", "apply task-db's policy"),
  run: async (context, args) => {
    const config = await openConfig(context.configDir);
    const report = await prune(config, {
      job: args.job,
      dryRun: args["dry-run"],
      log: context.log,
      signal: context.signal,
    });
    if (context.json) context.printJson(jsonOf(report));
    for (const job of report.jobs) {
      context.print(`${job.job}  (${job.retention}; ${job.repository}; lock: ${job.lock})`);
      if (job.error !== undefined) context.print(`  FAILED  ${job.error}`);
      for (const entry of job.snapshots) {
        const action = actionWord(entry, report.dryRun);
        context.print(
          `  ${action.padEnd(7)} ${entry.id}  ${entry.reasons.join("; ")}${entry.error ? `  (${entry.error})` : ""}`,
        );
      }
      for (const line of job.side?.summary ?? []) context.print(`  ${line}`);
      for (const entry of job.leftovers) {
        const action = actionWord(entry, report.dryRun);
        context.print(
          `  ${action.padEnd(7)} ${entry.id}  leftover (${entry.objects} objects): ${entry.reason}`,
        );
      }
      for (const damaged of job.damaged) context.print(`  keep    unreadable manifest ${damaged}`);
      for (const refused of job.refused ?? []) context.print(`  keep    refused manifest: ${refused}`);
    }
    for (const entry of report.lifecycle) {
      const items = entry.items.map((item) => `${item.setting} ${item.status}: ${item.detail}`).join("; ");
      context.print(`bucket ${entry.repository} (${entry.policy}): ${entry.error ?? items}`);
    }
    return report.ok ? 0 : 1;
  },
});

/** What happened (or, in a dry run, would happen) to one snapshot or leftover. */
function actionWord(entry: { action: "keep" | "remove"; removed?: boolean }, dryRun: boolean): string {
  if (entry.action === "keep") return "keep  ";
  if (dryRun) return "remove";
  return entry.removed === true ? "removed" : "FAILED";
}

/** `prune --json`: a kind's side report under its own key (`wal`, `directories`), as documented. */
function jsonOf(report: PruneReport): unknown {
  return {
    ...report,
    jobs: report.jobs.map(({ side, ...job }) =>
      side === undefined ? job : { ...job, [side.key]: side.report },
    ),
  };
}
