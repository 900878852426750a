/**
 * Per-policy checks: can the repository be reached (and, on disk, written), does an S3 repository
 * bucket have the versioning / lifecycle rules / Object Lock the policy asks for, can the
 * recipients be read; and per job: is its run lock free.
 *
 * Doctor changes nothing: the marker is read, not written; write access on disk is asked of the
 * kernel (access(2)), never tried; bucket settings come from `prepareRepositoryBucket` with
 * `apply: false`, which only reports drift.
 */
import {
  prepareRepositoryBucket,
  probeRepositoryConditionalWrites,
  repositorySigning,
} from "../../repository/open.js";
import { UNSIGNED_POLICY_WARNING } from "../../config/describe.js";
import { readRecipients } from "../../secrets/resolve.js";
import type { LoadedJob, LoadedPolicy } from "../../config/types.js";
import { IntegrityError, LockHeldError, UsageError } from "../../errors.js";
import type { Repository } from "../../repository/repository.js";
import type { BucketSetupItem, BucketSetupReport } from "../../storage/s3/bucket-setup.js";
import { describeHolder, inspectLock } from "../../repository/locks.js";
import type { DoctorContext } from "./context.js";
import type { Finding } from "../../preflight/report.js";
import { fail, failureOf, ok, shared, SkipCheck, warn, type CheckSpec } from "../../preflight/runner.js";
import { checkWritableDir } from "../../preflight/fs-checks.js";

async function repositoryCheck(context: DoctorContext, policy: LoadedPolicy): Promise<Finding> {
  const config = policy.policy.repository;
  if (config.type === "local") {
    const dir = await checkWritableDir(config.path, "repository.path");
    if (dir.status !== "ok") return dir;
  }
  const repository = await context.repository(policy);
  try {
    await repository.assertInitialized();
  } catch (error) {
    if (error instanceof UsageError && /no backdrill repository/.test(error.message)) {
      return warn(
        `${repository.location} is reachable but holds no repository yet (no backdrill.json)`,
        "the first backup initialises it; if backups already ran, check the policy's repository settings",
      );
    }
    if (error instanceof IntegrityError) {
      return fail(error.message, "point repository at an empty location or at a backdrill repository");
    }
    throw error;
  }
  return ok(
    config.type === "local"
      ? `${repository.location}: repository marker present, directory writable`
      : `${repository.location}: repository marker present (write access is not tried: doctor writes nothing)`,
  );
}

/** The bucket cannot meet the policy at all (no Object Lock): reported by the object lock check. */
function isLockRefusal(error: unknown): boolean {
  return error instanceof Error && /does not have Object Lock enabled/.test(error.message);
}

function itemFinding(item: BucketSetupItem | undefined, whoChanges: string): Finding {
  if (item === undefined) return ok("not reported");
  if (item.status === "drift") {
    return warn(`${item.detail}`, `the next ${whoChanges} changes it (or set it on the bucket yourself)`);
  }
  return ok(item.detail === "" ? "as the policy asks" : item.detail);
}

function bucketChecks(context: DoctorContext, policy: LoadedPolicy, subject: string): CheckSpec[] {
  const setup = shared<BucketSetupReport | null>(
    () => prepareRepositoryBucket(policy, context.env, { apply: false }),
    context,
  );
  const item = async (setting: BucketSetupItem["setting"]) => {
    const report = await setup();
    return report?.items.find((entry) => entry.setting === setting);
  };
  return [
    {
      subject,
      name: "bucket versioning",
      run: async () => {
        try {
          return itemFinding(await item("versioning"), "backup");
        } catch (error) {
          if (isLockRefusal(error))
            throw new SkipCheck("the bucket cannot meet the policy (see object lock)");
          throw error;
        }
      },
    },
    {
      subject,
      name: "bucket lifecycle",
      run: async () => {
        try {
          return itemFinding(await item("lifecycle"), "backup or prune");
        } catch {
          throw new SkipCheck("bucket settings could not be read (see bucket versioning)");
        }
      },
    },
    {
      subject,
      name: "object lock",
      run: async () => {
        try {
          return itemFinding(await item("objectLock"), "backup");
        } catch (error) {
          // A lock policy on a bucket created without Object Lock cannot be repaired in place.
          if (isLockRefusal(error)) return failureOf(error);
          throw new SkipCheck("bucket settings could not be read (see bucket versioning)");
        }
      },
    },
  ];
}

/**
 * Locks and never-overwrite writes depend on the S3 server refusing a second `If-None-Match: *`
 * create. Only where the host writes (scope backup or all): it puts and deletes a probe object.
 */
