import { randomBytes } from "node:crypto";
import type { S3RepositoryConfig } from "../schema/policy.js";
import { resolveSecret } from "../secrets/resolve.js";
import type { LoadedPolicy } from "../config/types.js";
import { Repository } from "./repository.js";
import { makeTrust, type RepositoryTrust } from "./trust.js";
import { readSigningKeyFile, type SigningKey } from "../crypto/signing.js";
import { UsageError } from "../errors.js";
import type { Backend } from "../storage/backend.js";
import { LocalBackend } from "../storage/local/local-backend.js";
import { withRetry } from "../storage/retry.js";
import type { BucketSetupReport } from "../storage/s3/bucket-setup.js";
import type { S3ConnectionOptions } from "../storage/s3/client.js";
import type { LifecyclePolicy } from "../storage/s3/lifecycle-rules.js";
import type { ConditionalWrites } from "../storage/s3/conditional-write-probe.js";

// The S3 modules (and the AWS SDK behind them, ~170 ms and ~15 MiB at start-up) are imported
// where an S3 repository is opened, so a run against a local repository never loads them.

/** Incomplete multipart uploads of crashed runs are removed by the bucket after this many days. */
const ABORT_INCOMPLETE_UPLOAD_DAYS = 7;
/**
 * Versions made noncurrent by prune stay this long after any Object Lock retention ends: a
 * deletion by mistake (or by an attacker with the backup host's keys) can be undone for a week.
 */
const NONCURRENT_GRACE_DAYS = 7;

async function s3Connection(
  source: LoadedPolicy,
  repository: S3RepositoryConfig,
  env: NodeJS.ProcessEnv,
): Promise<S3ConnectionOptions> {
  const where = (path: string) => ({
    file: source.file,
    path: `${source.repositoryField ?? "repository"}.${path}`,
  });
  const accessKeyId =
    repository.accessKeyIdEnv === undefined
      ? undefined
      : await resolveSecret({ env: repository.accessKeyIdEnv }, where("accessKeyIdEnv"), env);
  const secretAccessKey =
    repository.secretAccessKeyEnv === undefined
      ? undefined
      : await resolveSecret({ env: repository.secretAccessKeyEnv }, where("secretAccessKeyEnv"), env);
  const { s3Tuning } = await import("../storage/s3/client.js");
  return {
    ...(repository.endpoint === undefined || repository.endpoint === ""
      ? {}
      : { endpoint: repository.endpoint }),
    region: repository.region,
    forcePathStyle: repository.forcePathStyle,
    ...(accessKeyId !== undefined && secretAccessKey !== undefined
      ? { credentials: { accessKeyId, secretAccessKey } }
      : {}),
    ...s3Tuning(repository),
  };
}

/**
 * The policy as seen from its copy `n` (1-based, the Nth entry of `copies`): the same policy
 * (recipients, signing, retention) with that copy as its repository, so that everything that
 * opens or prepares "the policy's repository" works on the copy unchanged.
 */
export function copyPolicy(source: LoadedPolicy, n: number): LoadedPolicy {
  const copies = source.policy.copies ?? [];
  const repository = copies[n - 1];
  if (!Number.isInteger(n) || repository === undefined) {
    throw new UsageError(
      `${source.file}: policy ${source.policy.name} has ${copies.length === 0 ? "no copies" : `copies 1 to ${copies.length}`}; there is no copy ${n}`,
      { hint: "add the second repository to the policy's copies: list (same fields as repository)" },
    );
  }
  return {
    file: source.file,
    policy: { ...source.policy, repository },
    repositoryField: `copies.${n - 1}`,
  };
}

/**
 * Builds the policy's backend (credentials resolved from env/files at this moment, never stored)
 * wrapped in the retry policy: the one place where storage is composed, like restic's main.
 */
export async function openBackend(source: LoadedPolicy, env: NodeJS.ProcessEnv): Promise<Backend> {
  const repository = source.policy.repository;
  if (repository.type === "local") return new LocalBackend({ path: repository.path });
  const connection = await s3Connection(source, repository, env);
  const { S3Backend } = await import("../storage/s3/s3-backend.js");
  return withRetry(
    new S3Backend({
      ...connection,
      bucket: repository.bucket,
      prefix: repository.prefix,
      ...(repository.partSizeMiB === undefined
        ? {}
        : { partSizeBytes: repository.partSizeMiB * 1024 * 1024 }),
    }),
  );
}

export interface OpenRepositoryOptions {
  /**
   * This run writes snapshots or WAL records: load the policy's signing key (signing.keyFile)
   * so that what it writes is signed. Without `signing` in the policy nothing is signed.
   */
  sign?: boolean;
  /** Public keys trusted on top of the policy's (a drill's `signing.publicKeys`). */
  publicKeys?: readonly string[];
  /** Accept unsigned snapshots although signing is configured (`restore --allow-unsigned`). */
  allowUnsigned?: boolean;
}

