/** What `validate` and the config loader ask of a `rabbitmq` job. */
import { secretField } from "../../secrets/resolve.js";
import type { JobSource, SecretSpec } from "../contract.js";
import { safeUrl } from "../../schema/show.js";
import type { RabbitmqJob } from "./job-schema.js";

export function describeRabbitmqJob(job: RabbitmqJob): string {
  return `${job.user} @ ${safeUrl(job.url)} (definitions)`;
}

export function rabbitmqSecrets({ file, job }: JobSource<RabbitmqJob>): SecretSpec {
  const secrets: SecretSpec["secrets"] = [];
  const password = secretField(job, "password", { file, path: "" });
  if (password !== undefined) secrets.push(password);
  const caFile = job.tls?.caFile;
  if (caFile !== undefined)
    secrets.push({ where: { file, path: "tls.caFile" }, ref: { file: caFile }, readableOnly: true });
  return { secrets, recipients: [] };
}
