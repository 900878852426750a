/**
 * Rules that need more than one file: unique names, references between files, and drill target
 * fields that only make sense for some job kinds.
 */
import type { ConfigIssue } from "../errors.js";
import type { TargetBase } from "../kinds/contract.js";
import { ALL_KINDS, kindOf, type Job } from "../kinds/registry.js";
import type { Policy } from "../schema/policy.js";
import { listWords } from "../schema/show.js";
import { didYouMean } from "../schema/suggest.js";
import type { Drill } from "./drill-schema.js";

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

/** The kinds that take a target field (`pitr`, `escrowIdentityFile`) and why. */
function kindsTaking(field: string): { kinds: string[]; why: string } | undefined {
  const takers = ALL_KINDS.filter((kind) => field in kind.target.fields);
  const first = takers[0];
  if (first === undefined) return undefined;
  return { kinds: takers.map((kind) => kind.kind), why: first.target.fields[field]?.why ?? "" };
}

function checkTarget(drill: Parsed<Drill>, index: number, job: Job, issues: ConfigIssue[]): void {
  const target = drill.value.targets[index];
  if (target === undefined) return;
  const at = (field: string): string => `targets.${index}.${field}`;
  const jobDesc = `${job.name} is a ${job.kind} job`;
  const kind = kindOf(job.kind);

  for (const [field, value] of Object.entries(target)) {
    if (value === undefined || field in kind.target.fields) continue;
    const takers = kindsTaking(field);
    if (takers === undefined) continue;
    issues.push({
      file: drill.file,
      path: at(field),
      message: `only for ${listWords(takers.kinds)} jobs (${takers.why}); ${jobDesc}, remove ${field}`,
    });
  }
  const image = kind.target.image;
  if ("none" in image && target.image !== undefined) {
    issues.push({
      file: drill.file,
      path: at("image"),
      message: `${job.kind} targets run no container (${image.none}); remove image`,
    });
  }

  const allowed = Object.keys(kind.target.checks);
  for (const [key, value] of Object.entries(target.checks ?? {})) {
    if (value === undefined || allowed.includes(key)) continue;
    issues.push({
      file: drill.file,
      path: at(`checks.${key}`),
      message: `not a check for ${job.kind} jobs (${job.name}); ${job.kind} checks: ${allowed.join(", ")}`,
    });
  }
  for (const issue of kind.target.validate(target as TargetBase, job)) {
    issues.push({ file: drill.file, path: at(issue.path), message: issue.message });
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
      for (const issue of kindOf(job.value.kind).checkPolicy(job.value, policy.value)) {
        issues.push({ file: job.file, ...issue });
      }
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
      const key = `${target.job}@${target.snapshot}${target.fromCopy === undefined ? "" : ` from copy ${target.fromCopy}`}`;
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
        const copies = policies.get(job.value.policy)?.value.copies ?? [];
        if (
          target.fromCopy !== undefined &&
          policies.has(job.value.policy) &&
          target.fromCopy > copies.length
        ) {
          issues.push({
            file: drill.file,
            path: `targets.${index}.fromCopy`,
            message: `policy ${job.value.policy} of job ${target.job} has ${copies.length === 0 ? "no copies" : `${copies.length} cop${copies.length === 1 ? "y" : "ies"} (copies:)`}; fromCopy ${target.fromCopy} names none`,
          });
        }
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
