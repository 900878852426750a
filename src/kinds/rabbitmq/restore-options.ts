/**
 * `backdrill restore <rabbitmq job> --to http://host:15672 [--strip-classic-mirroring]`. The
 * target's credentials come from the URL or from BACKDRILL_RESTORE_RABBITMQ_USER /
 * BACKDRILL_RESTORE_RABBITMQ_PASSWORD (read when the plan is made, see restore.ts). Pure.
 */
import { UsageError } from "../../errors.js";
import type { RestoreSpec } from "../contract.js";
import type { RabbitmqJob } from "./job-schema.js";

export interface RabbitmqRestoreOptions {
  /** undefined: strip for a RabbitMQ 4.x target (which refuses classic mirroring). */
  stripClassicMirroring: boolean | undefined;
}

export const rabbitmqRestore: RestoreSpec<RabbitmqJob, RabbitmqRestoreOptions> = {
  to: "the management API URL of the target broker, http://host:15672",
  flags: [
    {
      name: "strip-classic-mirroring",
      type: "boolean",
      describe: "drop ha-* policy keys that RabbitMQ 4 refuses (default: true for a 4.x target)",
    },
  ],
  options({ to, flags }) {
    if (!/^https?:\/\//i.test(to)) {
      throw new UsageError(
        `--to: expected the management API URL of the target, like http://host:15672, got ${JSON.stringify(to.replace(/\/\/[^@/]*@/, "//***@"))}`,
      );
    }
    const strip = flags["strip-classic-mirroring"];
    return { stripClassicMirroring: typeof strip === "boolean" ? strip : undefined };
  },
};
