/**
 * The s3-bucket engine against a real S3 server (moto), through the backup and drill runners and
 * an encrypted local repository: versioning switched on (or refused with modify: false), the
 * job's lifecycle rules added next to a foreign one, objects overwritten and deleted after the
 * snapshot restored at their snapshot versions, drills into a throwaway S3 container, and
 * copy: true surviving versions that are gone.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobBackup } from "../../../src/runner/backup.js";
import type { DrillTarget } from "../../../src/config/drill-schema.js";
import type { S3BucketJob } from "../../../src/kinds/s3-bucket/job-schema.js";
import { generateIdentity } from "../../../src/crypto/keys.js";
import { runDrillTarget } from "../../../src/runner/drill-target.js";
import { s3BucketKind } from "../../../src/kinds/s3-bucket/index.js";
import { createLogger } from "../../../src/log/logger.js";
import type { SnapshotManifest } from "../../../src/repository/manifest.js";
import { Repository } from "../../../src/repository/repository.js";
import { LocalBackend } from "../../../src/storage/local/local-backend.js";
import { S3Container, type StartedS3Container } from "../../support/containers/s3.js";
import { s3Image } from "../../support/images.js";
import { restoreWith } from "../../support/restore.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

const log = createLogger({ level: process.env.BACKDRILL_LOG_LEVEL ?? "warn", pretty: false });
const BUCKET = "task-files";
let s3: StartedS3Container;
let client: S3Client;
let work: string;
let repository: Repository;
let keys: { identity: string; recipient: string };

const ORIGINAL: Record<string, string> = {
  "uploads/avatar 1.png": "avatar-one-original",
  "uploads/Überweisung März.pdf": "pdf-original-content",
  "uploads/to-delete.txt": "deleted after the snapshot",
  "uploads/empty.txt": "",
  "other/readme.md": "outside the prefix? no: whole bucket",
};
const LARGE_KEY = "uploads/large.bin";
const LARGE = Buffer.alloc(11 * 1024 * 1024, 0x5a); // multipart: ETag is not an MD5

function job(overrides: Partial<S3BucketJob> = {}): S3BucketJob {
  return {
    name: "task-bucket",
    kind: "s3-bucket",
    policy: "nightly",
    bucket: BUCKET,
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    accessKeyIdEnv: "TASK_S3_ACCESS_KEY",
    secretAccessKeyEnv: "TASK_S3_SECRET_KEY",
    lifecycle: { noncurrentVersionExpirationDays: 35, abortIncompleteMultipartUploadDays: 7 },
    copy: false,
    modify: true,
    ...overrides,
  } as S3BucketJob;
}

const env = () => ({ TASK_S3_ACCESS_KEY: s3.accessKeyId, TASK_S3_SECRET_KEY: s3.secretAccessKey });
const context = () => ({ log, signal: new AbortController().signal, env: env(), configDir: process.cwd() });

function backup(j: S3BucketJob) {
  return runJobBackup({ job: j, kind: s3BucketKind, repository, recipients: [keys.recipient] }, context());
}

function drill(j: S3BucketJob) {
  const target = { job: j.name, snapshot: "latest", image: s3Image() } as DrillTarget;
  return runDrillTarget(
    {
      job: j,
      target,
      kind: s3BucketKind,
      repository,
      snapshot: "latest",
      identities: [keys.identity],
      rtoSeconds: 600,
    },
    context(),
  );
}

async function restore(j: S3BucketJob, manifest: SnapshotManifest, to: string, force = false) {
  const outcome = await restoreWith({
    kind: s3BucketKind,
    job: j,
    repository,
    identity: keys.identity,
    snapshot: manifest.id,
    to,
    force,
    log,
    env: context().env,
  });
  return outcome.plan;
}

async function body(bucket: string, key: string): Promise<Buffer> {
  const result = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(
    await (result.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}

beforeAll(async () => {
  s3 = await new S3Container().start();
  client = s3.client();
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  // Another team's rule: must survive backdrill's lifecycle changes.
  await client.send(
    new PutBucketLifecycleConfigurationCommand({
      Bucket: BUCKET,
      LifecycleConfiguration: {
        Rules: [
          { ID: "team-tmp-expiry", Status: "Enabled", Filter: { Prefix: "tmp/" }, Expiration: { Days: 3 } },
        ],
      },
    }),
  );
  for (const [key, value] of Object.entries(ORIGINAL)) {
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: value, ContentType: "text/plain" }),
    );
  }
  await new Upload({
    client,
    params: { Bucket: BUCKET, Key: LARGE_KEY, Body: LARGE },
    partSize: 5 * 1024 * 1024,
  }).done();
  work = await mkdtemp(path.join(os.tmpdir(), "backdrill-s3-bucket-"));
  repository = new Repository(new LocalBackend({ path: work }));
  keys = await generateIdentity();
}, 120_000);

afterAll(async () => {
  client?.destroy();
  await repository?.backend.close();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
  await s3?.stop();
});

describe("s3-bucket engine", () => {
  let snapshot: SnapshotManifest;

  it("with modify: false refuses an unversioned bucket and changes nothing", async () => {
    const { result } = await backup(job({ modify: false }));
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(
      /bucket task-files does not meet .*modify is false: versioning: is Unversioned, want Enabled; lifecycle: added: backdrill-/,
    );
    expect(result.error).not.toContain(s3.secretAccessKey);
    expect((await client.send(new GetBucketVersioningCommand({ Bucket: BUCKET }))).Status).toBeUndefined();
    expect(await repository.snapshots("task-bucket").catch(() => [])).toEqual([]);
  });

  it("switches versioning on, adds the job's lifecycle rules next to the foreign one, and lists every object", async () => {
    const { result, manifest } = await backup(job());
    expect(result).toMatchObject({ ok: true });
    snapshot = manifest as SnapshotManifest;
    expect(snapshot.meta).toMatchObject({ objects: Object.keys(ORIGINAL).length + 1, bucketChanged: true });
    expect((await client.send(new GetBucketVersioningCommand({ Bucket: BUCKET }))).Status).toBe("Enabled");
    const rules =
      (await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: BUCKET }))).Rules ?? [];
    const ids = rules.map((r) => r.ID ?? "");
    expect(ids).toContain("team-tmp-expiry");
    expect(ids.filter((id) => id.startsWith("backdrill-")).sort()).toEqual([
      "backdrill-abort-incomplete-multipart",
      "backdrill-noncurrent-expiration",
    ]);
    expect(snapshot.artifacts.map((a) => a.name).sort()).toEqual(["facts.json", "objects.jsonl"]);
    expect(JSON.stringify(snapshot)).not.toContain("avatar");

    // A second run finds nothing to change, and with modify: false it now passes.
    const again = await backup(job({ modify: false }));
    expect(again.result).toMatchObject({ ok: true });
    expect(again.manifest?.meta.bucketChanged).toBe(false);
    snapshot = again.manifest as SnapshotManifest;
  });

  it("drills: every object restored from the versions into a throwaway S3 server and checked", async () => {
    const report = await drill(job());
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.details).toMatchObject({ objects: 6, fromVersions: 6, mismatches: 0 });
  });

  it("brings an overwritten and a deleted object back at their snapshot versions", async () => {
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: "uploads/avatar 1.png", Body: "OVERWRITTEN" }),
    );
    await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "uploads/to-delete.txt" }));
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "uploads/new-after.txt", Body: "new" }));

    await expect(restore(job(), snapshot, `s3://${BUCKET}`)).rejects.toThrow(/not empty; refusing/);
    // To an empty prefix of the same bucket: server-side copies of the snapshot's versions.
    await restore(job(), snapshot, `s3://${BUCKET}/restored`);
    expect((await body(BUCKET, "restored/uploads/avatar 1.png")).toString()).toBe(
      ORIGINAL["uploads/avatar 1.png"],
    );
    expect((await body(BUCKET, "restored/uploads/to-delete.txt")).toString()).toBe(
      ORIGINAL["uploads/to-delete.txt"],
    );
    expect((await body(BUCKET, `restored/${LARGE_KEY}`)).equals(LARGE)).toBe(true);

    // In place, with --force: a roll-back; objects made after the snapshot are kept.
    const plan = await restore(job(), snapshot, `s3://${BUCKET}`, true);
    expect(plan.warnings.join(" ")).toMatch(/not empty/);
    expect((await body(BUCKET, "uploads/avatar 1.png")).toString()).toBe(ORIGINAL["uploads/avatar 1.png"]);
    expect((await body(BUCKET, "uploads/to-delete.txt")).toString()).toBe(ORIGINAL["uploads/to-delete.txt"]);
    expect((await body(BUCKET, "uploads/new-after.txt")).toString()).toBe("new");
    await expect(restore(job(), snapshot, "http://not-s3/")).rejects.toThrow(/--to: expected s3:\/\/bucket/);
  });

  it("with copy: true keeps the bytes in the repository: drill and restore work after the versions are gone", async () => {
    const copyJob = job({ name: "task-bucket-copy", copy: true, prefix: "uploads/" });
    const { result, manifest } = await backup(copyJob);
    expect(result).toMatchObject({ ok: true });
    const copied = manifest as SnapshotManifest;
    expect(copied.artifacts.filter((a) => a.name.startsWith("obj-"))).toHaveLength(6);

    // Every version of one object disappears (lifecycle expiry, an operator's mistake).
    const versions = await client.send(
      new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: "uploads/Überweisung" }),
    );
    for (const v of versions.Versions ?? []) {
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: v.Key, VersionId: v.VersionId }));
    }
    const report = await drill(copyJob);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.details).toMatchObject({ fromRepository: 6, checked: 6 });

    await client.send(new CreateBucketCommand({ Bucket: "task-files-restored" }));
    await restore(copyJob, copied, "s3://task-files-restored");
    expect((await body("task-files-restored", "uploads/Überweisung März.pdf")).toString()).toBe(
      ORIGINAL["uploads/Überweisung März.pdf"],
    );

    // Without copies, the same loss is reported by key, not silently skipped.
    const plainJob = job({ name: "task-bucket-plain", prefix: "uploads/" });
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: "uploads/Überweisung März.pdf", Body: "v2" }),
    );
    const plain = await backup(plainJob);
    const gone = await client.send(
      new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: "uploads/Überweisung" }),
    );
    for (const v of gone.Versions ?? []) {
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: v.Key, VersionId: v.VersionId }));
    }
    const failed = await drill(plainJob);
    expect(plain.result.ok).toBe(true);
    expect(failed.ok).toBe(false);
    expect(failed.checks.find((c) => c.name === "objects restored")?.detail).toMatch(
      /Überweisung März\.pdf.*gone/,
    );
  });
});
