/**
 * S3Backend and bucket setup against a real S3-compatible server (moto in a container): the shared
 * conformance suite on a plain bucket and on a versioned Object Lock bucket, plus what only S3
 * has — conditional writes racing at CompleteMultipartUpload, leftover multipart uploads,
 * versioning/lifecycle/Object Lock setup.
 */
import {
  CreateBucketCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketVersioningCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  type MultipartUpload,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AlreadyExistsError, OperationError } from "../../../src/errors.js";
import { redact } from "../../../src/log/redact.js";
import { ensureRepositoryBucket } from "../../../src/storage/s3/bucket-setup.js";
import { S3Backend, type S3BackendOptions } from "../../../src/storage/s3/s3-backend.js";
import {
  describeBackendConformance,
  interruptedStream,
  patternBytes,
  patternStream,
  readAll,
} from "../../support/backend-conformance.js";
import { S3Container, type StartedS3Container } from "../../support/containers/s3.js";

const MIB = 1024 * 1024;

let s3: StartedS3Container | undefined;
let admin: S3Client | undefined;

beforeAll(async () => {
  s3 = await new S3Container().start();
  admin = s3.client();
});

afterAll(async () => {
  admin?.destroy();
  await s3?.stop();
});

function server(): StartedS3Container {
  if (s3 === undefined) throw new Error("S3 container not started");
  return s3;
}

function client(): S3Client {
  if (admin === undefined) throw new Error("S3 container not started");
  return admin;
}

function backendOptions(
  bucket: string,
  prefix: string,
  extra: Partial<S3BackendOptions> = {},
): S3BackendOptions {
  const { endpoint, region, accessKeyId, secretAccessKey } = server();
  return {
    bucket,
    prefix,
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    ...extra,
  };
}

async function createBucket(objectLock = false): Promise<string> {
  const bucket = `bd-${randomBytes(6).toString("hex")}`;
  await client().send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: objectLock }));
  return bucket;
}

async function incompleteUploads(bucket: string, prefix = ""): Promise<MultipartUpload[]> {
  const result = await client().send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return result.Uploads ?? [];
}

const LIFECYCLE = { abortIncompleteMultipartUploadDays: 7, noncurrentVersionExpirationDays: 35 };

describeBackendConformance("s3 (plain bucket, 8 MiB parts)", async () => {
  const bucket = await createBucket();
  return {
    backend: new S3Backend(backendOptions(bucket, "repo", { partSizeBytes: 8 * MIB, queueSize: 2 })),
    async cleanup() {
      // Every failed or aborted upload in the suite was aborted, not left for the lifecycle rule.
      await vi.waitFor(async () => expect(await incompleteUploads(bucket)).toEqual([]), { timeout: 20_000 });
    },
  };
});

describeBackendConformance("s3 (versioned Object Lock bucket, default 16 MiB parts)", async () => {
  const bucket = await createBucket(true);
  await ensureRepositoryBucket(client(), bucket, {
    prefix: "prod",
    lifecycle: LIFECYCLE,
    objectLock: { mode: "GOVERNANCE", days: 1 },
  });
  return {
    backend: new S3Backend(backendOptions(bucket, "prod/")),
    async cleanup() {
      await vi.waitFor(async () => expect(await incompleteUploads(bucket)).toEqual([]), { timeout: 20_000 });
    },
  };
});

