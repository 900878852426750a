/**
 * `backdrill doctor` on an S3 repository: locks and every never-overwrite write depend on the
 * server refusing a second `If-None-Match: *` create. Against the S3 test server it passes; through
 * a proxy that drops the header (a server that ignores conditional writes, a fault moto cannot be
 * made to produce) it fails naming the problem, and a drill host (scope drill, read-only
 * credentials) is not asked to write.
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import YAML from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/keys.js";
import { S3Container, type StartedS3Container } from "../support/containers/s3.js";
import { runCli } from "../support/run-cli.js";
import { S3FaultProxy } from "../support/s3-fault-proxy.js";

let s3: StartedS3Container;
let proxy: S3FaultProxy;
let dir: string;

beforeAll(async () => {
  s3 = await new S3Container().start();
  const client = s3.client();
  await client.send(new CreateBucketCommand({ Bucket: "doctor-repository" }));
  client.destroy();
  proxy = await new S3FaultProxy(s3.endpoint).start();
  dir = await mkdtemp(path.join(os.tmpdir(), "doctor-s3-"));
  await mkdir(path.join(dir, "policies"));
  await mkdir(path.join(dir, "jobs"));
  await mkdir(path.join(dir, "source"));
  const key = await generateIdentity();
  await writeFile(
    path.join(dir, "policies", "s3.yaml"),
    YAML.stringify({
      name: "s3",
      repository: {
        type: "s3",
        bucket: "doctor-repository",
        prefix: "prod",
        endpoint: proxy.endpoint,
        region: s3.region,
        forcePathStyle: true,
        accessKeyIdEnv: "REPO_ACCESS_KEY",
        secretAccessKeyEnv: "REPO_SECRET_KEY",
      },
      encryption: { recipients: [key.recipient] },
      retention: { keepLast: 3 },
      rpo: "26h",
    }),
  );
  await writeFile(
    path.join(dir, "jobs", "task-files.yaml"),
    YAML.stringify({
      name: "task-files",
      kind: "files",
      policy: "s3",
      source: path.join(dir, "source"),
      destination: path.join(dir, "destination"),
    }),
  );
});

afterAll(async () => {
  await proxy?.stop();
  await s3?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const doctor = (...args: string[]) =>
  runCli(["--config-dir", dir, "doctor", ...args], {
    REPO_ACCESS_KEY: s3.accessKeyId,
    REPO_SECRET_KEY: s3.secretAccessKey,
  });

const conditionalLine = (stdout: string): string | undefined =>
  stdout.split("\n").find((line) => line.includes("policy s3: conditional writes"));

describe("doctor on an S3 repository: conditional writes", () => {
  it("passes when the server refuses a second If-None-Match: * create", async () => {
    proxy.ignoreConditionalWrites = false;
    const result = await doctor();
    expect(conditionalLine(result.stdout)).toMatch(/^ok +.*refuses a second create/);
  });

  it("fails naming the problem when the server ignores If-None-Match", async () => {
    proxy.ignoreConditionalWrites = true;
    try {
      const result = await doctor();
      expect(result.code).toBe(1);
      expect(conditionalLine(result.stdout)).toMatch(/^FAIL +.*ignores If-None-Match: \*.*lock/);
    } finally {
      proxy.ignoreConditionalWrites = false;
    }
  });

  it("does not write on a drill host (scope drill)", async () => {
    proxy.resetCounts();
    const result = await doctor("--scope", "drill");
    expect(conditionalLine(result.stdout)).toBeUndefined();
    expect(proxy.counts.get("PutObject") ?? 0).toBe(0);
  });
});
