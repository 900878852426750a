/** What `validate` and the config loader ask of a `files` job: description, secrets, policy rules. */
import { isInsideOrContains } from "../../schema/paths.js";
import type { Policy } from "../../schema/policy.js";
import type { FieldIssue, JobSource, SecretSpec } from "../contract.js";
import { parseDestination, type FilesJob } from "./job-schema.js";

export function describeFilesJob(job: FilesJob): string {
  const destination = parseDestination(job.destination);
  const where = destination?.type === "remote" ? `${job.destination} (ssh)` : job.destination;
  const excludes = job.exclude.length === 0 ? "" : `; exclude ${job.exclude.join(" ")}`;
  return `${job.source} -> ${where}${excludes}`;
}

export function filesSecrets({ file, job }: JobSource<FilesJob>): SecretSpec {
  const secrets: SecretSpec["secrets"] = [];
  // Handed to ssh as files: only their readability is checked.
  for (const field of ["sshKeyFile", "knownHostsFile"] as const) {
    const value = job[field];
    if (value !== undefined)
      secrets.push({ where: { file, path: field }, ref: { file: value }, readableOnly: true });
  }
  return { secrets, recipients: [] };
}

export function checkFilesPolicy(job: FilesJob, policy: Policy): FieldIssue[] {
  const repository = policy.repository;
  const destination = parseDestination(job.destination);
  if (repository.type !== "local" || destination?.type !== "local") return [];
  if (!isInsideOrContains(destination.path, repository.path)) return [];
  return [
    {
      path: "destination",
      message: `overlaps the repository of policy ${policy.name} (${repository.path}); use a separate directory`,
    },
  ];
}
