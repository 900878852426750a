/**
 * What `backdrill validate` prints: every policy, job and drill in name order, with where things
 * go and when they run. Never credentials: only the names of the env vars and files holding them.
 */
import { Cron } from "croner";
import type { DrillTarget } from "./drill-schema.js";
import { kindOf, type Job } from "../kinds/registry.js";
import { safeUrl } from "../schema/show.js";
import type { Policy, RepositoryConfig } from "../schema/policy.js";
import { RETENTION_KEYS } from "../schema/policy.js";
import type { Config } from "./types.js";

export interface DescribeOptions {
  /** When given, each schedule also shows its next run after this instant. */
  now?: Date;
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

/** The warning `validate` and `doctor` give for a policy without `signing`. */
export const UNSIGNED_POLICY_WARNING =
  "snapshots are not signed: anyone who can write to the repository can forge one that drills and restores act on; create a key with backdrill keys signing-keygen and set signing";

/** "key /etc/backdrill/signing.pem, 1 trusted public key", or the warning. */
export function describeSigning(policy: Policy): string {
  const signing = policy.signing;
  if (signing === undefined) return `none (WARNING: ${UNSIGNED_POLICY_WARNING})`;
  const keys = `${signing.publicKeys.length} trusted public key${signing.publicKeys.length === 1 ? "" : "s"}`;
  return signing.keyFile === undefined ? keys : `key ${signing.keyFile}, ${keys}`;
}

/** "2 recipients", "recipients from FILE", "1 recipient + FILE". */
function describeRecipientSources(inline: readonly string[], file: string | undefined, noun: string): string {
  if (inline.length === 0) return file === undefined ? `no ${noun}s` : `${noun}s from ${file}`;
  const count = `${inline.length} ${noun}${inline.length === 1 ? "" : "s"}`;
  return file === undefined ? count : `${count} + ${file}`;
}

export function describeJobTarget(job: Job): string {
  return kindOf(job.kind).describe(job);
}

function describeTarget(target: DrillTarget, job: Job | undefined): string {
  const parts = [`snapshot ${target.snapshot}`];
  if (target.image !== undefined) parts.push(`image ${target.image}`);
  // The kind's own target fields (pitr), but not the key files it names (those are paths).
  const fields = job === undefined ? {} : kindOf(job.kind).target.fields;
  for (const [key, field] of Object.entries(fields)) {
    const value = (target as Record<string, unknown>)[key];
    if (value !== undefined && field.readableFile !== true) parts.push(`${key} ${String(value)}`);
  }
  if (target.rto !== undefined) parts.push(`rto ${target.rto}`);
  const checks = Object.entries(target.checks ?? {})
    .filter(([, value]) => value !== undefined && value !== false)
    .map(([key, value]) => {
      // Lists of assertions (sql) are counted; lists of names are shown.
      if (Array.isArray(value) && value.some((item) => typeof item !== "string"))
        return `${value.length} ${key}`;
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
    lines.push(field("signing", describeSigning(policy)));
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
    for (const target of drill.targets)
      lines.push(`      - ${describeTarget(target, config.jobs.get(target.job)?.job)}`);
  }
  return `${lines.join("\n")}\n`;
}
