/**
 * SIGKILL trials of an s3-bucket backup (issue 9) with `copy: true`: every object version is
 * read from the application bucket (an S3 server container) and copied, encrypted, into the
 * local repository next to the version manifest; that copy is the long part the kills land in.
 * The repository invariants are checked by support/kill-trials.ts; the application bucket must
 * come out untouched (the same objects, nothing deleted or overwritten by a killed run).
 *
 * Data: 40 objects of 256 KiB of random bytes (10 MiB) plus a few small ones.
 */
import { randomBytes } from "node:crypto";
import { CreateBucketCommand, ListObjectVersionsCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Container, type StartedS3Container } from "../support/containers/s3.js";
import { makeFaultConfig, type FaultConfig } from "./support/fault-config.js";
import { runKillTrials } from "./support/kill-trials.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

const JOB = "task-bucket";
const BUCKET = "task-files";
const ACCESS_KEY = "AKIASIGKILLS3TEST";
const SECRET_KEY = "sigkill-s3-secret/4f2a9c";
let config: FaultConfig;
let s3: StartedS3Container;

async function versions(): Promise<string[]> {
  const client = s3.client();
  try {
    const listed = await client.send(new ListObjectVersionsCommand({ Bucket: BUCKET }));
    return (listed.Versions ?? []).map((version) => `${version.Key ?? ""}@${version.VersionId ?? ""}`).sort();
  } finally {
    client.destroy();
  }
}

beforeAll(async () => {
  config = await makeFaultConfig("sigkill-s3");
  s3 = await new S3Container().withCredentials(ACCESS_KEY, SECRET_KEY).start();
  const client = s3.client();
  try {
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    for (let i = 0; i < 40; i += 1) {
      await client.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: `uploads/${i}/attachment.bin`,
          Body: randomBytes(256 * 1024),
        }),
      );
    }
    for (let i = 0; i < 20; i += 1) {
      await client.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: `avatars/user-${i}.png`, Body: `avatar ${i}` }),
      );
    }
  } finally {
    client.destroy();
  }
  await config.writeJob({
    name: JOB,
    kind: "s3-bucket",
    bucket: BUCKET,
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    accessKeyIdEnv: "TASK_S3_ACCESS_KEY",
    secretAccessKeyEnv: "TASK_S3_SECRET_KEY",
    lifecycle: { noncurrentVersionExpirationDays: 35, abortIncompleteMultipartUploadDays: 7 },
    copy: true,
    modify: true,
  });
});

afterAll(async () => {
  await s3?.stop();
  await config?.remove();
});

describe("SIGKILL during s3-bucket backups (copy: true)", () => {
  it("never leaves a half snapshot; the bucket stays untouched; the next run and prune clean up", async () => {
    let before: string[] | undefined;
    const report = await runKillTrials({
      kind: "s3-bucket",
      job: JOB,
      configDir: config.configDir,
      repositoryDir: config.repositoryDir,
      identity: config.identity,
      env: { TASK_S3_ACCESS_KEY: ACCESS_KEY, TASK_S3_SECRET_KEY: SECRET_KEY },
      afterKill: async (trial) => {
        // The first run switched versioning on; from then on the version list must not change.
        before ??= await versions();
        expect(await versions(), `trial ${trial}: bucket unchanged`).toEqual(before);
      },
    });
    console.log(report.summary);
    expect(report.trials.length).toBeGreaterThanOrEqual(Number(process.env.BACKDRILL_FAULT_TRIALS) || 20);
    expect(before).toHaveLength(60);
  });
});
