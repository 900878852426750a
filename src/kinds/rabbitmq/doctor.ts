/**
 * Doctor check of a `rabbitmq` job: the management API answers with the job's credentials, and
 * the user may export definitions (administrator tag). Read-only.
 */
import type { RabbitmqJob } from "./job-schema.js";
import { fail, ok, warn, type CheckSpec } from "../../preflight/runner.js";
import { plainHttpWarning } from "./config.js";
import type { JobSource, KindDoctorContext } from "../contract.js";
import { resolveEndpoint as rabbitEndpoint, serverInfo } from "./backup.js";
import { getJson } from "./http.js";

export function rabbitmqDoctor(
  context: KindDoctorContext,
  { file, job }: JobSource<RabbitmqJob>,
): CheckSpec[] {
  const subject = `job ${job.name}`;
  return [
    {
      subject,
      name: "management API",
      run: async (signal) => {
        const endpoint = await rabbitEndpoint(job, context.env, file);
        const info = await serverInfo(endpoint, signal);
        const { value } = await getJson(endpoint, "/api/whoami", signal);
        const rawTags = (value as { tags?: unknown } | null)?.tags;
        const tags = Array.isArray(rawTags)
          ? rawTags.map(String)
          : typeof rawTags === "string"
            ? rawTags.split(",").filter((tag) => tag !== "")
            : [];
        const what = `${job.url}: ${info.product ?? "RabbitMQ"} ${info.version ?? info.managementVersion ?? "?"}, user ${job.user}`;
        if (!tags.includes("administrator")) {
          return fail(
            `${what} has tags [${tags.join(", ")}]; exporting definitions needs administrator`,
            `rabbitmqctl set_user_tags ${job.user} administrator`,
          );
        }
        const plain = plainHttpWarning(job.url);
        if (plain !== undefined)
          return warn(
            `${what} (administrator); ${plain}`,
            "use the https:// management URL (tls: { caFile } for a private CA)",
          );
        return ok(`${what} (administrator)`);
      },
    },
  ];
}
