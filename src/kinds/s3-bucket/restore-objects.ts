/**
 * Puts a snapshot's objects into a bucket/prefix, shared by the drill and the disaster restore.
 * Per object, in order of preference:
 *   - restore: the version in the job's bucket (server-side CopyObject when the target is on the
 *     same server with the same credentials, else GET + streaming upload), then the repository
 *     copy when the version is gone (expired, or the bucket lost);
 *   - drill: the repository copy first when there is one (that is what the drill must prove),
 *     else the version.
 * An object that can be had from neither is a failure, reported by key; the others go on.
 */
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import type { ArtifactReader } from "../contract.js";
import type { Logger } from "../../log/logger.js";
import { s3Error } from "../../storage/s3/s3-errors.js";
import { forEachLimit } from "../../util/for-each-limit.js";
import type { ObjectEntry } from "./objects.js";
import { copyVersion, openVersion, uploadStream } from "./transfer.js";

const CONCURRENCY = 4;

export interface RestoreObjectsInput {
  entries: readonly ObjectEntry[];
  /** The job's bucket, for versions; undefined when unreachable or not wanted. */
  source: { client: S3Client; bucket: string } | undefined;
  target: { client: S3Client; bucket: string; prefix: string };
  /** Versions can be copied server-side (same server, same credentials). */
  serverSide: boolean;
  preferRepository: boolean;
  artifacts: ArtifactReader;
  signal: AbortSignal;
  log: Logger;
}

export interface RestoredObject {
  key: string;
  from: "version" | "repository";
  /** Digests of the bytes sent (absent for server-side copies, which send none). */
  sent?: { md5: string; sha256: string; size: number };
}

export interface RestoreObjectsResult {
  restored: RestoredObject[];
  failures: Array<{ key: string; reason: string }>;
  bytes: number;
}

export async function restoreObjects(input: RestoreObjectsInput): Promise<RestoreObjectsResult> {
  const result: RestoreObjectsResult = { restored: [], failures: [], bytes: 0 };
  await forEachLimit(input.entries, CONCURRENCY, async (entry) => {
    input.signal.throwIfAborted();
    const to = { bucket: input.target.bucket, key: `${input.target.prefix}${entry.key}` };
    const fromRepository = async (): Promise<RestoredObject> => {
      const body = await input.artifacts.open(entry.artifact as string, { signal: input.signal });
      const sent = await uploadStream(
        input.target.client,
        to,
        { body, contentType: undefined, metadata: undefined },
        input.signal,
      );
      return { key: entry.key, from: "repository", sent };
    };
    const fromVersion = async (): Promise<RestoredObject | "gone"> => {
      if (input.source === undefined) return "gone";
      if (input.serverSide) {
        const copied = await copyVersion(
          input.source.client,
          { bucket: input.source.bucket, entry },
          to,
          input.signal,
        );
        return copied === "gone" ? "gone" : { key: entry.key, from: "version" };
      }
      const body = await openVersion(input.source.client, input.source.bucket, entry, input.signal);
      if (body === "gone") return "gone";
      return {
        key: entry.key,
        from: "version",
        sent: await uploadStream(input.target.client, to, body, input.signal),
      };
    };

    let outcome: RestoredObject | "gone";
    if (input.preferRepository && entry.artifact !== undefined) outcome = await fromRepository();
    else {
      outcome = await fromVersion();
      if (outcome === "gone" && entry.artifact !== undefined) {
        input.log.warn(
          { key: entry.key, versionId: entry.versionId },
          "s3-bucket: version gone, using the repository copy",
        );
        outcome = await fromRepository();
      }
    }
    if (outcome === "gone") {
      result.failures.push({
        key: entry.key,
        reason: `version ${entry.versionId} is gone from the bucket and the snapshot has no copy (copy: false)`,
      });
      return;
    }
    result.restored.push(outcome);
    result.bytes += entry.size;
  });
  return result;
}

/** Every key and size under bucket/prefix (ListObjectsV2, paginated). */
export async function listKeys(
  client: S3Client,
  bucket: string,
  prefix: string,
  signal: AbortSignal,
  limit?: number,
): Promise<Map<string, number>> {
  const keys = new Map<string, number>();
  let token: string | undefined;
  do {
    let page;
    try {
      page = await client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          ...(prefix === "" ? {} : { Prefix: prefix }),
          ...(token === undefined ? {} : { ContinuationToken: token }),
          ...(limit === undefined ? {} : { MaxKeys: limit }),
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      throw s3Error("list", `s3://${bucket}/${prefix}`, error);
    }
    for (const object of page.Contents ?? [])
      if (object.Key !== undefined) keys.set(object.Key, object.Size ?? 0);
    token = page.IsTruncated === true && limit === undefined ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys;
}
