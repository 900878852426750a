import { openConfig } from "../../app/config.js";
import { listSnapshots } from "../../app/snapshots.js";
import { defineCommand } from "../command.js";

export const snapshotsCommand = defineCommand({
  builder: (yargs) =>
    yargs
      .positional("job", { type: "string", describe: "only this job" })
      .example("$0 snapshots task-db", "one job's snapshots")
      .example(
        "$0 snapshots --json",
        "[{ id, job, kind, createdAt, artifacts: [{ name, path, size, sha256 }] }]",
      ),
  run: async (context, args) => {
    const config = await openConfig(context.configDir);
    const listing = await listSnapshots(config, args.job === undefined ? {} : { job: args.job });
    for (const problem of listing.damaged) context.log.warn({ problem }, "unreadable manifest");
    // Refused manifests are not snapshots: named on stderr, never listed (and never acted on).
    for (const entry of listing.refused) context.log.warn(entry.problem);
    const failed = listing.damaged.length > 0 || listing.refused.some((entry) => !entry.unsigned);
    if (context.json) {
      context.printJson(
        listing.snapshots.map((snapshot) => ({
          id: snapshot.id,
          job: snapshot.job,
          kind: snapshot.kind,
          createdAt: snapshot.createdAt,
          finishedAt: snapshot.finishedAt,
          host: snapshot.host,
          meta: snapshot.meta,
          artifacts: snapshot.artifacts.map(({ name, path, size, sha256 }) => ({ name, path, size, sha256 })),
        })),
      );
      return failed ? 1 : 0;
    }
    if (listing.snapshots.length === 0) context.print("no snapshots");
    else
      context.print(
        `${"ID".padEnd(24)}  ${"JOB".padEnd(20)}  ${"KIND".padEnd(16)}  ${"CREATED".padEnd(24)}  SIZE`,
      );
    for (const snapshot of listing.snapshots) {
      const bytes = snapshot.artifacts.reduce((sum, artifact) => sum + artifact.size, 0);
      context.print(
        `${snapshot.id.padEnd(24)}  ${snapshot.job.padEnd(20)}  ${snapshot.kind.padEnd(16)}  ${snapshot.createdAt.padEnd(24)}  ${(bytes / 1048576).toFixed(1)} MiB`,
      );
    }
    return failed ? 1 : 0;
  },
});
