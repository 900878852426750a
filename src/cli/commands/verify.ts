import { openConfig } from "../../app/config.js";
import { verify } from "../../app/verify.js";
import { UsageError } from "../../errors.js";
import { defineCommand } from "../command.js";

export const verifyCommand = defineCommand({
  command: "verify [job]",
  describe: "repository integrity: every artifact present with its recorded size and sha256",
  builder: (yargs) =>
    yargs
      .positional("job", { type: "string", describe: "only this job" })
      .option("read-data", {
        type: "boolean",
        default: false,
        describe: "also decrypt every artifact (needs --identity)",
      })
      .option("identity", {
        type: "string",
        describe: "age identity file (default $BACKDRILL_IDENTITY_FILE)",
      })
      .example("$0 verify", "hashes of every committed snapshot")
      .example(
        "$0 verify task-db --read-data --identity /secure/id.txt",
        "decrypt and authenticate everything",
      ),
  run: async (context, args) => {
    const identityFile = args.identity ?? process.env.BACKDRILL_IDENTITY_FILE;
    if (args["read-data"] && (identityFile === undefined || identityFile === "")) {
      throw new UsageError("--read-data needs --identity FILE (or BACKDRILL_IDENTITY_FILE) to decrypt");
    }
    if (!args["read-data"] && args.identity !== undefined) {
      throw new UsageError("--identity is only used with --read-data");
    }
    const config = await openConfig(context.configDir);
    const reports = await verify(config, {
      ...(args.job === undefined ? {} : { job: args.job }),
      ...(args["read-data"] && identityFile !== undefined ? { identityFile } : {}),
      log: context.log,
      signal: context.signal,
    });
    const problems = reports.flatMap((report) => report.problems);
    if (context.json) context.printJson(reports);
    for (const report of reports) {
      context.print(
        `${report.repository}: ${report.snapshots} snapshots, ${report.artifacts} artifacts, ${(report.bytes / 1048576).toFixed(1)} MiB checked${report.readData ? " and decrypted" : ""}`,
      );
      for (const left of report.leftovers) {
        context.print(
          `warning: leftover of an interrupted run: ${left.job}/${left.id} (${left.keys} objects; prune removes it)`,
        );
      }
      for (const problem of report.problems) {
        context.print(
          `DAMAGED: ${problem.job}/${problem.snapshot}${problem.artifact === undefined ? "" : ` artifact ${problem.artifact}`}: ${problem.problem}`,
        );
      }
    }
    if (!context.json)
      context.print(problems.length === 0 ? "ok: no damage found" : `${problems.length} problem(s) found`);
    return problems.length === 0 ? 0 : 1;
  },
});
