/**
 * Rules that need more than one file: unique names, references between files, and drill target
 * fields that only make sense for some job kinds.
 */
import { resolve, sep } from "node:path";
import type { ConfigIssue } from "../errors.js";
import { CHECKS_BY_KIND, type Drill, type DrillChecks } from "./drill-schema.js";
import { parseDestination, type Job, type JobKind } from "../kinds/registry-jobs.js";
import type { Policy } from "../schema/policy.js";
import { listWords } from "../schema/show.js";
import { didYouMean } from "../schema/suggest.js";

export interface Parsed<T> {
  file: string;
  value: T;
}

export interface CrossFileInput {
  policies: Parsed<Policy>[];
  jobs: Parsed<Job>[];
  drills: Parsed<Drill>[];
  /** Names declared by files that failed validation: references to them are not reported again. */
  brokenNames: { policies: Set<string>; jobs: Set<string> };
}

/** Keeps the first file per name; later ones get an issue naming the first. */
export function uniqueByName<T extends { name: string }>(
  items: Parsed<T>[],
  what: string,
  issues: ConfigIssue[],
): Map<string, Parsed<T>> {
  const byName = new Map<string, Parsed<T>>();
  for (const item of items) {
    const first = byName.get(item.value.name);
    if (first === undefined) {
      byName.set(item.value.name, item);
      continue;
    }
    issues.push({
      file: item.file,
      path: "name",
      message: `${what} "${item.value.name}" is also defined in ${first.file}; ${what} names must be unique, rename one of them`,
    });
  }
  return byName;
}

function missingReference(what: string, name: string, known: string[], dir: string): string {
  if (known.length === 0) return `no ${what} named "${name}": ${dir}/ holds none; create ${dir}/${name}.yaml`;
  return `no ${what} named "${name}"${didYouMean(name, known)} (defined: ${known.join(", ")})`;
}

function isInside(child: string, parent: string): boolean {
  const a = resolve(child);
  const b = resolve(parent);
  return a === b || a.startsWith(b.endsWith(sep) ? b : `${b}${sep}`) || b.startsWith(`${a}${sep}`);
}

function checkJobAgainstPolicy(job: Parsed<Job>, policy: Policy, issues: ConfigIssue[]): void {
  const repository = policy.repository;
  const value = job.value;
  if (value.kind === "files" && repository.type === "local") {
    const destination = parseDestination(value.destination);
    if (destination?.type === "local" && isInside(destination.path, repository.path)) {
      issues.push({
        file: job.file,
        path: "destination",
        message: `overlaps the repository of policy ${policy.name} (${repository.path}); use a separate directory`,
      });
    }
  }
  if (value.kind === "s3-bucket" && repository.type === "s3" && repository.bucket === value.bucket) {
    issues.push({
      file: job.file,
      path: "bucket",
      message: `is the repository bucket of policy ${policy.name}; backing a bucket up into itself protects nothing`,
    });
  }
}

const KIND_ONLY_FIELDS: { field: "pitr" | "escrowIdentityFile"; kinds: JobKind[]; why: string }[] = [
  { field: "pitr", kinds: ["postgres-base"], why: "point-in-time recovery replays a WAL archive" },
  { field: "escrowIdentityFile", kinds: ["symfony-secrets"], why: "it opens the escrowed decryption key" },
];

function checkTarget(drill: Parsed<Drill>, index: number, job: Job, issues: ConfigIssue[]): void {
  const target = drill.value.targets[index];
  if (target === undefined) return;
  const at = (field: string): string => `targets.${index}.${field}`;
  const jobDesc = `${job.name} is a ${job.kind} job`;

  for (const rule of KIND_ONLY_FIELDS) {
    if (target[rule.field] !== undefined && !rule.kinds.includes(job.kind)) {
      issues.push({
        file: drill.file,
        path: at(rule.field),
        message: `only for ${listWords(rule.kinds)} jobs (${rule.why}); ${jobDesc}, remove ${rule.field}`,
      });
    }
  }
  if (job.kind === "symfony-secrets") {
    if (target.escrowIdentityFile === undefined) {
      issues.push({
        file: drill.file,
        path: at("escrowIdentityFile"),
        message:
          "required for a symfony-secrets target: the age identity of an escrow holder, which opens the escrowed decryption key",
      });
    }
    if (target.image !== undefined) {
      issues.push({
        file: drill.file,
        path: at("image"),
        message: "symfony-secrets targets run no container (the vault is opened in-process); remove image",
      });
    }
  }

  const allowed = CHECKS_BY_KIND[job.kind];
  for (const key of Object.keys(target.checks ?? {}) as (keyof DrillChecks)[]) {
    if (target.checks?.[key] === undefined || allowed.includes(key)) continue;
    issues.push({
      file: drill.file,
      path: at(`checks.${key}`),
      message: `not a check for ${job.kind} jobs (${job.name}); ${job.kind} checks: ${allowed.join(", ")}`,
    });
  }

  if (job.kind === "postgres-dump" && job.databases !== undefined) {
    const databases = job.databases;
    target.checks?.sql?.forEach((check, sqlIndex) => {
      if (databases.includes(check.database)) return;
      issues.push({
        file: drill.file,
        path: at(`checks.sql.${sqlIndex}.database`),
        message: `job ${job.name} does not back up database "${check.database}"${didYouMean(check.database, databases)} (its databases: ${databases.join(", ")})`,
      });
    });
  }
}

export function crossFileIssues(
  input: CrossFileInput,
  policies: ReadonlyMap<string, Parsed<Policy>>,
  jobs: ReadonlyMap<string, Parsed<Job>>,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const policyNames = [...policies.keys()].sort();
  const jobNames = [...jobs.keys()].sort();

  for (const job of input.jobs) {
    const policy = policies.get(job.value.policy);
    if (policy !== undefined) {
      checkJobAgainstPolicy(job, policy.value, issues);
    } else if (!input.brokenNames.policies.has(job.value.policy)) {
      issues.push({
        file: job.file,
        path: "policy",
        message: missingReference("policy", job.value.policy, policyNames, "policies"),
      });
    }
  }

  for (const drill of input.drills) {
    const seen = new Map<string, number>();
    drill.value.targets.forEach((target, index) => {
      const key = `${target.job}@${target.snapshot}`;
      const previous = seen.get(key);
      if (previous !== undefined) {
        issues.push({
          file: drill.file,
          path: `targets.${index}.job`,
          message: `${target.job} (snapshot ${target.snapshot}) is already target ${previous}; list each job and snapshot once`,
        });
      }
      seen.set(key, index);
      const job = jobs.get(target.job);
      if (job !== undefined) {
        checkTarget(drill, index, job.value, issues);
      } else if (!input.brokenNames.jobs.has(target.job)) {
        issues.push({
          file: drill.file,
          path: `targets.${index}.job`,
          message: missingReference("job", target.job, jobNames, "jobs"),
        });
      }
    });
  }
  return issues;
}