function conditionalWritesCheck(context: DoctorContext, policy: LoadedPolicy, subject: string): CheckSpec {
  return {
    subject,
    name: "conditional writes",
    run: async (signal) => {
      let answer;
      try {
        answer = await probeRepositoryConditionalWrites(policy, context.env, signal);
      } catch (error) {
        return warn(
          `could not write a probe object to check If-None-Match: ${error instanceof Error ? error.message : String(error)}`,
          "a host with read-only repository credentials (a drill host) cannot check this; run doctor on the backup host",
        );
      }
      if (answer === "ignored") {
        return fail(
          "the S3 server ignores If-None-Match: * (a second create of the same key succeeded): two backups of one job could both hold its lock, and a manifest could be overwritten",
          "use an S3 server that honours conditional writes (AWS, MinIO, recent moto/Ceph) before running backups against it",
        );
      }
      return ok("the server refuses a second create of the same key (If-None-Match: *), as locks need");
    },
  };
}

export function policyChecks(context: DoctorContext, policy: LoadedPolicy, writes = true): CheckSpec[] {
  const subject = `policy ${policy.policy.name}`;
  const checks: CheckSpec[] = [{ subject, name: "repository", run: () => repositoryCheck(context, policy) }];
  if (policy.policy.repository.type === "s3") {
    checks.push(...bucketChecks(context, policy, subject));
    if (writes) checks.push(conditionalWritesCheck(context, policy, subject));
  }
  checks.push({ subject, name: "signing", run: () => signingCheck(policy) });
  checks.push({
    subject,
    name: "recipients",
    run: async () => {
      const recipients = await readRecipients(policy);
      return ok(`${recipients.length} valid age recipient(s)`);
    },
  });
  return checks;
}

/**
 * Signed snapshots: without `signing` a warning (anyone with write access to the repository can
 * forge snapshots); with it, the key file is read (mode 0600, an Ed25519 key) when this host has
 * one, and some key must be trusted.
 */
async function signingCheck(policy: LoadedPolicy): Promise<Finding> {
  const signing = policy.policy.signing;
  if (signing === undefined) {
    return warn(
      UNSIGNED_POLICY_WARNING,
      "see docs/security.md (Signed snapshots); readers then list the public key in signing.publicKeys",
    );
  }
  let signed;
  try {
    signed = await repositorySigning(policy, { sign: signing.keyFile !== undefined });
  } catch (error) {
    // A host that only reads the repository need not hold the key, if it trusts public keys.
    if (!(error instanceof UsageError) || signing.publicKeys.length === 0) throw error;
    return warn(
      error.message,
      "fine on a host that only reads the repository (it verifies with signing.publicKeys); the backup host needs the key",
    );
  }
  const { trust, signer } = signed;
  const trusted = trust.publicKeys?.size ?? 0;
  if (signer === undefined)
    return ok(`verifies with ${trusted} trusted public key(s); this host signs nothing`);
  const listed = signing.publicKeys.includes(signer.publicKey)
    ? ""
    : `; its public key is not in signing.publicKeys (hosts that only read need it: ${signer.publicKey})`;
  return listed === ""
    ? ok(`signs with ${signing.keyFile} (${signer.publicKey}); ${trusted} trusted public key(s)`)
    : warn(
        `signs with ${signing.keyFile}${listed}`,
        "add it to signing.publicKeys of the policy (or of the drills) wherever snapshots are read",
      );
}

/** The policy's repository for a check that only reads from it; its own failure is reported once. */
export async function needRepository(context: DoctorContext, policy: LoadedPolicy): Promise<Repository> {
  try {
    return await context.repository(policy);
  } catch {
    throw new SkipCheck(`needs the repository (see policy ${policy.policy.name}: repository)`);
  }
}

export function lockCheck(context: DoctorContext, job: LoadedJob, policy: LoadedPolicy): CheckSpec {
  return {
    subject: `job ${job.job.name}`,
    name: "lock",
    run: async () => {
      const repository = await needRepository(context, policy);
      let state;
      try {
        state = await inspectLock(repository, job.job.name);
      } catch (error) {
        // An unreadable lock file younger than the TTL: runs treat it as held.
        if (error instanceof LockHeldError) return warn(error.message, error.hint);
        throw error;
      }
      if (state.state === "free") return ok("free");
      if (state.state === "held") {
        return warn(
          `held by ${describeHolder(state.lock)} (a run is in progress; another run now would exit 3)`,
          "fine while that run lasts; if it does not finish, see backdrill status",
        );
      }
      return warn(
        `stale lock${state.lock === null ? "" : ` of ${describeHolder(state.lock)}`}: ${state.reason}`,
        "the next run takes it over automatically; look at why the previous run died (logs)",
      );
    },
  };
}
