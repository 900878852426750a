/**
 * Hostile s3-bucket snapshots, restored into a bucket on the same S3 server: facts naming another
 * bucket that the job's credentials can read (a restore would copy its objects into the target),
 * and an object entry whose "copy" is another artifact of the snapshot (its facts, uploaded as an
 * object). Refused before anything is uploaded; the target bucket stays empty.
 */
import {
  CreateBucketCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Container, type StartedS3Container } from "../../support/containers/s3.js";
import { hostileWorld, SLOW, type HostileWorld } from "./kind-support.js";

const JOB = "bucket";
const BUCKET = "task-files";
const SECRETS = "payroll-secrets";
let world: HostileWorld;
let s3: StartedS3Container;
let client: S3Client;
let env: Record<string, string>;
let secretVersion: string;
let targets = 0;

function facts(over: Record<string, unknown> = {}): unknown {
  return {
    format: 1,
    bucket: BUCKET,
    prefix: "",
    objects: 1,
    bytes: 6,
    copied: false,
    setup: [],
    manifestArtifact: "objects.jsonl",
    listedAt: new Date().toISOString(),
    ...over,
  };
}

async function freshTarget(): Promise<string> {
  targets += 1;
  const bucket = `hostile-target-${targets}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

async function keys(bucket: string): Promise<string[]> {
  const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (page.Contents ?? []).map((object) => object.Key ?? "");
}

beforeAll(async () => {
  world = await hostileWorld("hostile-s3");
  s3 = await new S3Container().start();
  client = s3.client();
  for (const bucket of [BUCKET, SECRETS]) {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await client.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } }),
    );
  }
  const put = await client.send(
    new PutObjectCommand({ Bucket: SECRETS, Key: "salaries.csv", Body: "alice,1" }),
  );
  secretVersion = put.VersionId ?? "null";
  env = { TASK_S3_ACCESS_KEY: s3.accessKeyId, TASK_S3_SECRET_KEY: s3.secretAccessKey };
  await world.writeJob({
    name: JOB,
    kind: "s3-bucket",
    bucket: BUCKET,
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    accessKeyIdEnv: "TASK_S3_ACCESS_KEY",
    secretAccessKeyEnv: "TASK_S3_SECRET_KEY",
  });
}, SLOW);

afterAll(async () => {
  client?.destroy();
  await s3?.stop();
  await world?.remove();
}, SLOW);

describe("hostile s3-bucket snapshots", () => {
  it(
    "restore: facts naming another bucket are refused; its objects are not copied into the target",
    async () => {
      const forged = await world.forge(JOB, "s3-bucket", {
        artifacts: {
          "objects.jsonl": `${JSON.stringify({
            key: "salaries.csv",
            versionId: secretVersion,
            etag: "0".repeat(32),
            size: 7,
            lastModified: new Date().toISOString(),
          })}\n`,
        },
        facts: facts({ bucket: SECRETS }),
      });
      const target = await freshTarget();
      const result = await world.restore(JOB, forged.id, `s3://${target}`, [], env);
      expect(await keys(target)).toEqual([]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /its facts say it lists bucket payroll-secrets, but job bucket's bucket is task-files/,
      );
    },
    SLOW,
  );

  it(
    "restore: an object whose copy is another artifact (the facts) is refused; nothing is uploaded",
    async () => {
      const forged = await world.forge(JOB, "s3-bucket", {
        artifacts: {
          "objects.jsonl": `${JSON.stringify({
            key: "leaked-facts.json",
            versionId: "gone-version",
            etag: "0".repeat(32),
            size: 10,
            lastModified: new Date().toISOString(),
            artifact: "facts.json",
          })}\n`,
        },
        facts: facts({ copied: true }),
      });
      const target = await freshTarget();
      const result = await world.restore(JOB, forged.id, `s3://${target}`, [], env);
      expect(await keys(target)).toEqual([]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /objects\.jsonl line 1 is not an object entry \(artifact: not an object artifact/,
      );
    },
    SLOW,
  );
});
