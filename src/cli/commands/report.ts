import { openConfig } from "../../app/config.js";
import { writeHtmlReport } from "../../app/report.js";
import { defineCommand } from "../command.js";

export const reportCommand = defineCommand({
  builder: (yargs) =>
    yargs
      .option("html", {
        type: "string",
        demandOption: "give --html OUT, the HTML file to write",
        describe: "write the page to this file (0600; its directory must exist)",
      })
      .option("job", { type: "string", describe: "only this job" })
      .example("$0 report --html /var/lib/backdrill/report.html", "every job")
      .example("$0 report --html task-db.html --job task-db", "one job"),
  run: async (context, args) => {
    const config = await openConfig(context.configDir);
    const result = await writeHtmlReport(config, {
      out: args.html,
      ...(args.job === undefined ? {} : { job: args.job }),
    });
    for (const warning of result.warnings) context.log.warn({ warning }, "history incomplete");
    if (context.json) context.printJson(result);
    context.print(
      `report: ${result.file} (${(result.bytes / 1024).toFixed(0)} KiB, ${result.jobs} job${result.jobs === 1 ? "" : "s"}): ${result.ok ? "OK" : `ATTENTION, ${result.problems.join("; ")}`}`,
    );
    // Writing the page succeeded: exit 0 whatever it shows (`backdrill status` is the check).
    return 0;
  },
});
