import { jobByName, openConfig } from "../../app/config.js";
import type { Config } from "../../config/types.js";
import { UsageError } from "../../errors.js";
import { runDrills } from "../../app/drill.js";
import { defineCommand } from "../command.js";

export const drillCommand = defineCommand({
  builder: (yargs) =>
    yargs
      .positional("drills", { type: "string", array: true, default: [] as string[], describe: "drill names" })
      .option("all", { type: "boolean", default: false, describe: "every configured drill" })
      .option("job", { type: "string", array: true, describe: "only the targets of these jobs" })
      .example("$0 drill monthly", "run the monthly drill; reports in its reportDir")
      .example("$0 drill monthly --job task-db", "re-run one target"),
  run: async (context, args) => {
    const config = await openConfig(context.configDir);
    checkOnlyJobs(config, (args.drills ?? []).map(String), args.all, (args.job ?? []).map(String));
    const runs = await runDrills(config, {
      drills: (args.drills ?? []).map(String),
      all: args.all,
      log: context.log,
      signal: context.signal,
      ...(args.job === undefined ? {} : { onlyJobs: args.job.map(String) }),
    });
    if (context.json) context.printJson(runs.map((run) => ({ ...run.report, files: run.files })));
    for (const { report, files } of runs) {
      context.print(`drill ${report.drill}: ${report.ok ? "PASSED" : "FAILED"}`);
      for (const target of report.targets) {
        const failed = target.checks.filter((check) => !check.ok).map((check) => check.name);
        context.print(
          `  ${target.ok ? "ok    " : "FAILED"}  ${target.job.padEnd(20)} ${target.kind.padEnd(16)} snapshot ${target.snapshot ?? "none"}  ${(target.timings.totalMs / 1000).toFixed(1)} s${target.rtoSeconds === null ? "" : ` / RTO ${target.rtoSeconds} s`}` +
            (target.error !== undefined
              ? `  error: ${target.error}`
              : failed.length > 0
                ? `  failed checks: ${failed.join(", ")}`
                : ""),
        );
      }
      context.print(`  report: ${files.markdown}`);
      context.print(`          ${files.json}`);
      context.print(`          ${files.junit}`);
    }
    return runs.every((run) => run.report.ok) ? 0 : 1;
  },
});

/**
 * `--job X` must name a configured job that is a target of a selected drill; otherwise the drill
 * would run no target at all and report that as a failure, hiding the typo.
 */
function checkOnlyJobs(config: Config, names: string[], all: boolean, jobs: string[]): void {
  const drills = all ? [...config.drills.values()] : names.flatMap((name) => config.drills.get(name) ?? []);
  // Unknown drill names are reported by runDrills, with their own suggestion.
  if (drills.length === 0 || drills.length !== (all ? config.drills.size : names.length)) return;
  const targets = new Set(drills.flatMap((loaded) => loaded.drill.targets.map((target) => target.job)));
  for (const job of jobs) {
    jobByName(config, job);
    if (!targets.has(job)) {
      throw new UsageError(
        `--job ${job}: not a target of drill ${drills.map((d) => d.drill.name).join(", ")} (targets: ${[...targets].join(", ")})`,
      );
    }
  }
}