/**
 * What a run on this host trusts in the policy's repository, and the key it signs with (only
 * with `sign`). Signing is required as soon as the policy has `signing` or the caller brings
 * public keys; the trusted keys are `signing.publicKeys`, the caller's, and the public half of
 * `signing.keyFile` when this host can read it (the backup host trusts its own signatures).
 */
export async function repositorySigning(
  source: LoadedPolicy,
  options: OpenRepositoryOptions = {},
): Promise<{ trust: RepositoryTrust; signer?: SigningKey }> {
  const signing = source.policy.signing;
  const extra = options.publicKeys ?? [];
  const allowUnsigned = options.allowUnsigned ?? false;
  if (signing === undefined && extra.length === 0) return { trust: makeTrust({ allowUnsigned }) };
  const keys = new Set<string>([...(signing?.publicKeys ?? []), ...extra]);
  const field = `${source.file}: signing.keyFile`;
  let signer: SigningKey | undefined;
  if (options.sign === true && signing !== undefined) {
    if (signing.keyFile === undefined) {
      throw new UsageError(
        `${source.file}: signing.keyFile is not set, so this host cannot sign what it writes, and every reader would refuse it`,
        {
          hint: "create a key with `backdrill keys signing-keygen --out FILE` and set signing.keyFile to it",
        },
      );
    }
    signer = await readSigningKeyFile(signing.keyFile, field);
    keys.add(signer.publicKey);
  } else if (signing?.keyFile !== undefined) {
    try {
      keys.add((await readSigningKeyFile(signing.keyFile, field)).publicKey);
    } catch (error) {
      // A host that only reads the repository need not hold the private key; it lists public keys.
      if (keys.size === 0) {
        throw new UsageError(
          `${source.file}: signing is configured, but no trusted key is available here: signing.publicKeys is empty and ${error instanceof Error ? error.message : String(error)}`,
          {
            hint: "list the signing public key (ed25519:…) in signing.publicKeys of the policy or of the drill",
          },
        );
      }
    }
  }
  return {
    trust: makeTrust({ publicKeys: keys, allowUnsigned }),
    ...(signer === undefined ? {} : { signer }),
  };
}

export async function openRepository(
  source: LoadedPolicy,
  env: NodeJS.ProcessEnv,
  options: OpenRepositoryOptions = {},
): Promise<Repository> {
  const signing = await repositorySigning(source, options);
  return new Repository(await openBackend(source, env), signing);
}

/** The lifecycle rules backdrill owns on an S3 repository bucket, derived from the policy. */
export function repositoryLifecycle(repository: S3RepositoryConfig): LifecyclePolicy {
  return {
    abortIncompleteMultipartUploadDays: ABORT_INCOMPLETE_UPLOAD_DAYS,
    noncurrentVersionExpirationDays: (repository.objectLock?.days ?? 0) + NONCURRENT_GRACE_DAYS,
  };
}

/**
 * Before writing to an S3 repository: versioning on and verified, our lifecycle rules merged with
 * the bucket's others, Object Lock default retention when the policy asks for it. `apply: false`
 * only reports drift (doctor, dry runs). Local repositories need nothing: returns null.
 */
export async function prepareRepositoryBucket(
  source: LoadedPolicy,
  env: NodeJS.ProcessEnv,
  options: { apply?: boolean } = {},
): Promise<BucketSetupReport | null> {
  const repository = source.policy.repository;
  if (repository.type !== "s3") return null;
  const { createS3Client } = await import("../storage/s3/client.js");
  const { ensureRepositoryBucket } = await import("../storage/s3/bucket-setup.js");
  const client = createS3Client(await s3Connection(source, repository, env));
  try {
    return await ensureRepositoryBucket(client, repository.bucket, {
      prefix: repository.prefix,
      lifecycle: repositoryLifecycle(repository),
      objectLock: repository.objectLock,
      apply: options.apply ?? true,
    });
  } finally {
    client.destroy();
  }
}

/**
 * Whether the policy's S3 server honours `If-None-Match: *` (locks depend on it); null for a local
 * repository. Writes and deletes one probe object under `locks/`.
 */
export async function probeRepositoryConditionalWrites(
  source: LoadedPolicy,
  env: NodeJS.ProcessEnv,
  signal?: AbortSignal,
): Promise<ConditionalWrites | null> {
  const repository = source.policy.repository;
  if (repository.type !== "s3") return null;
  const { createS3Client } = await import("../storage/s3/client.js");
  const { probeConditionalWrites } = await import("../storage/s3/conditional-write-probe.js");
  const client = createS3Client(await s3Connection(source, repository, env));
  try {
    const prefix = repository.prefix === "" ? "" : `${repository.prefix.replace(/\/+$/, "")}/`;
    const key = `${prefix}locks/.doctor-probe-${randomBytes(6).toString("hex")}`;
    return await probeConditionalWrites(client, repository.bucket, key, signal);
  } finally {
    client.destroy();
  }
}
