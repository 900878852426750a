import { describe, expect, it } from "vitest";
import { describeS3Location } from "./client.js";
import { isNoSuchKey, isPreconditionFailed, s3Error } from "./s3-errors.js";

const sdkError = (name: string, status: number, message = name): Error =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

describe("S3 error helpers", () => {
  it("tells a missing key from a missing bucket", () => {
    expect(isNoSuchKey(sdkError("NoSuchKey", 404))).toBe(true);
    expect(isNoSuchKey(sdkError("NotFound", 404))).toBe(true); // HEAD
    expect(isNoSuchKey(sdkError("UnknownError", 404))).toBe(true);
    expect(isNoSuchKey(sdkError("NoSuchBucket", 404))).toBe(false);
    expect(isNoSuchKey(sdkError("AccessDenied", 403))).toBe(false);
  });

  it("recognises a lost conditional write", () => {
    expect(isPreconditionFailed(sdkError("PreconditionFailed", 412))).toBe(true);
    expect(isPreconditionFailed(sdkError("Whatever", 412))).toBe(true);
    expect(isPreconditionFailed(sdkError("ConditionalRequestConflict", 409))).toBe(false);
  });

  it("builds an operator-facing message with code, status and hint", () => {
    const error = s3Error("write", "s3://b/p/k", sdkError("AccessDenied", 403, "Access Denied"));
    expect(error.message).toBe("cannot write s3://b/p/k: AccessDenied: Access Denied (HTTP 403)");
    expect(error.hint).toMatch(/credentials/);
    expect(s3Error("stat", "s3://b/k", sdkError("UnknownError", 500, "UnknownError")).message).toBe(
      "cannot stat s3://b/k: unknown error (HTTP 500)",
    );
  });
});

describe("describeS3Location", () => {
  it("shows bucket, prefix and endpoint host, never credentials", () => {
    expect(describeS3Location("b", "prod/")).toBe("s3://b/prod/");
    expect(describeS3Location("b", "", "")).toBe("s3://b/");
    expect(describeS3Location("b", "p/", "http://user:secret@minio:9000/")).toBe(
      "s3://b/p/ (http://minio:9000)",
    );
    expect(describeS3Location("b", "p/", "not a url")).toBe("s3://b/p/ (custom endpoint)");
  });
});
