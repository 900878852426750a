import { describe, expect, it } from "vitest";
import { policySchema } from "../../schema/policy.js";
import { UsageError } from "../../errors.js";
import { alreadyRetried } from "../retry.js";
import { s3Tuning } from "./client.js";
import { BackoffRetryStrategy } from "./retry-strategy.js";
import { s3Error } from "./s3-errors.js";

const sdkError = (name: string, status: number): Error =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

async function delays(
  strategy: BackoffRetryStrategy,
  error: Error,
  errorType: "TRANSIENT" | "THROTTLING" | "CLIENT_ERROR" | "SERVER_ERROR",
): Promise<number[]> {
  const out: number[] = [];
  let token = await strategy.acquireInitialRetryToken("");
  for (;;) {
    try {
      token = await strategy.refreshRetryTokenForRetry(token, { error, errorType } as never);
    } catch {
      return out;
    }
    out.push(token.getRetryDelay());
  }
}

describe("BackoffRetryStrategy (the S3 client's only retry layer)", () => {
  it("makes at most `attempts` requests, with full-jitter exponential backoff capped at maxDelayMs", async () => {
    const strategy = new BackoffRetryStrategy({
      attempts: 6,
      baseDelayMs: 500,
      maxDelayMs: 3000,
      random: () => 0.999,
    });
    // 5 retries after the first request: ceilings 500, 1000, 2000, 3000 (cap), 3000.
    expect(await delays(strategy, sdkError("InternalError", 500), "TRANSIENT")).toEqual([
      499, 999, 1998, 2997, 2997,
    ]);
  });

  it("waits twice as long for throttling, a bodiless 503 included", async () => {
    const strategy = new BackoffRetryStrategy({
      attempts: 3,
      baseDelayMs: 500,
      maxDelayMs: 15_000,
      random: () => 0.5,
    });
    expect(await delays(strategy, sdkError("SlowDown", 503), "THROTTLING")).toEqual([500, 1000]);
    expect(await delays(strategy, sdkError("UnknownError", 503), "TRANSIENT")).toEqual([500, 1000]);
    expect(await delays(strategy, sdkError("InternalError", 500), "TRANSIENT")).toEqual([250, 500]);
  });

  it("retries transient errors the SDK does not classify, and never permanent ones", async () => {
    const strategy = new BackoffRetryStrategy({ attempts: 3, random: () => 0 });
    const hangUp = Object.assign(new Error("socket hang up"), { name: "Error" });
    expect(await delays(strategy, hangUp, "CLIENT_ERROR")).toHaveLength(2);
    expect(await delays(strategy, sdkError("AccessDenied", 403), "CLIENT_ERROR")).toEqual([]);
    expect(await delays(strategy, sdkError("NotImplemented", 501), "SERVER_ERROR")).toEqual([]);
  });

  it("rejects nonsense settings", () => {
    expect(() => new BackoffRetryStrategy({ attempts: 0 })).toThrow(UsageError);
    expect(() => new BackoffRetryStrategy({ maxDelayMs: -1 })).toThrow(UsageError);
  });
});

describe("one retry layer, one clear error", () => {
  it("the backend wrapper does not retry what the S3 client already retried", () => {
    const final = Object.assign(sdkError("InternalError", 500), {
      $metadata: { httpStatusCode: 500, attempts: 6 },
    });
    expect(alreadyRetried(final)).toBe(true);
    expect(alreadyRetried(new Error("wrapped", { cause: final }))).toBe(true);
    expect(alreadyRetried(sdkError("InternalError", 500))).toBe(false);
  });

  it("names operation, key, status and attempts on one line", () => {
    const final = Object.assign(new Error("We encountered an internal error.\nPlease try again."), {
      name: "InternalError",
      $metadata: { httpStatusCode: 500, attempts: 6 },
    });
    expect(s3Error("write", "s3://b/p/data/j/1/x.age (upload part 3)", final).message).toBe(
      "cannot write s3://b/p/data/j/1/x.age (upload part 3): InternalError: We encountered an internal error. Please try again. (HTTP 500, gave up after 6 attempts)",
    );
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), {
      code: "ECONNREFUSED",
      $metadata: { attempts: 2 },
    });
    expect(s3Error("stat", "s3://b/k", refused).message).toBe(
      "cannot stat s3://b/k: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9 (gave up after 2 attempts)",
    );
  });
});

describe("repository tuning in the policy", () => {
  const base = {
    name: "p",
    repository: { type: "s3", bucket: "b", region: "us-east-1" },
    encryption: { recipients: ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"] },
    retention: { keepLast: 1 },
    rpo: "26h",
  };
  const parse = (repository: Record<string, unknown>) =>
    policySchema.safeParse({ ...base, repository: { ...base.repository, ...repository } });

  it("accepts part size, timeouts and retries, and turns them into client options", () => {
    const parsed = parse({
      partSizeMiB: 64,
      timeouts: { connect: "5s", idle: "2m" },
      retries: { attempts: 3, maxDelay: "30s" },
    });
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    if (!parsed.success || parsed.data.repository.type !== "s3") return;
    expect(s3Tuning(parsed.data.repository)).toEqual({
      connectTimeoutMs: 5000,
      idleTimeoutMs: 120_000,
      retry: { attempts: 3, maxDelayMs: 30_000, baseDelayMs: 500 },
    });
    expect(s3Tuning({})).toEqual({});
  });

  it("rejects part sizes S3 cannot take and unknown fields", () => {
    expect(parse({ partSizeMiB: 4 }).error?.issues[0]?.message).toMatch(/at least 5 MiB/);
    expect(parse({ partSizeMiB: 6000 }).error?.issues[0]?.message).toMatch(/at most 5120 MiB/);
    expect(parse({ partSizeMiB: 5.5 }).success).toBe(false);
    expect(parse({ retries: { attempts: 0 } }).success).toBe(false);
    expect(parse({ timeouts: { idle: "60" } }).success).toBe(false);
    expect(parse({ timeouts: { read: "60s" } }).success).toBe(false);
  });
});