describe("S3Backend specifics", () => {
  let bucket: string;
  let backend: S3Backend;

  beforeAll(async () => {
    bucket = await createBucket();
    backend = new S3Backend(backendOptions(bucket, "repo"));
  });

  afterAll(async () => {
    await backend.close();
  });

  it("describes its location without credentials and registers the secret for redaction", () => {
    expect(backend.location).toBe(`s3://${bucket}/repo/ (${server().endpoint})`);
    expect(backend.location).not.toContain(server().secretAccessKey);
    expect(redact(`oops ${server().secretAccessKey} leaked`)).not.toContain(server().secretAccessKey);
  });

  it("stores keys under the prefix", async () => {
    await backend.put("snapshots/job/x.json", Readable.from([Buffer.from("{}")]));
    const head = await client().send(
      new HeadObjectCommand({ Bucket: bucket, Key: "repo/snapshots/job/x.json" }),
    );
    expect(head.ContentLength).toBe(2);
  });

  it("ignores objects whose names are not valid keys when listing", async () => {
    const { PutObjectCommand } = await import("@aws-sdk/client-s3");
    await client().send(new PutObjectCommand({ Bucket: bucket, Key: "repo/odd/folder-marker/", Body: "" }));
    await client().send(new PutObjectCommand({ Bucket: bucket, Key: "repo/odd/../escape", Body: "" }));
    await backend.put("odd/ok", Readable.from([Buffer.from("1")]));
    const keys: string[] = [];
    for await (const info of backend.list("odd/")) keys.push(info.key);
    expect(keys).toEqual(["odd/ok"]);
  });

  it("refuses at CompleteMultipartUpload when another writer created the key during the upload", async () => {
    // The HEAD check passes (key absent), then a competitor writes the key while our multipart
    // upload is streaming: only If-None-Match on Complete can catch that.
    const key = "race/late";
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let sent = 0;
    let reachedGate!: () => void;
    const atGate = new Promise<void>((resolve) => (reachedGate = resolve));
    const total = 20 * MIB;
    const body = new Readable({
      read() {
        if (sent >= total) {
          this.push(null);
          return;
        }
        if (sent === 17 * MIB) {
          reachedGate();
          void gate.then(() => {
            this.push(patternBytes(sent, MIB));
            sent += MIB;
          });
          return;
        }
        this.push(patternBytes(sent, MIB));
        sent += MIB;
      },
    });
    const pending = backend.put(key, body);
    await atGate;
    await vi.waitFor(async () => expect((await incompleteUploads(bucket, "repo/race/")).length).toBe(1));
    await backend.put(key, Readable.from([Buffer.from("competitor")]));
    release();
    await expect(pending).rejects.toBeInstanceOf(AlreadyExistsError);
    expect((await readAll(await backend.get(key))).toString()).toBe("competitor");
    await vi.waitFor(async () => expect(await incompleteUploads(bucket, "repo/race/")).toEqual([]), {
      timeout: 20_000,
    });
  });

  it("leaves no incomplete multipart upload after a 30 MiB upload is aborted", async () => {
    const key = "abort/thirty.bin";
    const controller = new AbortController();
    const { stream, reached } = interruptedStream(30 * MIB, "stall");
    const pending = backend.put(key, stream, { signal: controller.signal });
    await reached;
    // The multipart upload exists (the first part is uploading or uploaded)...
    await vi.waitFor(async () => expect((await incompleteUploads(bucket, "repo/abort/")).length).toBe(1));
    controller.abort();
    await expect(pending).rejects.toSatisfy((error: unknown) => (error as Error).name === "AbortError");
    // ...and is gone soon after; the AbortMultipartUpload may land after put() rejected.
    await vi.waitFor(async () => expect(await incompleteUploads(bucket, "repo/abort/")).toEqual([]), {
      timeout: 20_000,
      interval: 250,
    });
    expect(await backend.stat(key)).toBeNull();
  });

  it("grows its parts as the object grows, and the object reads back byte for byte", async () => {
    // Every 2 parts instead of every 2,000: 5, 5, 10, 10, 15 MiB hold 45 MiB in 5 parts.
    const growing = new S3Backend(backendOptions(bucket, "repo", { partsPerStep: 2 }));
    try {
      const size = 42 * MIB + 123;
      await growing.put("grow/forty-two.bin", patternStream(size, 1024 * 1024));
      const head = await client().send(
        new HeadObjectCommand({ Bucket: bucket, Key: "repo/grow/forty-two.bin" }),
      );
      expect(head.ContentLength).toBe(size);
      // A multipart ETag ends in "-<parts>": 5 growing parts, where fixed 5 MiB parts need 9.
      expect(head.ETag).toMatch(/-5"$/);
      const back = await readAll(await growing.get("grow/forty-two.bin"));
      expect(back.equals(patternBytes(0, size))).toBe(true);
    } finally {
      await growing.close();
    }
  });

  it("leaves no incomplete multipart upload when the body fails after two parts", async () => {
    const { stream } = interruptedStream(33 * MIB, { fail: new Error("pg_dump exited 1") });
    await expect(backend.put("fail/dump.age", stream)).rejects.toThrow("pg_dump exited 1");
    await vi.waitFor(async () => expect(await incompleteUploads(bucket, "repo/fail/")).toEqual([]), {
      timeout: 20_000,
    });
  });

  it("keeps the previous version when overwriting in a versioned bucket", async () => {
    const versioned = await createBucket();
    await client().send(
      new PutBucketVersioningCommand({ Bucket: versioned, VersioningConfiguration: { Status: "Enabled" } }),
    );
    const b = new S3Backend(backendOptions(versioned, ""));
    try {
      await b.put("k", Readable.from([Buffer.from("v1")]));
      await b.put("k", Readable.from([Buffer.from("v2")]), { overwrite: true });
      await b.delete("k");
      expect(await b.stat("k")).toBeNull();
      const versions = await client().send(new ListObjectVersionsCommand({ Bucket: versioned, Prefix: "k" }));
      expect(versions.Versions?.length).toBe(2);
      expect(versions.DeleteMarkers?.length).toBe(1);
      // A deleted key can be created again with overwrite:false (the delete marker is not an object).
      await b.put("k", Readable.from([Buffer.from("v3")]));
    } finally {
      await b.close();
    }
  });

  it("reports a missing bucket clearly", async () => {
    const missing = new S3Backend(backendOptions("bd-no-such-bucket", "x"));
    try {
      const collect = async (): Promise<void> => {
        for await (const _ of missing.list("")) void _;
      };
      const error = await collect().catch((reason: unknown) => reason);
      expect(error).toBeInstanceOf(OperationError);
      expect((error as Error).message).toMatch(/NoSuchBucket/);
      expect((error as OperationError).hint).toMatch(/bucket name/);
      await expect(missing.put("k", Readable.from([Buffer.from("x")]))).rejects.toThrow(/NoSuchBucket/);
    } finally {
      await missing.close();
    }
  });
});

describe("ensureRepositoryBucket", () => {
  it("enables and verifies versioning, and is idempotent", async () => {
    const bucket = await createBucket();
    const first = await ensureRepositoryBucket(client(), bucket, { prefix: "prod", lifecycle: LIFECYCLE });
    expect(first.changed).toBe(true);
    expect(first.items.find((item) => item.setting === "versioning")).toMatchObject({ status: "changed" });
    const versioning = await client().send(new GetBucketVersioningCommand({ Bucket: bucket }));
    expect(versioning.Status).toBe("Enabled");

    const second = await ensureRepositoryBucket(client(), bucket, { prefix: "prod", lifecycle: LIFECYCLE });
    expect(second.changed).toBe(false);
    expect(second.items.every((item) => item.status === "ok")).toBe(true);
  });

  it("re-enables suspended versioning", async () => {
    const bucket = await createBucket();
    await client().send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } }),
    );
    await client().send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Suspended" } }),
    );
    const report = await ensureRepositoryBucket(client(), bucket, { prefix: "", lifecycle: LIFECYCLE });
    expect(report.items.find((item) => item.setting === "versioning")?.detail).toMatch(
      /Suspended -> Enabled/,
    );
  });

  it("merges lifecycle rules, never dropping a foreign rule", async () => {
    const bucket = await createBucket();
    const foreign = {
      ID: "expire-app-logs",
      Status: "Enabled" as const,
      Filter: { Prefix: "logs/" },
      Expiration: { Days: 30 },
    };
    await client().send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: { Rules: [foreign] },
      }),
    );
    const report = await ensureRepositoryBucket(client(), bucket, { prefix: "prod", lifecycle: LIFECYCLE });
    expect(report.lifecycle.foreign).toEqual(["expire-app-logs"]);
    expect(report.lifecycle.added.length).toBe(2);

    const rules = async (): Promise<string[]> =>
      ((await client().send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules ?? []).map(
        (rule) => rule.ID ?? "",
      );
    expect(await rules()).toEqual(["expire-app-logs", ...report.lifecycle.added]);

    // A second repository in the same bucket gets its own rules; the first one's stay.
    const staging = await ensureRepositoryBucket(client(), bucket, {
      prefix: "staging",
      lifecycle: { abortIncompleteMultipartUploadDays: 3 },
    });
    expect(staging.lifecycle.foreign).toEqual(["expire-app-logs", ...report.lifecycle.added]);
    expect((await rules()).length).toBe(4);

    // Switching noncurrent expiration off removes only our rule for that prefix.
    const off = await ensureRepositoryBucket(client(), bucket, {
      prefix: "prod",
      lifecycle: { abortIncompleteMultipartUploadDays: 7 },
    });
    expect(off.lifecycle.removed).toEqual([report.lifecycle.added[1]]);
    expect(await rules()).toEqual(["expire-app-logs", report.lifecycle.added[0], ...staging.lifecycle.added]);
  });

  it("only reports drift with apply: false", async () => {
    const bucket = await createBucket();
    const report = await ensureRepositoryBucket(client(), bucket, {
      prefix: "prod",
      lifecycle: LIFECYCLE,
      apply: false,
    });
    expect(report.drift).toBe(true);
    expect(report.changed).toBe(false);
    expect(report.items.map((item) => [item.setting, item.status])).toEqual([
      ["versioning", "drift"],
      ["objectLock", "ok"],
      ["lifecycle", "drift"],
    ]);
    const versioning = await client().send(new GetBucketVersioningCommand({ Bucket: bucket }));
    expect(versioning.Status).toBeUndefined();
  });

  it("sets Object Lock default retention on a lock-enabled bucket, and objects get locked", async () => {
    const bucket = await createBucket(true);
    const report = await ensureRepositoryBucket(client(), bucket, {
      prefix: "prod",
      lifecycle: LIFECYCLE,
      objectLock: { mode: "GOVERNANCE", days: 35 },
    });
    expect(report.items.find((item) => item.setting === "objectLock")).toMatchObject({ status: "changed" });
    const lock = await client().send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    expect(lock.ObjectLockConfiguration?.Rule?.DefaultRetention).toMatchObject({
      Mode: "GOVERNANCE",
      Days: 35,
    });

    // Writes still work (Content-MD5 is sent), single-part and multipart, and carry the retention.
    const backend = new S3Backend(backendOptions(bucket, "prod"));
    try {
      await backend.put("small", Readable.from([Buffer.from("locked")]));
      await backend.put("large", Readable.from([patternBytes(0, 17 * MIB)]));
      const head = await client().send(new HeadObjectCommand({ Bucket: bucket, Key: "prod/small" }));
      expect(head.ObjectLockMode).toBe("GOVERNANCE");
      expect(head.ObjectLockRetainUntilDate?.getTime()).toBeGreaterThan(Date.now() + 34 * 86_400_000);
    } finally {
      await backend.close();
    }

    const again = await ensureRepositoryBucket(client(), bucket, {
      prefix: "prod",
      lifecycle: LIFECYCLE,
      objectLock: { mode: "GOVERNANCE", days: 35 },
    });
    expect(again.changed).toBe(false);
  });

  it("fails clearly, changing nothing, when Object Lock is wanted on a bucket created without it", async () => {
    const bucket = await createBucket(false);
    const error = await ensureRepositoryBucket(client(), bucket, {
      prefix: "prod",
      lifecycle: LIFECYCLE,
      objectLock: { mode: "COMPLIANCE", days: 35 },
    }).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toMatch(
      new RegExp(`bucket ${bucket} does not have Object Lock enabled`),
    );
    expect((error as OperationError).hint).toMatch(/--object-lock-enabled-for-bucket/);
    const versioning = await client().send(new GetBucketVersioningCommand({ Bucket: bucket }));
    expect(versioning.Status).toBeUndefined(); // nothing was half-applied
  });

  it("reports a missing bucket with a hint", async () => {
    const error = await ensureRepositoryBucket(client(), "bd-missing-bucket", {
      prefix: "",
      lifecycle: LIFECYCLE,
    }).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toMatch(/NoSuchBucket/);
  });
});
