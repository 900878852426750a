import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { openConfig } from "../../app/config.js";
import { UsageError } from "../../errors.js";
import { daemonTasks, renderCrontab, renderDaemonUnits, renderSystemdUnits } from "../../app/cron-units.js";
import { scheduledTasks } from "../../app/scheduler.js";
import { defineCommand } from "../command.js";

export const cronCommand = defineCommand({
  command: "cron",
  describe:
    "print crontab lines, or systemd service + timer units, for every scheduled job and drill (and a wal ship service per postgres-base job with a spool)",
  builder: (yargs) =>
    yargs
      .option("format", {
        choices: ["crontab", "cron.d", "systemd"] as const,
        default: "crontab" as const,
        describe: "crontab: for crontab -e; cron.d: /etc/cron.d (user column); systemd: units",
      })
      .option("bin", {
        type: "string",
        default: "/usr/local/bin/backdrill",
        describe: "absolute path of backdrill on the host",
      })
      .option("env-file", {
        type: "string",
        default: "/etc/backdrill/backdrill.env",
        describe: "file with the secrets as KEY=value lines",
      })
      .option("user", {
        type: "string",
        default: "backdrill",
        describe: "user the runs use (systemd User=, cron.d column)",
      })
      .option("prune", {
        type: "boolean",
        default: true,
        describe: "run prune after each successful backup (--no-prune)",
      })
      .option("out", {
        type: "string",
        describe: "systemd: write the unit files into this directory instead of printing them",
      })
      .example(
        "$0 cron > /tmp/backdrill.cron && crontab /tmp/backdrill.cron",
        "install as the user's crontab",
      )
      .example(
        "$0 cron --format systemd --out /etc/systemd/system",
        "then: systemctl daemon-reload && systemctl enable --now 'backdrill-*.timer' 'backdrill-wal-ship-*.service'",
      ),
  run: async (context, args) => {
    const config = await openConfig(context.configDir);
    if (!args.bin.startsWith("/")) throw new UsageError(`--bin must be an absolute path, got ${args.bin}`);
    const tasks = scheduledTasks(config);
    const daemons = daemonTasks(config);
    if (tasks.length === 0 && daemons.length === 0)
      throw new UsageError(
        "nothing to schedule: no policy or drill has a schedule, and no postgres-base job a spool",
      );
    const options = {
      bin: args.bin,
      configDir: config.dir,
      envFile: args["env-file"],
      user: args.user,
      prune: args.prune,
      crontabFlavour: args.format === "cron.d" ? ("system" as const) : ("user" as const),
    };
    if (args.format !== "systemd") {
      if (args.out !== undefined)
        throw new UsageError("--out is for --format systemd; redirect stdout for crontab lines");
      process.stdout.write(renderCrontab(tasks, options, daemons));
      return 0;
    }
    const units = [...renderSystemdUnits(tasks, options), ...renderDaemonUnits(daemons, options)];
    if (args.out === undefined) {
      for (const unit of units) process.stdout.write(`# ---- ${unit.name} ----\n${unit.content}\n`);
      return 0;
    }
    const dir = resolve(args.out);
    await mkdir(dir, { recursive: true });
    for (const unit of units) {
      const path = join(dir, unit.name);
      // Unit files hold no secrets (those stay in the env file) and systemd tools expect 0644.
      await writeFile(path, unit.content);
      await chmod(path, 0o644);
      context.print(path);
    }
    return 0;
  },
});
