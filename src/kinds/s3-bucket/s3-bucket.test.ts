import { describe, expect, it } from "vitest";
import { compare } from "./drill.js";
import { artifactNameFor, currentVersions, isPlainMd5, parseS3Target } from "./objects.js";
import { lifecyclePolicyOf } from "./setup.js";
import type { S3BucketJob } from "./job-schema.js";

describe("current versions", () => {
  it("keeps the latest version of each key and drops keys whose latest entry is a delete marker", () => {
    const when = new Date("2026-11-28T02:15:00Z");
    const entries = currentVersions([
      {
        Key: "a",
        VersionId: "3",
        IsLatest: true,
        ETag: '"0cc175b9c0f1b6a831c399e269772661"',
        Size: 1,
        LastModified: when,
      },
      { Key: "a", VersionId: "2", IsLatest: false, ETag: '"x"', Size: 9, LastModified: when },
      { Key: "deleted", VersionId: "1", IsLatest: false, ETag: '"y"', Size: 2, LastModified: when },
      { Key: "legacy", IsLatest: true, ETag: '"abc-2"', Size: 5, LastModified: when },
    ]);
    expect(entries).toEqual([
      {
        key: "a",
        versionId: "3",
        etag: "0cc175b9c0f1b6a831c399e269772661",
        size: 1,
        lastModified: when.toISOString(),
      },
      { key: "legacy", versionId: "null", etag: "abc-2", size: 5, lastModified: when.toISOString() },
    ]);
  });

  it("names object artifacts within the repository's artifact alphabet", () => {
    expect(artifactNameFor(12)).toBe("obj-0000012");
    expect(artifactNameFor(12)).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
  });
});

describe("restore target", () => {
  it("parses s3://bucket and s3://bucket/prefix", () => {
    expect(parseS3Target("s3://task-files")).toEqual({ bucket: "task-files", prefix: "" });
    expect(parseS3Target("s3://task-files/restored")).toEqual({ bucket: "task-files", prefix: "restored/" });
    expect(parseS3Target("s3://task-files/a/b/")).toEqual({ bucket: "task-files", prefix: "a/b/" });
    expect(parseS3Target("http://x/y")).toBeUndefined();
    expect(parseS3Target("s3://A_B")).toBeUndefined();
  });
});

describe("checksum evidence", () => {
  const entry = {
    key: "k",
    versionId: "1",
    etag: "5d41402abc4b2a76b9719d911017c592",
    size: 5,
    lastModified: "",
  };
  const hello = {
    md5: "5d41402abc4b2a76b9719d911017c592",
    sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    size: 5,
  };

  it("prefers sha256, then a plain-MD5 ETag, then the bytes sent", () => {
    const verdicts = { sha256: 0, md5: 0, roundTrip: 0 };
    expect(compare({ ...entry, sha256: hello.sha256 }, hello, undefined, verdicts)).toBeUndefined();
    expect(compare(entry, hello, undefined, verdicts)).toBeUndefined();
    expect(compare({ ...entry, etag: "abc-2" }, hello, hello, verdicts)).toBeUndefined();
    expect(verdicts).toEqual({ sha256: 1, md5: 1, roundTrip: 1 });
    expect(compare(entry, { ...hello, md5: "0".repeat(32) }, undefined, verdicts)).toMatch(/MD5/);
    expect(compare(entry, { ...hello, size: 6 }, undefined, verdicts)).toMatch(/size 6, expected 5/);
    expect(isPlainMd5("abc-2")).toBe(false);
  });
});

describe("lifecycle policy", () => {
  it("defaults to only aborting incomplete multipart uploads", () => {
    expect(lifecyclePolicyOf({ name: "j" } as S3BucketJob)).toEqual({
      abortIncompleteMultipartUploadDays: 7,
      noncurrentVersionExpirationDays: undefined,
    });
  });
});
