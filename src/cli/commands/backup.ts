import { backupExitCode, runBackups } from "../../app/backup.js";
import { openConfig } from "../../app/config.js";
import { defineCommand } from "../command.js";

export const backupCommand = defineCommand({
  builder: (yargs) =>
    yargs
      .positional("jobs", { type: "string", array: true, describe: "job names", default: [] as string[] })
      .option("all", { type: "boolean", default: false, describe: "every configured job" })
      .example("$0 backup task-db", "one job")
      .example("$0 backup --all --json", "every job; [{ job, ok, snapshot, error? }]"),
  run: async (context, args) => {
    const config = await openConfig(context.configDir);
    const results = await runBackups(config, {
      jobs: (args.jobs ?? []).map(String),
      all: args.all,
      log: context.log,
      signal: context.signal,
    });
    if (context.json) context.printJson(results);
    for (const result of results) {
      context.print(
        result.ok
          ? `ok      ${result.job}  snapshot ${result.snapshot}  ${(result.bytes / 1048576).toFixed(1)} MiB  ${(result.durationMs / 1000).toFixed(1)} s`
          : `FAILED  ${result.job}  ${result.error ?? ""}`,
      );
    }
    return backupExitCode(results);
  },
});
