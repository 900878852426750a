import { resolve } from "node:path";
import { openConfig } from "../../app/config.js";
import { METRICS_FILE_ENV } from "../../ops/run-hooks.js";
import { runSchedule } from "../../app/scheduler.js";
import { defineCommand } from "../command.js";

export const scheduleCommand = defineCommand({
  builder: (yargs) =>
    yargs
      .option("prune", {
        type: "boolean",
        default: true,
        describe: "apply the job's retention after each successful backup (--no-prune)",
      })
      .option("metrics-file", {
        type: "string",
        describe: `Prometheus textfile to update (env ${METRICS_FILE_ENV}; overrides the config)`,
      })
      .example("$0 schedule", "run until SIGTERM/Ctrl-C")
      .example("$0 schedule --metrics-file /var/lib/node_exporter/textfile/backdrill.prom", "with metrics"),
  run: async (context, args) => {
    const config = await openConfig(context.configDir);
    const env =
      args["metrics-file"] === undefined
        ? process.env
        : { ...process.env, [METRICS_FILE_ENV]: resolve(args["metrics-file"]) };
    await runSchedule(config, {
      log: context.log,
      signal: context.signal,
      env,
      pruneAfterBackup: args.prune,
    });
    return 0;
  },
});
