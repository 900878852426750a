/**
 * `backdrill restore <job> --to <target>`: the generic flags here, each kind's own flags from the
 * registry (`Kind.restore.flags`). A kind's flag given for a job of another kind is a usage
 * error naming the kinds that take it.
 */
import { openConfig, jobByName } from "../../app/config.js";
import { restore } from "../../app/restore.js";
import { UsageError } from "../../errors.js";
import type { RestoreFlag, RestoreFlagValues } from "../../kinds/contract.js";
import { ALL_KINDS } from "../../kinds/registry.js";
import { isSnapshotId } from "../../repository/snapshot-id.js";
import { listWords } from "../../schema/show.js";
import { defineCommand } from "../command.js";

/** Every kind's restore flags, merged by name: `{ flag, kinds }`. */
const KIND_FLAGS: ReadonlyArray<{ flag: RestoreFlag; kinds: string[] }> = (() => {
  const byName = new Map<string, { flag: RestoreFlag; kinds: string[] }>();
  for (const kind of ALL_KINDS) {
    for (const flag of kind.restore.flags) {
      const entry = byName.get(flag.name);
      if (entry === undefined) byName.set(flag.name, { flag, kinds: [kind.kind] });
      else entry.kinds.push(kind.kind);
    }
  }
  return [...byName.values()];
})();

/** The kind flags given on the command line (yargs also sets camelCase twins: ignored). */
function kindFlagValues(args: Record<string, unknown>): Record<string, string | boolean> {
  const values: Record<string, string | boolean> = {};
  for (const { flag } of KIND_FLAGS) {
    const value = args[flag.name];
    if (typeof value === "string" || typeof value === "boolean") values[flag.name] = value;
  }
  return values;
}

export const restoreCommand = defineCommand({
  builder: (yargs) =>
    KIND_FLAGS.reduce(
      (parser, { flag, kinds }) =>
        parser.option(flag.name, { type: flag.type, describe: `${kinds.join(", ")}: ${flag.describe}` }),
      yargs
        .positional("job", { type: "string", demandOption: true })
        .option("to", {
          type: "string",
          demandOption: true,
          describe: `target, by the job's kind: ${ALL_KINDS.map((kind) => `${kind.kind}: ${kind.restore.to}`).join("; ")}`,
        })
        .option("snapshot", {
          type: "string",
          default: "latest",
          describe: "snapshot id (see `backdrill snapshots`)",
        })
        .option("identity", {
          type: "string",
          describe: "age identity file (default $BACKDRILL_IDENTITY_FILE)",
        })
        .option("dry-run", { type: "boolean", default: false, describe: "print the plan, touch nothing" })
        .option("force", { type: "boolean", default: false, describe: "restore over a non-empty target" })
        .option("allow-unsigned", {
          type: "boolean",
          default: false,
          describe:
            "accept a snapshot without a signature although the policy configures signing (one written before signing was set up); a bad signature is still refused",
        })
        .example("$0 restore task-db --to postgres://postgres@db2:5432 --dry-run", "see what would happen")
        .example(
          "$0 restore task-db --to postgres://postgres@db2:5432 --identity /secure/id.txt",
          "restore the newest snapshot",
        ),
    ),
  run: async (context, args) => {
    if (args.to === "") throw new UsageError("--to: give the restore target");
    const config = await openConfig(context.configDir);
    const job = jobByName(config, args.job).job;
    const flags = kindFlagValues(args);
    checkKindFlags(job, flags);
    checkSnapshotArg(job.name, args.snapshot);
    const outcome = await restore(config, {
      job: args.job,
      to: args.to,
      snapshot: args.snapshot,
      identityFile: args.identity,
      dryRun: args["dry-run"],
      force: args.force,
      allowUnsigned: args["allow-unsigned"],
      flags,
      log: context.log,
      signal: context.signal,
    });
    if (context.json) {
      context.printJson(outcome);
      return 0;
    }
    context.print(
      `${outcome.dryRun ? "plan (dry run, nothing touched)" : "restored"}: ${outcome.job} snapshot ${outcome.snapshot} (${outcome.createdAt})`,
    );
    outcome.plan.steps.forEach((step, index) => context.print(`  ${index + 1}. ${step}`));
    for (const warning of outcome.plan.warnings) context.print(`  warning: ${warning}`);
    return 0;
  },
});

/** A kind's flag given for a job of another kind is a mistake, named with the kinds that take it. */
function checkKindFlags(job: { name: string; kind: string }, flags: RestoreFlagValues): void {
  for (const { flag, kinds } of KIND_FLAGS) {
    if (flags[flag.name] === undefined || kinds.includes(job.kind)) continue;
    throw new UsageError(
      `--${flag.name} is for ${listWords(kinds)} jobs; job ${job.name} is a ${job.kind} job: remove --${flag.name}` +
        (flag.name === "at" ? " and pick a snapshot with --snapshot ID (see backdrill snapshots)" : ""),
    );
  }
}

function checkSnapshotArg(job: string, snapshot: string): void {
  if (snapshot !== "latest" && !isSnapshotId(snapshot)) {
    throw new UsageError(
      `--snapshot ${JSON.stringify(snapshot)} is not a snapshot id (like 20261128T021500Z-3f9a1c) or latest; list them with backdrill snapshots ${job}`,
    );
  }
}
