import { jobByName, openConfig } from "../../app/config.js";
import { parseDestination } from "../../kinds/files/job-schema.js";
import { restore } from "../../app/restore.js";
import { UsageError } from "../../errors.js";
import { defineCommand } from "../command.js";

export const restoreCommand = defineCommand({
  command: "restore <job>",
  describe: "disaster recovery: restore a snapshot of <job> to --to",
  builder: (yargs) =>
    yargs
      .positional("job", { type: "string", demandOption: true })
      .option("to", {
        type: "string",
        demandOption: true,
        describe:
          "target: postgres://… (dump), a directory or user@host:/dir (files), http://host:15672 (rabbitmq), …",
      })
      .option("snapshot", {
        type: "string",
        default: "latest",
        describe: "snapshot id (see `backdrill snapshots`)",
      })
      .option("at", { type: "string", describe: "point in time (postgres-base): ISO time" })
      .option("database", { type: "string", describe: "postgres-dump: only this database" })
      .option("identity", {
        type: "string",
        describe: "age identity file (default $BACKDRILL_IDENTITY_FILE)",
      })
      .option("escrow-identity", {
        type: "string",
        describe:
          "symfony-secrets: an escrow holder's age identity file (default $BACKDRILL_ESCROW_IDENTITY_FILE)",
      })
      .option("ssh-key", {
        type: "string",
        describe: "files: private key for a user@host:/path target (default $BACKDRILL_RESTORE_SSH_KEY)",
      })
      .option("known-hosts", {
        type: "string",
        describe: "files: known_hosts file for the target host (default $BACKDRILL_RESTORE_KNOWN_HOSTS)",
      })
      // A string, so a typo is reported as typed ("22x"), not as yargs' NaN.
      .option("ssh-port", { type: "string", describe: "files: SSH port of the target host" })
      .option("endpoint", {
        type: "string",
        describe:
          "s3-bucket: S3 endpoint of the target (default $BACKDRILL_RESTORE_S3_ENDPOINT, else the job's)",
      })
      .option("region", { type: "string", describe: "s3-bucket: region of the target" })
      .option("strip-classic-mirroring", {
        type: "boolean",
        describe:
          "rabbitmq: drop ha-* policy keys that RabbitMQ 4 refuses (default: as the drill target says, else true)",
      })
      .option("dry-run", { type: "boolean", default: false, describe: "print the plan, touch nothing" })
      .option("force", { type: "boolean", default: false, describe: "restore over a non-empty target" })
      .example("$0 restore task-db --to postgres://postgres@db2:5432 --dry-run", "see what would happen")
      .example(
        "$0 restore task-db --to postgres://postgres@db2:5432 --identity /secure/id.txt",
        "restore the newest snapshot",
      ),
  run: async (context, args) => {
    if (args.to === "") throw new UsageError("--to: give the restore target");
    const config = await openConfig(context.configDir);
    // Usage mistakes are reported before the identity is read or the repository is touched.
    checkKindOptions(jobByName(config, args.job).job, args);
    const outcome = await restore(config, {
      job: args.job,
      to: args.to,
      snapshot: args.snapshot,
      identityFile: args.identity,
      dryRun: args["dry-run"],
      force: args.force,
      extra: {
        at: args.at,
        database: args.database,
        escrowIdentity: args["escrow-identity"],
        sshKey: args["ssh-key"],
        knownHosts: args["known-hosts"],
        sshPort: args["ssh-port"],
        endpoint: args.endpoint,
        region: args.region,
        stripClassicMirroring:
          args["strip-classic-mirroring"] === undefined ? undefined : String(args["strip-classic-mirroring"]),
      },
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

/** Options that mean something for one job kind only; given for another, they are a mistake. */
const KIND_OPTIONS: ReadonlyArray<{ option: string; kind: string; what: string }> = [
  { option: "at", kind: "postgres-base", what: "point-in-time recovery" },
  { option: "database", kind: "postgres-dump", what: "restoring one database of a dump" },
  { option: "escrow-identity", kind: "symfony-secrets", what: "opening the key escrow" },
  { option: "ssh-key", kind: "files", what: "user@host:/path targets" },
  { option: "known-hosts", kind: "files", what: "user@host:/path targets" },
  { option: "ssh-port", kind: "files", what: "user@host:/path targets" },
  { option: "endpoint", kind: "s3-bucket", what: "the target S3 server" },
  { option: "region", kind: "s3-bucket", what: "the target S3 server" },
  { option: "strip-classic-mirroring", kind: "rabbitmq", what: "RabbitMQ 4 targets" },
];

/** `2026-11-28`, or a time with an explicit zone: `2026-11-28T02:15:00Z`, `...02:15+03:00`. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}))?$/i;

function checkKindOptions(
  job: { name: string; kind: string },
  args: Record<string, unknown> & { to: string },
): void {
  for (const { option, kind, what } of KIND_OPTIONS) {
    if (args[option] === undefined || job.kind === kind) continue;
    throw new UsageError(
      `--${option} is for ${kind} jobs (${what}); job ${job.name} is a ${job.kind} job: remove --${option}` +
        (option === "at" ? " and pick a snapshot with --snapshot ID (see backdrill snapshots)" : ""),
    );
  }
  const at = args.at;
  if (typeof at === "string" && at !== "latest" && (!ISO_TIME.test(at) || Number.isNaN(Date.parse(at)))) {
    throw new UsageError(
      `--at ${JSON.stringify(at)} is not a point in time: give latest or an ISO time with its zone, like 2026-11-28T02:15:00Z`,
    );
  }
  const port = args["ssh-port"];
  if (port !== undefined && (!/^\d{1,5}$/.test(String(port)) || Number(port) < 1 || Number(port) > 65535)) {
    throw new UsageError(`--ssh-port: expected a port number 1-65535, got ${JSON.stringify(String(port))}`);
  }
  if (job.kind === "files" && parseDestination(args.to) === undefined) {
    throw new UsageError(
      `--to ${JSON.stringify(args.to)}: a files restore target must be an absolute path (/srv/restore) or user@host:/absolute/path`,
    );
  }
  if (job.kind === "postgres-base" && !args.to.startsWith("/")) {
    throw new UsageError(
      `--to ${JSON.stringify(args.to)}: give the absolute path of the new data directory for ${job.name}`,
    );
  }
  const snapshot = args.snapshot;
  if (typeof snapshot === "string" && snapshot !== "latest" && !/^\d{8}T\d{6}Z-[0-9a-f]+$/.test(snapshot)) {
    throw new UsageError(
      `--snapshot ${JSON.stringify(snapshot)} is not a snapshot id (like 20261128T021500Z-3f9a1c) or latest; list them with backdrill snapshots ${job.name}`,
    );
  }
}
