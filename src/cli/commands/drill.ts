import { openConfig } from "../../app/config.js";
import { runDrills } from "../../app/drill.js";
import { defineCommand } from "../command.js";

export const drillCommand = defineCommand({
  command: "drill [drills..]",
  describe: "restore into throwaway containers, check, time against the RTO, and write reports",
  builder: (yargs) =>
    yargs
      .positional("drills", { type: "string", array: true, default: [] as string[], describe: "drill names" })
      .option("all", { type: "boolean", default: false, describe: "every configured drill" })
      .option("job", { type: "string", array: true, describe: "only the targets of these jobs" })
      .example("$0 drill monthly", "run the monthly drill; reports in its reportDir")
      .example("$0 drill monthly --job task-db", "re-run one target"),
  run: async (context, args) => {
    const config = await openConfig(context.configDir);
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
