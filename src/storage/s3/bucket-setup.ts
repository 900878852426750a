/**
 * Brings a bucket to the state a backup repository needs, and reports what it changed or (with
 * `apply: false`, for `doctor` and dry runs) what has drifted:
 *
 *   - versioning Enabled, verified by reading it back: an overwrite or delete (a bug, a
 *     compromised backup host) then leaves the old version recoverable;
 *   - backdrill's lifecycle rules (abort incomplete multipart uploads; optionally expire
 *     noncurrent versions) merged into the bucket's other rules, which are never dropped;
 *   - with `objectLock`, the bucket's default retention (WORM), which only works on a bucket
 *     created with Object Lock enabled — that cannot be switched on later, so we say so clearly.
 *
 * Everything is read before anything is written, so a bucket that cannot meet the policy (no
 * Object Lock) fails without half-applied changes. Creating buckets is left to the operator.
 */
import {
  GetBucketLifecycleConfigurationCommand,
  GetBucketVersioningCommand,
  GetObjectLockConfigurationCommand,
  type LifecycleRule,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectLockConfigurationCommand,
  type S3Client,
  DeleteBucketLifecycleCommand,
} from "@aws-sdk/client-s3";
import { OperationError, UsageError } from "../../errors.js";
import {
  desiredLifecycleRules,
  type LifecycleMerge,
  type LifecyclePolicy,
  mergeLifecycleRules,
  sameRule,
} from "./lifecycle-rules.js";
import { errorCodeOf, s3Error } from "./s3-errors.js";

export interface ObjectLockPolicy {
  mode: "GOVERNANCE" | "COMPLIANCE";
  days: number;
}

export interface BucketSetupOptions {
  /** The repository prefix the lifecycle rules apply to ("" = whole bucket). */
  prefix: string;
  lifecycle: LifecyclePolicy;
  objectLock?: ObjectLockPolicy | undefined;
  /** false: only read and report drift. Default true. */
  apply?: boolean;
}

export type SetupStatus = "ok" | "changed" | "drift";

export interface BucketSetupItem {
  setting: "versioning" | "objectLock" | "lifecycle";
  /** ok: already as wanted; changed: we changed it (and verified); drift: differs, not applied. */
  status: SetupStatus;
  detail: string;
}

export interface BucketSetupReport {
  bucket: string;
  prefix: string;
  applied: boolean;
  items: BucketSetupItem[];
  lifecycle: LifecycleMerge;
  /** Something was changed on the bucket. */
  changed: boolean;
  /** Something differs from the policy and was not changed (only with apply: false). */
  drift: boolean;
}

interface LockState {
  enabled: boolean;
  mode?: string | undefined;
  days?: number | undefined;
  years?: number | undefined;
}

export async function ensureRepositoryBucket(
  client: S3Client,
  bucket: string,
  options: BucketSetupOptions,
): Promise<BucketSetupReport> {
  const prefix = normalizePrefix(options.prefix);
  const apply = options.apply ?? true;
  const where = `s3://${bucket}`;
  if (options.objectLock !== undefined) validateLockPolicy(options.objectLock);
  const desiredRules = desiredLifecycleRules(options.lifecycle, prefix);

  // 1. Read.
  const versioning = await readVersioning(client, bucket);
  const lock = await readObjectLock(client, bucket);
  const existingRules = await readLifecycle(client, bucket);
  if (options.objectLock !== undefined && !lock.enabled) {
    throw new OperationError(
      `bucket ${bucket} does not have Object Lock enabled, but the policy asks for ${options.objectLock.mode} retention of ${options.objectLock.days} days`,
      {
        hint:
          "Object Lock can only be enabled when a bucket is created: create a new bucket with " +
          `\`aws s3api create-bucket --bucket NAME --object-lock-enabled-for-bucket\` (MinIO: \`mc mb --with-lock\`) ` +
          "and point the repository at it, or remove objectLock from the policy",
      },
    );
  }

  const items: BucketSetupItem[] = [];

  // 2. Versioning.
  if (versioning === "Enabled") {
    items.push({ setting: "versioning", status: "ok", detail: "Enabled" });
  } else if (!apply) {
    items.push({ setting: "versioning", status: "drift", detail: `is ${versioning}, want Enabled` });
  } else {
    await send(where, "enable versioning on", () =>
      client.send(
        new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } }),
      ),
    );
    const after = await readVersioning(client, bucket);
    if (after !== "Enabled") {
      throw new OperationError(`enabled versioning on ${where}, but the bucket now reports ${after}`);
    }
    items.push({ setting: "versioning", status: "changed", detail: `${versioning} -> Enabled (verified)` });
  }

  // 3. Object Lock default retention.
  if (options.objectLock === undefined) {
    const current = lock.enabled && lock.mode !== undefined ? ` (bucket default: ${describeLock(lock)})` : "";
    items.push({ setting: "objectLock", status: "ok", detail: `not required by the policy${current}` });
  } else {
    const want = options.objectLock;
    if (lockMatches(lock, want)) {
      items.push({ setting: "objectLock", status: "ok", detail: describeLock(lock) });
    } else if (!apply) {
      items.push({
        setting: "objectLock",
        status: "drift",
        detail: `default retention is ${describeLock(lock)}, want ${want.mode} ${want.days} days`,
      });
    } else {
      await send(where, "set the Object Lock default retention of", () =>
        client.send(
          new PutObjectLockConfigurationCommand({
            Bucket: bucket,
            ObjectLockConfiguration: {
              ObjectLockEnabled: "Enabled",
              Rule: { DefaultRetention: { Mode: want.mode, Days: want.days } },
            },
          }),
        ),
      );
      const after = await readObjectLock(client, bucket);
      if (!lockMatches(after, want)) {
        throw new OperationError(
          `set Object Lock retention on ${where}, but the bucket now reports ${describeLock(after)}`,
        );
      }
      items.push({
        setting: "objectLock",
        status: "changed",
        detail: `${describeLock(lock)} -> ${describeLock(after)} (verified)`,
      });
    }
  }

  // 4. Lifecycle.
  const merge = mergeLifecycleRules(existingRules, desiredRules, prefix);
  const summary = describeMerge(merge, options);
  if (!merge.changed) {
    items.push({ setting: "lifecycle", status: "ok", detail: summary });
  } else if (!apply) {
    items.push({ setting: "lifecycle", status: "drift", detail: summary });
  } else {
    if (merge.rules.length === 0) {
      await send(where, "delete the lifecycle configuration of", () =>
        client.send(new DeleteBucketLifecycleCommand({ Bucket: bucket })),
      );
    } else {
      await send(where, "put the lifecycle configuration of", () =>
        client.send(
          new PutBucketLifecycleConfigurationCommand({
            Bucket: bucket,
            LifecycleConfiguration: { Rules: merge.rules },
          }),
        ),
      );
    }
    const after = await readLifecycle(client, bucket);
    const missing = desiredRules.filter((rule) => !after.some((other) => sameRule(rule, other)));
    if (missing.length > 0) {
      throw new OperationError(
        `put lifecycle rules on ${where}, but reading them back lacks ${missing.map((rule) => rule.ID).join(", ")}`,
      );
    }
    items.push({ setting: "lifecycle", status: "changed", detail: `${summary} (verified)` });
  }

  return {
    bucket,
    prefix,
    applied: apply,
    items,
    lifecycle: merge,
    changed: items.some((item) => item.status === "changed"),
    drift: items.some((item) => item.status === "drift"),
  };
}

