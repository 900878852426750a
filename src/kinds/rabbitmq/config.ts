/** What `validate` and the config loader ask of a `rabbitmq` job. */
import { secretField } from "../../secrets/resolve.js";
import { isLocalHost } from "../../util/local-host.js";
import type { JobSource, SecretSpec } from "../contract.js";
import { safeUrl } from "../../schema/show.js";
import type { RabbitmqJob } from "./job-schema.js";

export function describeRabbitmqJob(job: RabbitmqJob): string {
  const warning = plainHttpWarning(job.url);
  return `${job.user} @ ${safeUrl(job.url)} (definitions)${warning === undefined ? "" : ` (${warning})`}`;
}

/** `plain HTTP: …` for a management URL to another host over http://, else undefined. */
export function plainHttpWarning(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "http:" || isLocalHost(parsed.hostname)) return undefined;
  return "plain HTTP: the password and the definitions (with password hashes) travel unencrypted";
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
