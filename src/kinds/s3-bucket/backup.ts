/**
 * Backup of an `s3-bucket` job:
 *   1. ensure versioning + lifecycle on the bucket (setup.ts; modify: false only checks);
 *   2. list every version (ListObjectVersions, paginated) and keep the current one of each key;
 *   3. with copy: true, stream each current version's bytes into the repository (encrypted) as
 *      `obj-<index>`, recording its sha256;
 *   4. store the manifest as the encrypted `objects.jsonl`.
 * Versioning makes the listing a snapshot: the versions it names stay readable after overwrites
 * and deletes until the noncurrent-version expiration removes them (copy: true outlives that).
 */
import { Readable } from "node:stream";
import { ListObjectVersionsCommand, type S3Client } from "@aws-sdk/client-s3";
import type { S3BucketJob } from "./job-schema.js";
import { OperationError } from "../../errors.js";
import { s3Error } from "../../storage/s3/s3-errors.js";
import type { BackupContext, BackupOutcome } from "../contract.js";
import { forEachLimit } from "../../util/for-each-limit.js";
import { clientFor, jobConnection } from "./connection.js";
import { S3_FACTS_FORMAT, type S3BucketFacts } from "./facts.js";
import { artifactNameFor, currentVersions, OBJECTS_ARTIFACT, type ObjectEntry } from "./objects.js";
import { ensureJobBucket } from "./setup.js";
import { HashTap, openVersion } from "./transfer.js";

const COPY_CONCURRENCY = 4;

export async function listCurrentObjects(
  client: S3Client,
  bucket: string,
  prefix: string,
  signal: AbortSignal,
): Promise<ObjectEntry[]> {
  const objects: ObjectEntry[] = [];
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  for (;;) {
    signal.throwIfAborted();
    let page;
    try {
      page = await client.send(
        new ListObjectVersionsCommand({
          Bucket: bucket,
          ...(prefix === "" ? {} : { Prefix: prefix }),
          ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
          ...(versionIdMarker === undefined ? {} : { VersionIdMarker: versionIdMarker }),
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      throw s3Error("list the object versions of", `s3://${bucket}/${prefix}`, error);
    }
    objects.push(...currentVersions(page.Versions ?? []));
    if (page.IsTruncated !== true) break;
    keyMarker = page.NextKeyMarker;
    versionIdMarker = page.NextVersionIdMarker;
    if (keyMarker === undefined)
      throw new OperationError(`s3://${bucket}: truncated version listing without a next marker`);
  }
  return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export async function backupS3Bucket(
  context: BackupContext<S3BucketJob>,
): Promise<BackupOutcome<S3BucketFacts>> {
  const { job, log, signal } = context;
  const client = clientFor(await jobConnection(job, context.env, context.jobFile));
  try {
    const setup = await ensureJobBucket(client, job);
    for (const item of setup.items.filter((i) => i.status === "changed")) {
      log.warn(
        { bucket: job.bucket, setting: item.setting, detail: item.detail },
        "s3-bucket: drift corrected",
      );
    }
    const prefix = job.prefix ?? "";
    const listedAt = new Date().toISOString();
    const objects = await listCurrentObjects(client, job.bucket, prefix, signal);
    log.info({ bucket: job.bucket, objects: objects.length }, "s3-bucket: listed current versions");

    if (job.copy) {
      const indexed = objects.map((entry, index) => ({ entry, index }));
      await forEachLimit(indexed, COPY_CONCURRENCY, async ({ entry, index }) => {
        const body = await openVersion(client, job.bucket, entry, signal);
        if (body === "gone") {
          throw new OperationError(
            `job ${job.name}: s3://${job.bucket}/${entry.key} version ${entry.versionId} vanished while copying`,
          );
        }
        const tap = new HashTap();
        body.body.on("error", (error) => tap.destroy(error));
        const name = artifactNameFor(index);
        const record = await context.snapshot.addArtifact(name, body.body.pipe(tap), { signal });
        const digests = tap.digests();
        if (digests.size !== entry.size) {
          throw new OperationError(
            `job ${job.name}: s3://${job.bucket}/${entry.key}: read ${digests.size} bytes, the listing said ${entry.size}`,
          );
        }
        entry.artifact = record.name;
        entry.sha256 = digests.sha256;
      });
    }

    const lines = objects.map((entry) => JSON.stringify(entry)).join("\n");
    await context.snapshot.addArtifact(
      OBJECTS_ARTIFACT,
      Readable.from([Buffer.from(lines === "" ? "" : `${lines}\n`)]),
      {
        signal,
      },
    );
    const bytes = objects.reduce((sum, entry) => sum + entry.size, 0);
    const facts: S3BucketFacts = {
      format: S3_FACTS_FORMAT,
      bucket: job.bucket,
      prefix,
      objects: objects.length,
      bytes,
      copied: job.copy,
      setup: setup.items.map((item) => ({ ...item })),
      manifestArtifact: OBJECTS_ARTIFACT,
      listedAt,
    };
    return {
      facts,
      meta: {
        objects: objects.length,
        bytes,
        copied: job.copy,
        versioning: "Enabled",
        bucketChanged: setup.changed,
      },
    };
  } finally {
    client.destroy();
  }
}
