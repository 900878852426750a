import { openConfig } from "../../app/config.js";
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
      .option("ssh-port", { type: "number", describe: "files: SSH port of the target host" })
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
        sshPort: args["ssh-port"] === undefined ? undefined : String(args["ssh-port"]),
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
