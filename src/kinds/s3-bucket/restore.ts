/**
 * Disaster restore of an `s3-bucket` snapshot: `--to s3://bucket[/prefix]`. Each object goes to
 * `<prefix><original key>`, from its version in the job's bucket (server-side copy when the
 * target is the same server with the same credentials), or from the repository copy when the
 * version is gone. Restoring onto the job's own bucket and prefix rolls objects back: each key
 * gets a new current version with the snapshot's content (older versions stay).
 *
 * A non-empty target prefix is refused without --force; with --force objects of the snapshot are
 * written over and other objects are KEPT. Connection of the target: see connection.ts.
 * Afterwards the target's listing is checked against the manifest; any object missing, of another
 * size, or whose bytes (when known) differ fails the restore.
 */
import type { S3BucketJob } from "./job-schema.js";
import { OperationError, UsageError } from "../../errors.js";
import type { RestoreContext, RestorePlan } from "../contract.js";
import type { S3Connection } from "./connection.js";
import { clientFor, jobConnection, restoreConnection } from "./connection.js";
import { checkS3Facts, type S3BucketFacts } from "./facts.js";
import { requireArtifacts } from "../facts-values.js";
import type { S3BucketRestoreOptions } from "./restore-options.js";
import { objectArtifacts, readObjectEntries } from "./read-manifest.js";
import { listKeys, restoreObjects } from "./restore-objects.js";

type S3BucketRestoreContext = RestoreContext<S3BucketJob, S3BucketFacts, S3BucketRestoreOptions>;

/** What apply executes: the target bucket, how to reach it, and how objects travel. */
export interface S3BucketRestorePlan {
  bucket: string;
  prefix: string;
  connection: S3Connection;
  sameServer: boolean;
}

export async function planS3BucketRestore(
  context: S3BucketRestoreContext,
): Promise<RestorePlan<S3BucketRestorePlan>> {
  const { job, options, env, signal, facts } = context;
  checkS3Facts(facts, context.artifacts, job);
  const to = { bucket: options.bucket, prefix: options.prefix };
  const { connection, sameServer } = await restoreConnection(job, options, env, context.jobFile);
  const warnings: string[] = [];
  const client = clientFor(connection);
  try {
    const existing = await listKeys(client, to.bucket, to.prefix, signal, 1);
    if (existing.size > 0) {
      warnings.push(
        context.force
          ? `s3://${to.bucket}/${to.prefix} is not empty: objects of the snapshot get a new version with the snapshot's content, other objects are kept`
          : `s3://${to.bucket}/${to.prefix} is not empty: the restore refuses without --force`,
      );
    }
  } finally {
    client.destroy();
  }
  const how = sameServer
    ? "server-side CopyObject of each version"
    : "GET of each version from the job's bucket and upload";
  return {
    steps: [
      `restore ${facts.objects} objects (${facts.bytes} bytes) of s3://${facts.bucket}/${facts.prefix} to s3://${to.bucket}/${to.prefix}<key> on ${connection.endpoint ?? "AWS"}: ${how}` +
        (facts.copied ? "; versions that are gone come from the repository copies" : ""),
      `check that every key is there with the snapshot's size (and content, where the bytes passed through backdrill)`,
    ],
    warnings: facts.copied
      ? warnings
      : [
          ...warnings,
          "the snapshot has no copies in the repository (copy: false): objects whose version expired cannot be restored",
        ],
    data: { ...to, connection, sameServer },
  };
}

export async function applyS3BucketRestore(
  context: S3BucketRestoreContext,
  plan: RestorePlan<S3BucketRestorePlan>,
): Promise<void> {
  const { job, env, signal, log, scope, facts } = context;
  const { connection, sameServer, ...to } = plan.data;
  const targetClient = clientFor(connection);
  scope.defer("restore target S3 client", () => targetClient.destroy());
  const existing = await listKeys(targetClient, to.bucket, to.prefix, signal, 1);
  if (existing.size > 0 && !context.force) {
    throw new UsageError(`--to s3://${to.bucket}/${to.prefix} is not empty; refusing to restore over it`, {
      hint: "restore to an empty prefix, or pass --force (objects of the snapshot get a new version; other objects are kept)",
    });
  }
  const sourceClient = sameServer ? targetClient : clientFor(await jobConnection(job, env, context.jobFile));
  if (!sameServer) scope.defer("job S3 client", () => sourceClient.destroy());
  const entries = await readObjectEntries(context.artifacts, facts.manifestArtifact, signal);
  requireArtifacts(context.artifacts, objectArtifacts(entries));
  const result = await restoreObjects({
    entries,
    // The job's bucket (checkS3Facts made sure the facts name the same).
    source: { client: sourceClient, bucket: job.bucket },
    target: { client: targetClient, bucket: to.bucket, prefix: to.prefix },
    serverSide: sameServer,
    preferRepository: false,
    artifacts: context.artifacts,
    signal,
    log,
  });

  const listed = await listKeys(targetClient, to.bucket, to.prefix, signal);
  const problems: string[] = result.failures.map((f) => `${JSON.stringify(f.key)}: ${f.reason}`);
  const sent = new Map(result.restored.map((r) => [r.key, r.sent]));
  for (const entry of entries) {
    const size = listed.get(`${to.prefix}${entry.key}`);
    if (result.failures.some((f) => f.key === entry.key)) continue;
    if (size === undefined) problems.push(`${JSON.stringify(entry.key)}: missing after the restore`);
    else if (size !== entry.size)
      problems.push(`${JSON.stringify(entry.key)}: size ${size}, expected ${entry.size}`);
    const bytes = sent.get(entry.key);
    if (bytes !== undefined && entry.sha256 !== undefined && bytes.sha256 !== entry.sha256) {
      problems.push(`${JSON.stringify(entry.key)}: content differs from the snapshot (sha256)`);
    }
  }
  if (problems.length > 0) {
    throw new OperationError(
      `restore of ${job.name} to s3://${to.bucket}/${to.prefix}: ${problems.length} of ${entries.length} objects failed: ${problems.slice(0, 5).join("; ")}${problems.length > 5 ? "; …" : ""}`,
    );
  }
  log.info(
    { objects: entries.length, bytes: result.bytes, to: `s3://${to.bucket}/${to.prefix}` },
    "s3-bucket restore: verified",
  );
}
