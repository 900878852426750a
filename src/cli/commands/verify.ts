import { openConfig } from "../../app/config.js";
import { verify } from "../../app/verify.js";
import { UsageError } from "../../errors.js";
import type { VerifyProblem } from "../../repository/verify.js";
import { defineCommand } from "../command.js";

export const verifyCommand = defineCommand({
  builder: (yargs) =>
    yargs
      .positional("job", { type: "string", describe: "only this job" })
      .option("read-data", {
        type: "boolean",
        default: false,
        describe: "also decrypt every artifact (needs --identity)",
      })
      .option("repair", {
        type: "boolean",
        default: false,
        describe:
          "put deleted manifests back from their copies (data/<job>/<id>/manifest.json), after checking each copy and its artifacts",
      })
      .option("identity", {
        type: "string",
        describe: "age identity file (default $BACKDRILL_IDENTITY_FILE)",
      })
      .example("$0 verify", "hashes of every committed snapshot")
      .example("$0 verify task-db --repair", "restore manifests that were deleted, from their copies")
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
      ...(args.repair ? { repair: true } : {}),
      log: context.log,
      signal: context.signal,
    });
    const problems = [
      ...reports.flatMap((report) => report.problems),
      ...reports.flatMap((report) => report.archives.flatMap((archive) => archive.problems)),
    ];
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
      for (const entry of report.repaired) {
        context.print(
          `repaired: ${entry.job}/${entry.snapshot}: manifest restored from its copy (the copy and every artifact verified)`,
        );
      }
      printCopyWarnings(context.print, report.warnings);
      printUnsignedWarnings(context.print, report.unsigned);
      for (const problem of report.problems) {
        context.print(
          `${problem.refused === true ? "REFUSED" : "DAMAGED"}: ${problem.job}/${problem.snapshot}${problem.artifact === undefined ? "" : ` artifact ${problem.artifact}`}: ${problem.problem}`,
        );
      }
      for (const archive of report.archives) {
        context.print(archive.summary);
        for (const problem of archive.problems)
          context.print(`DAMAGED: ${archive.job} ${archive.label}: ${problem}`);
      }
    }
    if (!context.json)
      context.print(problems.length === 0 ? "ok: no damage found" : `${problems.length} problem(s) found`);
    return problems.length === 0 ? 0 : 1;
  },
});

/**
 * Snapshots without a manifest copy, one line per job: a repository written before copies were
 * kept has one per snapshot, and a line each would bury the damage lines.
 */
function printCopyWarnings(print: (line: string) => void, warnings: VerifyProblem[]): void {
  const byJob = new Map<string, string[]>();
  for (const warning of warnings)
    byJob.set(warning.job, [...(byJob.get(warning.job) ?? []), warning.snapshot]);
  for (const [job, ids] of byJob) {
    const shown =
      ids.length <= 3 ? ids.join(", ") : `${ids.slice(0, 3).join(", ")} and ${ids.length - 3} more`;
    print(
      `warning: ${ids.length} snapshot(s) of ${job} have no manifest copy (${shown}): written before backdrill kept copies, or the run was killed between the two writes; not damage`,
    );
  }
}

/** Unsigned manifests under signing, one line per job (a repository older than its signing key has many). */
function printUnsignedWarnings(print: (line: string) => void, unsigned: VerifyProblem[]): void {
  const byJob = new Map<string, string[]>();
  for (const entry of unsigned) byJob.set(entry.job, [...(byJob.get(entry.job) ?? []), entry.snapshot]);
  for (const [job, ids] of byJob) {
    const shown =
      ids.length <= 3 ? ids.join(", ") : `${ids.slice(0, 3).join(", ")} and ${ids.length - 3} more`;
    print(
      `warning: ${ids.length} snapshot(s) of ${job} are not signed (${shown}): written before signing was set up, or forged; never drilled, pruned or restored (restore one with --allow-unsigned)`,
    );
  }
}
