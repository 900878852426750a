import { openConfig } from "../../app/config.js";
import { copyToCopies } from "../../app/copy.js";
import { defineCommand } from "../command.js";

export const copyCommand = defineCommand({
  builder: (yargs) =>
    yargs
      .positional("job", { type: "string", demandOption: true, describe: "the job to copy" })
      .option("to", { type: "number", describe: "only copy N (the Nth entry of the policy's copies:)" })
      .example("$0 copy task-db", "into every copy of task-db's policy")
      .example("$0 copy task-db --to 2 --json", "only the second copy; { job, source, copies: [...] }"),
  run: async (context, args) => {
    const config = await openConfig(context.configDir);
    const report = await copyToCopies(config, {
      job: args.job,
      ...(args.to === undefined ? {} : { to: args.to }),
      log: context.log,
      signal: context.signal,
    });
    if (context.json) context.printJson(report);
    for (const copy of report.copies) {
      context.print(
        `copy ${copy.copy} (${copy.location}): ${copy.snapshots.copied.length} snapshot(s) copied` +
          `${copy.snapshots.resumed.length > 0 ? ` (${copy.snapshots.resumed.length} resumed)` : ""}, ` +
          `${copy.snapshots.present.length} already there; ${copy.artifacts.copied} artifact(s), ` +
          `${copy.artifacts.bytes} bytes, ${copy.artifacts.kept} kept; WAL ${copy.wal.copied} copied, ` +
          `${copy.wal.kept} kept; history ${copy.history.copied} copied, ${copy.history.kept} kept`,
      );
      for (const line of copy.unsigned) context.print(`  unsigned ${line}`);
      for (const line of copy.refused) context.print(`  refused  ${line}`);
      for (const line of copy.problems) context.print(`  PROBLEM  ${line}`);
    }
    return report.ok ? 0 : 1;
  },
});
