import { UsageError } from "../../errors.js";
import { DEFAULT_CHECK_TIMEOUT_MS, doctorConfigDir, formatReport } from "../../app/doctor.js";
import { defineCommand } from "../command.js";

export const doctorCommand = defineCommand({
  builder: (yargs) =>
    yargs
      .positional("job", { type: "string", array: true, describe: "only these jobs (default: all)" })
      .option("scope", {
        choices: ["all", "backup", "drill"] as const,
        default: "all" as const,
        describe: "backup: what a backup host needs (no drills); drill: what a drill host needs",
      })
      .option("timeout", {
        type: "number",
        default: DEFAULT_CHECK_TIMEOUT_MS / 1000,
        describe: "seconds each check may take",
      })
      .option("switch-wal", {
        type: "boolean",
        default: false,
        describe:
          "postgres-base jobs: force pg_switch_wal() on the server (writes WAL) and wait until the segment is in the repository",
      })
      .example("$0 doctor task-wal --switch-wal", "prove that WAL reaches the repository now")
      .example("$0 doctor", "check everything the configured jobs and drills need")
      .example("$0 doctor task-wal", "one job: server, tools, archiving, WAL continuity, its repository")
      .example("$0 doctor --scope backup --json", "on the backup host, for monitoring"),
  run: async (context, args) => {
    if (!Number.isFinite(args.timeout) || args.timeout <= 0) {
      throw new UsageError(`--timeout must be a positive number of seconds, got ${String(args.timeout)}`);
    }
    const result = await doctorConfigDir(context.configDir, {
      jobs: args.job ?? [],
      scope: args.scope,
      timeoutMs: Math.round(args.timeout * 1000),
      switchWal: args["switch-wal"],
      log: context.log,
      signal: context.signal,
    });
    if (context.json) {
      const { configLoaded: _configLoaded, ...report } = result;
      context.printJson(report);
    }
    for (const line of formatReport(result)) context.print(line);
    // A config that does not load is bad config (exit 2), as for every other command.
    if (!result.configLoaded) return 2;
    return result.ok ? 0 : 1;
  },
});