async function send<T>(where: string, action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw s3Error(action, where, error);
  }
}

/** "Enabled", "Suspended" or "Unversioned" (a never-versioned bucket reports no status). */
async function readVersioning(client: S3Client, bucket: string): Promise<string> {
  const result = await send(`s3://${bucket}`, "read versioning of", () =>
    client.send(new GetBucketVersioningCommand({ Bucket: bucket })),
  );
  return result.Status ?? "Unversioned";
}

async function readObjectLock(client: S3Client, bucket: string): Promise<LockState> {
  try {
    const result = await client.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    const config = result.ObjectLockConfiguration;
    const retention = config?.Rule?.DefaultRetention;
    return {
      enabled: config?.ObjectLockEnabled === "Enabled",
      mode: retention?.Mode,
      days: retention?.Days || undefined,
      years: retention?.Years || undefined, // moto echoes Years: 0 next to Days
    };
  } catch (error) {
    if (errorCodeOf(error) === "ObjectLockConfigurationNotFoundError") return { enabled: false };
    throw s3Error("read the Object Lock configuration of", `s3://${bucket}`, error);
  }
}

async function readLifecycle(client: S3Client, bucket: string): Promise<LifecycleRule[]> {
  try {
    const result = await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
    return result.Rules ?? [];
  } catch (error) {
    if (errorCodeOf(error) === "NoSuchLifecycleConfiguration") return [];
    throw s3Error("read the lifecycle configuration of", `s3://${bucket}`, error);
  }
}

function lockMatches(lock: LockState, want: ObjectLockPolicy): boolean {
  return lock.enabled && lock.mode === want.mode && lock.days === want.days && lock.years === undefined;
}

function describeLock(lock: LockState): string {
  if (!lock.enabled) return "Object Lock disabled";
  if (lock.mode === undefined) return "no default retention";
  const period = lock.years !== undefined ? `${lock.years} years` : `${lock.days ?? 0} days`;
  return `${lock.mode} ${period}`;
}

function describeMerge(merge: LifecycleMerge, options: BucketSetupOptions): string {
  const parts: string[] = [];
  for (const [label, ids] of [
    ["added", merge.added],
    ["updated", merge.updated],
    ["removed", merge.removed],
    ["unchanged", merge.unchanged],
    ["kept foreign", merge.foreign],
  ] as const) {
    if (ids.length > 0) parts.push(`${label}: ${ids.join(", ")}`);
  }
  const noncurrent = options.lifecycle.noncurrentVersionExpirationDays;
  if (options.objectLock !== undefined && noncurrent !== undefined && noncurrent < options.objectLock.days) {
    parts.push(
      `note: noncurrent versions expire after ${noncurrent} days but stay locked for ${options.objectLock.days}; they go when the lock ends`,
    );
  }
  return parts.join("; ");
}

function validateLockPolicy(policy: ObjectLockPolicy): void {
  if (policy.mode !== "GOVERNANCE" && policy.mode !== "COMPLIANCE") {
    throw new UsageError(`objectLock.mode must be GOVERNANCE or COMPLIANCE, got ${String(policy.mode)}`);
  }
  if (!Number.isSafeInteger(policy.days) || policy.days < 1) {
    throw new UsageError(`objectLock.days must be a whole number ≥ 1, got ${policy.days}`);
  }
}

/** Lifecycle filters use the raw key prefix: "prod" means the repository under "prod/". */
function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  return trimmed === "" ? "" : `${trimmed}/`;
}
