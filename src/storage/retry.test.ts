import { Readable, Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AlreadyExistsError, NotFoundError, OperationError, UsageError } from "../errors.js";
import { createLogger, type Logger, logger, setLogger } from "../log/logger.js";
import { clearRegisteredSecrets, registerSecret } from "../log/redact.js";
import type { Backend, ObjectInfo, PutOptions } from "./backend.js";
import { backoffDelayMs, isTransientError, withRetry } from "./retry.js";

/** An S3 SDK-shaped error: name/Code plus $metadata.httpStatusCode. */
function sdkError(name: string, status: number, message = name): Error {
  return Object.assign(new Error(message), { name, Code: name, $metadata: { httpStatusCode: status } });
}

function errnoError(code: string): Error {
  return Object.assign(new Error(`${code} happened`), { code });
}

const info = (key: string): ObjectInfo => ({ key, size: 1, modified: new Date(0) });

/**
 * A Backend whose behaviour is scripted per call: each entry is either an error to throw or a
 * function producing the result. This is the one place a fake backend is right: a real server
 * cannot be told to fail the 2nd request with a 503.
 */
class ScriptedBackend implements Backend {
  readonly location = "scripted://test";
  calls: Record<string, number> = { put: 0, get: 0, stat: 0, list: 0, delete: 0 };
  stored: Buffer[] = [];

  constructor(
    private readonly script: {
      put?: Array<Error | "consume-then-fail" | "ok">;
      get?: Array<Error | "ok">;
      stat?: Array<Error | "ok">;
      delete?: Array<Error | "ok">;
      list?: Array<{ yield: string[]; thenFail?: Error }>;
    },
  ) {}

  private step<T>(method: string, steps: T[] | undefined): T | undefined {
    const index = this.calls[method] ?? 0;
    this.calls[method] = index + 1;
    return steps?.[Math.min(index, steps.length - 1)];
  }

  async put(_key: string, body: Readable, _options?: PutOptions): Promise<{ size: number }> {
    const step = this.step("put", this.script.put);
    if (step instanceof Error) throw step;
    const chunks: Buffer[] = [];
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      if (step === "consume-then-fail") throw sdkError("InternalError", 500);
    }
    const data = Buffer.concat(chunks);
    this.stored.push(data);
    return { size: data.length };
  }

  async get(): Promise<Readable> {
    const step = this.step("get", this.script.get);
    if (step instanceof Error) throw step;
    return Readable.from([Buffer.from("content")]);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const step = this.step("stat", this.script.stat);
    if (step instanceof Error) throw step;
    return info(key);
  }

  async *list(): AsyncIterable<ObjectInfo> {
    const step = this.step("list", this.script.list);
    for (const key of step?.yield ?? []) yield info(key);
    if (step?.thenFail) throw step.thenFail;
  }

  async delete(): Promise<void> {
    const step = this.step("delete", this.script.delete);
    if (step instanceof Error) throw step;
  }

  async close(): Promise<void> {}
}

const sleeps: number[] = [];
const policy = {
  attempts: 4,
  baseDelayMs: 100,
  maxDelayMs: 1000,
  random: () => 0.5,
  sleep: async (ms: number) => {
    sleeps.push(ms);
  },
};

let logLines: string[] = [];
let previousLogger: Logger;

beforeEach(() => {
  sleeps.length = 0;
  logLines = [];
  previousLogger = logger();
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logLines.push(chunk.toString());
      callback();
    },
  });
  setLogger(createLogger({ destination, pretty: false, level: "debug" }));
});

afterEach(() => {
  setLogger(previousLogger);
  clearRegisteredSecrets();
});

