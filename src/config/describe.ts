/**
 * What `backdrill validate` prints: every policy, job and drill in name order, with where things
 * go and when they run. Never credentials: only the names of the env vars and files holding them.
 */
import { Cron } from "croner";
import type { DrillTarget } from "./drill-schema.js";
import { parseDestination, type Job } from "../kinds/registry-jobs.js";
import type { Policy, RepositoryConfig } from "../schema/policy.js";
import { RETENTION_KEYS } from "../schema/policy.js";
import type { Config } from "./types.js";

export interface DescribeOptions {
  /** When given, each schedule also shows its next run after this instant. */
  now?: Date;
}

/** Strips user:password@ from a URL, in case one ever gets past validation. */
function safeUrl(text: string): string {
  try {
    const url = new URL(text);
    url.username = "";
    url.password = "";
    return url.toString().replace(/\/$/, "");
  } catch {
    return text;
  }
}

export function describeRepository(repository: RepositoryConfig): string {
  if (repository.type === "local") return `local ${repository.path}`;
  const location = `s3://${repository.bucket}${repository.prefix === "" ? "" : `/${repository.prefix}`}`;
  const details = [
    repository.endpoint === undefined ? "AWS" : `endpoint ${safeUrl(repository.endpoint)}`,
    `region ${repository.region}`,
    ...(repository.forcePathStyle ? ["path-style"] : []),
    ...(repository.objectLock === undefined
      ? []
      : [`object lock ${repository.objectLock.mode} ${repository.objectLock.days}d`]),
  ];
  return `${location} (${details.join(", ")})`;
}

function describeSchedule(
  schedule: string | undefined,
  timezone: string | undefined,
  options: DescribeOptions,
) {
  if (schedule === undefined) return "manual (no schedule)";
  const zone = timezone ?? "host time zone";
  let next = "";
  if (options.now !== undefined) {
    const at = new Cron(schedule, timezone === undefined ? {} : { timezone }).nextRun(options.now);
    if (at !== null) next = `; next ${at.toISOString()}`;
  }
  return `${schedule} (${zone})${next}`;
}

function describeRetention(policy: Policy): string {
  const parts = RETENTION_KEYS.filter((key) => (policy.retention[key] ?? 0) > 0).map(
    (key) => `${key.replace(/^keep/, "").toLowerCase()} ${policy.retention[key] ?? 0}`,
  );
  return parts.join(", ");
}

/** "2 recipients", "recipients from FILE", "1 recipient + FILE". */
function describeRecipientSources(inline: readonly string[], file: string | undefined, noun: string): string {
  if (inline.length === 0) return file === undefined ? `no ${noun}s` : `${noun}s from ${file}`;
  const count = `${inline.length} ${noun}${inline.length === 1 ? "" : "s"}`;
  return file === undefined ? count : `${count} + ${file}`;
}

export function describeJobTarget(job: Job): string {
  switch (job.kind) {
    case "postgres-dump":
    case "postgres-base": {
      const connection = job.connection;
      const server =
        "urlEnv" in connection
          ? `URL from $${connection.urlEnv}`
          : `${connection.user}@${connection.host}:${connection.port}`;
      const tools = "image" in job.tools ? `tools image ${job.tools.image}` : `tools ${job.tools.binDir}`;
      if (job.kind === "postgres-base") return `${server}; base backup + WAL archive; ${tools}`;
      const databases =
        job.databases === undefined ? "all databases" : `databases ${job.databases.join(", ")}`;
      const format =
        job.format === "directory" ? `directory format, ${job.parallel ?? 1} parallel` : "custom format";
      return `${server}; ${databases}; ${format}${job.globals ? " + globals" : ""}; ${tools}`;
    }
    case "files": {
      const destination = parseDestination(job.destination);
      const where = destination?.type === "remote" ? `${job.destination} (ssh)` : job.destination;
      const excludes = job.exclude.length === 0 ? "" : `; exclude ${job.exclude.join(" ")}`;
      return `${job.source} -> ${where}${excludes}`;
    }
    case "s3-bucket": {
      const endpoint = job.endpoint === undefined ? "AWS" : safeUrl(job.endpoint);
      const prefix = job.prefix === undefined || job.prefix === "" ? "" : `/${job.prefix}`;
      const mode = [
        job.copy ? "copy versions" : "version manifest only",
        job.modify ? "enforce" : "check only",
      ];
      return `s3://${job.bucket}${prefix} at ${endpoint}; ${mode.join(", ")}`;
    }
    case "rabbitmq":
      return `${job.user} @ ${safeUrl(job.url)} (definitions)`;
    case "symfony-secrets": {
      const escrow = describeRecipientSources(
        job.escrowRecipients,
        job.escrowRecipientsFile,
        "escrow recipient",
      );
      return `${job.vault} (env ${job.environment}); ${escrow}`;
    }
  }
}

function describeTarget(target: DrillTarget): string {
  const parts = [`snapshot ${target.snapshot}`];
  if (target.image !== undefined) parts.push(`image ${target.image}`);
  if (target.pitr !== undefined) parts.push(`pitr ${target.pitr}`);
  if (target.rto !== undefined) parts.push(`rto ${target.rto}`);
  const checks = Object.entries(target.checks ?? {})
    .filter(([, value]) => value !== undefined && value !== false)
    .map(([key, value]) => {
      if (key === "sql" && Array.isArray(value)) return `${value.length} sql`;
      if (Array.isArray(value)) return `${key} ${value.join(" ")}`;
      if (typeof value === "number") return `${key} ${value}`;
      return key;
    });
  if (checks.length > 0) parts.push(`checks ${checks.join(", ")}`);
  return `${target.job}: ${parts.join(", ")}`;
}

export function describeConfig(config: Config, options: DescribeOptions = {}): string {
  const lines: string[] = [`config: ${config.dir}`, ""];
  const field = (label: string, value: string): string => `    ${`${label}:`.padEnd(12)}${value}`;

  lines.push(`policies (${config.policies.size})`);
  for (const [name, { file, policy }] of config.policies) {
    lines.push(`  ${name}  [${file}]`);
    if (policy.description !== undefined) lines.push(field("about", policy.description));
    lines.push(field("repository", describeRepository(policy.repository)));
    lines.push(field("schedule", describeSchedule(policy.schedule, policy.timezone, options)));
    lines.push(field("retention", describeRetention(policy)));
    lines.push(field("rpo", policy.rpo));
    const { recipients, recipientsFile } = policy.encryption;
    lines.push(field("encryption", describeRecipientSources(recipients, recipientsFile, "recipient")));
  }
  lines.push("");

  lines.push(`jobs (${config.jobs.size})`);
  for (const [name, { file, job }] of config.jobs) {
    lines.push(`  ${name}  ${job.kind}  policy ${job.policy}  [${file}]`);
    if (job.description !== undefined) lines.push(field("about", job.description));
    lines.push(field("target", describeJobTarget(job)));
  }
  lines.push("");

  lines.push(`drills (${config.drills.size})`);
  for (const [name, { file, drill }] of config.drills) {
    lines.push(`  ${name}  [${file}]`);
    if (drill.description !== undefined) lines.push(field("about", drill.description));
    lines.push(field("schedule", describeSchedule(drill.schedule, drill.timezone, options)));
    lines.push(field("reports", drill.reportDir));
    lines.push(field("identity", drill.identityFile));
    lines.push(`    targets:`);
    for (const target of drill.targets) lines.push(`      - ${describeTarget(target)}`);
  }
  return `${lines.join("\n")}\n`;
}
