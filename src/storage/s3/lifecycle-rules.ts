/**
 * The lifecycle rules backdrill owns on a bucket, and how they are merged into whatever else the
 * bucket's owners configured. Pure functions: `bucket-setup.ts` does the I/O, and the job kind that
 * backs up application buckets reuses the same merge for them.
 *
 * Ownership: a rule is ours if its ID starts with `backdrill-` AND it filters on the same prefix
 * we manage. Everything else — rules of other teams, and backdrill rules for other prefixes of the
 * same bucket (two repositories side by side) — is foreign and is kept exactly as it was, in its
 * original position. Our rules are replaced when they drift, dropped when no longer wanted (e.g.
 * noncurrent expiration switched off), and appended when missing.
 */
import { createHash } from "node:crypto";
import type { LifecycleRule } from "@aws-sdk/client-s3";
import { UsageError } from "../../errors.js";

export const OWNED_RULE_ID_PREFIX = "backdrill-";

export interface LifecyclePolicy {
  /** Incomplete multipart uploads (crashed or aborted puts) are removed after this many days. */
  abortIncompleteMultipartUploadDays: number;
  /**
   * Noncurrent versions (overwritten or deleted objects) are removed this many days after they
   * became noncurrent; with Object Lock, not before their retention ends. Omit to keep them.
   */
  noncurrentVersionExpirationDays?: number | undefined;
}

/**
 * A rule ID that is unique per managed prefix. S3 rule IDs are limited to 255 characters and two
 * prefixes may sanitise to the same text, so a short hash of the exact prefix is appended.
 */
export function ownedRuleId(purpose: string, prefix: string): string {
  if (prefix === "") return `${OWNED_RULE_ID_PREFIX}${purpose}`;
  const readable = prefix
    .replace(/[^A-Za-z0-9._-]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 64);
  const hash = createHash("sha256").update(prefix).digest("hex").slice(0, 8);
  return `${OWNED_RULE_ID_PREFIX}${purpose}-${readable}-${hash}`;
}

/** The rules backdrill wants for `prefix` ("" = the whole bucket; otherwise ending in "/"). */
export function desiredLifecycleRules(policy: LifecyclePolicy, prefix: string): LifecycleRule[] {
  assertDays("abortIncompleteMultipartUploadDays", policy.abortIncompleteMultipartUploadDays);
  const rules: LifecycleRule[] = [
    {
      ID: ownedRuleId("abort-incomplete-multipart", prefix),
      Status: "Enabled",
      Filter: { Prefix: prefix },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: policy.abortIncompleteMultipartUploadDays },
    },
  ];
  if (policy.noncurrentVersionExpirationDays !== undefined) {
    assertDays("noncurrentVersionExpirationDays", policy.noncurrentVersionExpirationDays);
    rules.push({
      ID: ownedRuleId("noncurrent-expiration", prefix),
      Status: "Enabled",
      Filter: { Prefix: prefix },
      NoncurrentVersionExpiration: { NoncurrentDays: policy.noncurrentVersionExpirationDays },
    });
  }
  return rules;
}

export interface LifecycleMerge {
  /** The complete rule list to put on the bucket. */
  rules: LifecycleRule[];
  /** IDs of our rules, by what the merge does to them. */
  added: string[];
  updated: string[];
  removed: string[];
  unchanged: string[];
  /** IDs (or "(no id)") of rules kept because they are not ours. */
  foreign: string[];
  /** Whether `rules` differs from the existing configuration. */
  changed: boolean;
}

/** Merges `desired` (all ours, all for `prefix`) into `existing`; see the file comment. */
export function mergeLifecycleRules(
  existing: readonly LifecycleRule[],
  desired: readonly LifecycleRule[],
  prefix: string,
): LifecycleMerge {
  const wanted = new Map(desired.map((rule) => [rule.ID ?? "", rule]));
  const result: LifecycleMerge = {
    rules: [],
    added: [],
    updated: [],
    removed: [],
    unchanged: [],
    foreign: [],
    changed: false,
  };
  const placed = new Set<string>();
  for (const rule of existing) {
    const id = rule.ID ?? "";
    if (!isOwned(rule, prefix)) {
      result.rules.push(rule);
      result.foreign.push(id === "" ? "(no id)" : id);
      continue;
    }
    const replacement = wanted.get(id);
    if (replacement === undefined || placed.has(id)) {
      result.removed.push(id); // no longer wanted (or a duplicate ID, which S3 would reject)
      continue;
    }
    placed.add(id);
    result.rules.push(replacement);
    (sameRule(rule, replacement) ? result.unchanged : result.updated).push(id);
  }
  for (const rule of desired) {
    const id = rule.ID ?? "";
    if (placed.has(id)) continue;
    placed.add(id);
    result.rules.push(rule);
    result.added.push(id);
  }
  result.changed = result.added.length + result.updated.length + result.removed.length > 0;
  return result;
}

/** Ours = backdrill ID and the same prefix filter. */
export function isOwned(rule: LifecycleRule, prefix: string): boolean {
  return (rule.ID ?? "").startsWith(OWNED_RULE_ID_PREFIX) && rulePrefix(rule) === prefix;
}

/** The prefix a rule applies to, whichever of the equivalent spellings the server returned. */
export function rulePrefix(rule: LifecycleRule): string | undefined {
  const filter = rule.Filter;
  if (filter === undefined) return rule.Prefix ?? "";
  if (filter.Tag !== undefined || filter.And !== undefined) return undefined; // not a plain prefix rule
  if (filter.ObjectSizeGreaterThan !== undefined || filter.ObjectSizeLessThan !== undefined) return undefined;
  return filter.Prefix ?? "";
}

/**
 * Semantic equality: servers echo rules back with their own spelling (`Filter: {Prefix: ""}` vs no
 * filter, `Years: 0`, absent vs empty lists), so rules are compared in a canonical form.
 */
export function sameRule(a: LifecycleRule, b: LifecycleRule): boolean {
  return JSON.stringify(canonicalRule(a)) === JSON.stringify(canonicalRule(b));
}

function canonicalRule(rule: LifecycleRule): unknown {
  return sortDeep({
    id: rule.ID ?? "",
    status: rule.Status,
    prefix: rulePrefix(rule) ?? rule.Filter,
    expiration: rule.Expiration,
    abortAfterDays: rule.AbortIncompleteMultipartUpload?.DaysAfterInitiation,
    noncurrentDays: rule.NoncurrentVersionExpiration?.NoncurrentDays,
    newerNoncurrentVersions: rule.NoncurrentVersionExpiration?.NewerNoncurrentVersions,
    transitions: rule.Transitions?.length ? rule.Transitions : undefined,
    noncurrentTransitions: rule.NoncurrentVersionTransitions?.length
      ? rule.NoncurrentVersionTransitions
      : undefined,
  });
}

/** Objects with sorted keys and no undefined/null/0-as-absent noise, for stable JSON comparison. */
function sortDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortDeep);
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const item = (value as Record<string, unknown>)[key];
      if (item === undefined || item === null) continue;
      out[key] = sortDeep(item);
    }
    return out;
  }
  return value;
}

function assertDays(name: string, days: number): void {
  if (!Number.isSafeInteger(days) || days < 1) {
    throw new UsageError(`${name} must be a whole number of days ≥ 1, got ${days}`);
  }
}