describe("isTransientError", () => {
  it.each([
    ["503 SlowDown", sdkError("SlowDown", 503)],
    ["503 ServiceUnavailable", sdkError("ServiceUnavailable", 503)],
    ["429", sdkError("TooManyRequests", 429)],
    ["500 InternalError", sdkError("InternalError", 500)],
    ["502 without code", Object.assign(new Error("bad gateway"), { $metadata: { httpStatusCode: 502 } })],
    ["SlowDown with a 200 status", sdkError("SlowDown", 200)],
    ["ECONNRESET", errnoError("ECONNRESET")],
    ["ETIMEDOUT", errnoError("ETIMEDOUT")],
    ["socket hang up", new Error("socket hang up")],
    ["SDK TimeoutError", Object.assign(new Error("timed out"), { name: "TimeoutError" })],
    ["wrapped in OperationError", new OperationError("cannot write", { cause: sdkError("SlowDown", 503) })],
  ])("retries %s", (_label, error) => {
    expect(isTransientError(error)).toBe(true);
  });

  it.each([
    ["NotFoundError", new NotFoundError("k")],
    ["AlreadyExistsError", new AlreadyExistsError("k")],
    ["UsageError", new UsageError("bad key")],
    ["403 AccessDenied", sdkError("AccessDenied", 403)],
    ["403 SignatureDoesNotMatch", sdkError("SignatureDoesNotMatch", 403)],
    ["400 InvalidArgument", sdkError("InvalidArgument", 400)],
    ["404 NoSuchBucket", sdkError("NoSuchBucket", 404)],
    ["412 PreconditionFailed", sdkError("PreconditionFailed", 412)],
    ["501 NotImplemented", sdkError("NotImplemented", 501)],
    ["abort", Object.assign(new Error("aborted"), { name: "AbortError" })],
    ["ENOSPC", new OperationError("cannot write /x: no space left", { cause: errnoError("ENOSPC") })],
    ["EACCES", errnoError("EACCES")],
    ["an unknown error", new Error("something odd")],
    ["a non-error", "string"],
    ["403 wrapping a reset", new OperationError("x", { cause: sdkError("AccessDenied", 403) })],
  ])("does not retry %s", (_label, error) => {
    expect(isTransientError(error)).toBe(false);
  });
});

describe("backoffDelayMs (full jitter)", () => {
  const options = { baseDelayMs: 100, maxDelayMs: 1000 };

  it("draws uniformly below an exponentially growing, capped ceiling", () => {
    const top = () => 0.999999;
    expect([1, 2, 3, 4, 5, 6].map((retry) => backoffDelayMs(retry, options, top))).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
    expect(backoffDelayMs(3, options, () => 0)).toBe(0);
    expect(backoffDelayMs(3, options, () => 0.5)).toBe(200);
  });
});

describe("withRetry", () => {
  it("rejects nonsense options and has usable defaults", async () => {
    expect(() => withRetry(new ScriptedBackend({}), { ...policy, attempts: 0 })).toThrow(UsageError);
    expect(() => withRetry(new ScriptedBackend({}), { ...policy, baseDelayMs: -1 })).toThrow(UsageError);
    const inner = new ScriptedBackend({ stat: [new NotFoundError("k")] });
    await expect(withRetry(inner).stat("k")).rejects.toBeInstanceOf(NotFoundError);
  });

  it("retries transient stat failures with backoff and logs each retry with the key", async () => {
    const inner = new ScriptedBackend({ stat: [sdkError("SlowDown", 503), errnoError("ECONNRESET"), "ok"] });
    const backend = withRetry(inner, policy);
    expect(await backend.stat("snapshots/job/a.json")).toEqual(info("snapshots/job/a.json"));
    expect(inner.calls.stat).toBe(3);
    expect(sleeps).toEqual([50, 100]); // 0.5 × 100, 0.5 × 200
    const warnings = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatchObject({ level: 40, op: "stat", key: "snapshots/job/a.json", attempt: 1 });
    expect(backend.location).toBe("scripted://test");
  });

  it("gives up after the configured attempts with the last error", async () => {
    const last = sdkError("InternalError", 500, "final");
    const inner = new ScriptedBackend({
      delete: [sdkError("SlowDown", 503), sdkError("SlowDown", 503), sdkError("SlowDown", 503), last],
    });
    await expect(withRetry(inner, policy).delete("k")).rejects.toBe(last);
    expect(inner.calls.delete).toBe(4);
    expect(sleeps).toHaveLength(3);
  });

  it("never retries permanent errors", async () => {
    const inner = new ScriptedBackend({
      get: [new NotFoundError("k")],
      stat: [sdkError("AccessDenied", 403)],
    });
    const backend = withRetry(inner, policy);
    await expect(backend.get("k")).rejects.toBeInstanceOf(NotFoundError);
    await expect(backend.stat("k")).rejects.toMatchObject({ name: "AccessDenied" });
    expect(inner.calls.get).toBe(1);
    expect(inner.calls.stat).toBe(1);
    expect(sleeps).toEqual([]);
    expect(logLines).toEqual([]);
  });

  it("retries opening a get stream", async () => {
    const inner = new ScriptedBackend({ get: [new Error("socket hang up"), "ok"] });
    const stream = await withRetry(inner, policy).get("k");
    expect(Buffer.concat(await stream.toArray()).toString()).toBe("content");
    expect(inner.calls.get).toBe(2);
  });

  it("stops retrying when the get is aborted during the backoff", async () => {
    const controller = new AbortController();
    const inner = new ScriptedBackend({ get: [sdkError("SlowDown", 503), "ok"] });
    const backend = withRetry(inner, { attempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 });
    const pending = backend.get("k", { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    expect(inner.calls.get).toBe(1);
  });

  it("resumes a failed listing after the last key it yielded, without duplicates", async () => {
    const inner = new ScriptedBackend({
      list: [
        { yield: ["a", "b"], thenFail: errnoError("ECONNRESET") },
        { yield: ["a", "b", "c"], thenFail: sdkError("SlowDown", 503) },
        { yield: ["a", "b", "c", "d"] },
      ],
    });
    const keys: string[] = [];
    for await (const item of withRetry(inner, policy).list("")) keys.push(item.key);
    expect(keys).toEqual(["a", "b", "c", "d"]);
    expect(inner.calls.list).toBe(3);
  });

  it("does not retry a listing failing with a permanent error", async () => {
    const inner = new ScriptedBackend({ list: [{ yield: ["a"], thenFail: sdkError("AccessDenied", 403) }] });
    const keys: string[] = [];
    const consume = async (): Promise<void> => {
      for await (const item of withRetry(inner, policy).list("")) keys.push(item.key);
    };
    await expect(consume()).rejects.toMatchObject({ name: "AccessDenied" });
    expect(keys).toEqual(["a"]);
  });

  it("retries a put that failed before reading the body, and sends the whole body", async () => {
    const inner = new ScriptedBackend({ put: [sdkError("SlowDown", 503), "ok"] });
    const body = Readable.from([Buffer.from("hello "), Buffer.from("world")]);
    expect(await withRetry(inner, policy).put("k", body)).toEqual({ size: 11 });
    expect(inner.calls.put).toBe(2);
    expect(inner.stored.map((data) => data.toString())).toEqual(["hello world"]);
  });

  it("does not retry a put once the body was consumed, and destroys the body", async () => {
    const inner = new ScriptedBackend({ put: ["consume-then-fail", "ok"] });
    const body = Readable.from([Buffer.from("one"), Buffer.from("two")]);
    await expect(withRetry(inner, policy).put("k", body)).rejects.toMatchObject({ name: "InternalError" });
    expect(inner.calls.put).toBe(1);
    expect(body.destroyed).toBe(true);
  });

  it("does not retry a put refused as AlreadyExists, and destroys the body", async () => {
    const inner = new ScriptedBackend({ put: [new AlreadyExistsError("k"), "ok"] });
    const body = Readable.from([Buffer.from("x")]);
    await expect(withRetry(inner, policy).put("k", body)).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(inner.calls.put).toBe(1);
    expect(body.destroyed).toBe(true);
  });

  it("propagates an error of the caller's body through the proxy", async () => {
    const inner = new ScriptedBackend({ put: ["ok"] });
    const body = new Readable({
      read() {
        this.destroy(new Error("producer failed"));
      },
    });
    await expect(withRetry(inner, policy).put("k", body)).rejects.toThrow("producer failed");
    expect(inner.calls.put).toBe(1);
  });

  it("never logs a registered secret that appears in an error message", async () => {
    const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    registerSecret(secret);
    const inner = new ScriptedBackend({ stat: [sdkError("SlowDown", 503, `throttled for ${secret}`), "ok"] });
    await withRetry(inner, policy).stat("k");
    expect(logLines.join("")).not.toContain(secret);
    expect(logLines.join("")).toContain("throttled for ***");
  });
});
