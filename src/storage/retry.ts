/**
 * Retries for transient storage failures, as a `Backend` wrapping a `Backend` (restic's
 * RetryBackend): the implementations stay simple and the policy lives in one place.
 *
 * What is retried: throttling (HTTP 429, SlowDown, 503), other 5xx, request timeouts and dropped
 * connections (ECONNRESET, ETIMEDOUT, "socket hang up", ...). Never: `NotFoundError`,
 * `AlreadyExistsError`, `UsageError`, aborts, other 4xx (auth, bad request), local disk errors
 * (ENOSPC, EACCES), and anything we do not recognise — an unknown error is more likely a bug or
 * misconfiguration than a blip, and retrying it only delays the report.
 *
 * Backoff is "full jitter" exponential: before retry n (1-based) we sleep a uniformly random
 * time in [0, min(maxDelayMs, baseDelayMs · 2^(n-1))], which spreads out clients that failed
 * together (AWS Architecture Blog, "Exponential Backoff And Jitter").
 *
 * Per operation:
 *   - `stat`, `delete`: idempotent, retried as a whole.
 *   - `get`: opening the stream is retried; an error later, mid-stream, is the reader's (it knows
 *     how much it has consumed and can ask for the rest with a range).
 *   - `list`: a listing that fails part-way is restarted and resumes after the last key it
 *     yielded (listings are sorted, see `Backend.list`), so the consumer sees no duplicates.
 *   - `put`: a body stream is one-shot. The wrapper retries only if the failed attempt never read
 *     from the body (e.g. the existence check hit a 503); once bytes have been consumed it cannot
 *     re-send them. Retries of the upload itself happen below, per request, where the bytes are
 *     still in memory: the S3 client retries each PutObject/UploadPart (`s3/retry-strategy.ts`),
 *     and a local write has nothing transient to retry.
 *
 * No multiplied retries: an error that already went through a retry layer below (the S3 client
 * marks it with `$metadata.attempts`, see `alreadyRetried`) is final here. Retrying it again would
 * turn the S3 strategy's 6 attempts into 6 × 4 = 24 requests and minutes of waiting per failed
 * operation against a dead server, without a better chance of success: the strategy below already
 * waited with the same kind of backoff. So for S3 every logical operation makes at most the S3
 * strategy's `attempts` requests; this wrapper retries only errors that bypassed such a layer.
 */
import { Readable } from "node:stream";
import { setTimeout as sleepFor } from "node:timers/promises";
import { AlreadyExistsError, NotFoundError, UsageError } from "../errors.js";
import { logger } from "../log/logger.js";
import { type Backend, compareKeys, type GetOptions, type ObjectInfo, type PutOptions } from "./backend.js";

export interface RetryOptions {
  /** Total attempts including the first; 1 disables retries. Default 4. */
  attempts: number;
  /** Default 500 ms. */
  baseDelayMs: number;
  /** Default 15 s. */
  maxDelayMs: number;
  /** For tests: a source of numbers in [0, 1). Default Math.random. */
  random?: () => number;
  /** For tests: how to wait. Default a timer that an abort signal cuts short. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** HTTP statuses that say "try again later". 501 (not implemented) is deliberately absent. */
const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** S3 error codes and Node error codes that are transient whatever the status says. */
const TRANSIENT_CODES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "BandwidthLimitExceeded",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalError",
  "ServiceUnavailable",
  "TimeoutError",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
]);

/** Whether retrying `error` may succeed. Looks through `cause` chains (backends wrap SDK errors). */
export function isTransientError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== null && typeof current === "object"; depth++) {
    if (
      current instanceof NotFoundError ||
      current instanceof AlreadyExistsError ||
      current instanceof UsageError
    ) {
      return false;
    }
    const { name, code, Code, message, $metadata } = current as {
      name?: unknown;
      code?: unknown;
      Code?: unknown;
      message?: unknown;
      $metadata?: { httpStatusCode?: unknown };
    };
    if (name === "AbortError") return false;
    for (const candidate of [Code, code, name]) {
      if (typeof candidate === "string" && TRANSIENT_CODES.has(candidate)) return true;
    }
    const status = $metadata?.httpStatusCode;
    if (typeof status === "number") {
      if (TRANSIENT_STATUS.has(status)) return true;
      if (status >= 400) return false; // a definite answer from the server: auth, bad request, ...
    }
    if (typeof message === "string" && /socket hang up/i.test(message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Whether `error` (or an error in its `cause` chain) was already retried by a layer below: the
 * AWS SDK's retry middleware sets `$metadata.attempts` on the error it finally throws.
 */
export function alreadyRetried(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== null && typeof current === "object"; depth++) {
    const metadata = (current as { $metadata?: { attempts?: unknown } }).$metadata;
    if (typeof metadata?.attempts === "number") return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Full-jitter delay before retry `retry` (1 = the first retry). */
export function backoffDelayMs(
  retry: number,
  options: Pick<RetryOptions, "baseDelayMs" | "maxDelayMs">,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (retry - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Defaults for backends without a retry layer of their own (worst case ~3.5 s of waiting). S3
 * errors are not retried here at all (see `alreadyRetried`).
 */
export const DEFAULT_RETRY_OPTIONS: Readonly<Pick<RetryOptions, "attempts" | "baseDelayMs" | "maxDelayMs">> =
  {
    attempts: 4,
    baseDelayMs: 500,
    maxDelayMs: 15_000,
  };

export function withRetry(backend: Backend, options: Partial<RetryOptions> = {}): Backend {
  const resolved: RetryOptions = { ...DEFAULT_RETRY_OPTIONS, ...options };
  for (const [name, value, min] of [
    ["attempts", resolved.attempts, 1],
    ["baseDelayMs", resolved.baseDelayMs, 0],
    ["maxDelayMs", resolved.maxDelayMs, 0],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < min) {
      throw new UsageError(`retry ${name} must be an integer ≥ ${min}, got ${value}`);
    }
  }
  return new RetryingBackend(backend, resolved);
}

class RetryingBackend implements Backend {
  readonly location: string;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(
    private readonly inner: Backend,
    private readonly options: RetryOptions,
  ) {
    this.location = inner.location;
    if (inner.abortIncompleteUploads !== undefined) {
      this.abortIncompleteUploads = inner.abortIncompleteUploads.bind(inner);
    }
    this.random = options.random ?? Math.random;
    this.sleep =
      options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, signal === undefined ? {} : { signal }));
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<{ size: number }> {
    for (let attempt = 1; ; attempt++) {
      // The inner backend gets a proxy that starts pulling from `body` only when first read, so
      // after a failure we know whether `body` is still intact and can be offered again.
      const proxy = new DeferredBody(body);
      try {
        return await this.inner.put(key, proxy, options);
      } catch (error) {
        const replayable = !proxy.started && !body.destroyed;
        if (!replayable || !(await this.shouldRetry("put", key, error, attempt, options.signal))) {
          // With the error when a pipeline listens (see s3-backend.ts `destroyWith`).
          if (error instanceof Error && body.listenerCount("error") > 0) body.destroy(error);
          else body.destroy();
          throw error;
        }
      }
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    return this.run("get", key, () => this.inner.get(key, options), options.signal);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    return this.run("stat", key, () => this.inner.stat(key));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let last: string | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const info of this.inner.list(prefix)) {
          if (last !== undefined && compareKeys(info.key, last) <= 0) continue; // seen before the failure
          last = info.key;
          attempt = 1; // progress: the next failure gets a full set of attempts again
          yield info;
        }
        return;
      } catch (error) {
        if (!(await this.shouldRetry("list", prefix, error, attempt))) throw error;
      }
    }
  }

  async delete(key: string): Promise<void> {
    return this.run("delete", key, () => this.inner.delete(key));
  }

  async close(): Promise<void> {
    await this.inner.close();
  }

  /** Passed through when the inner backend has it; its requests are retried below (S3 client). */
  readonly abortIncompleteUploads?: Backend["abortIncompleteUploads"];

  private async run<T>(op: string, key: string, call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (!(await this.shouldRetry(op, key, error, attempt, signal))) throw error;
      }
    }
  }

  /** Decides, logs and waits. Resolves false when the error should be thrown. */
  private async shouldRetry(
    op: string,
    key: string,
    error: unknown,
    attempt: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    if (
      attempt >= this.options.attempts ||
      signal?.aborted ||
      !isTransientError(error) ||
      alreadyRetried(error)
    ) {
      return false;
    }
    const delayMs = backoffDelayMs(attempt, this.options, this.random);
    logger().warn(
      {
        op,
        key,
        location: this.location,
        attempt,
        attempts: this.options.attempts,
        delayMs,
        err: error instanceof Error ? error.message : String(error),
      },
      `transient storage error on ${op}, retrying`,
    );
    await this.sleep(delayMs, signal);
    return true;
  }
}

/**
 * A Readable that forwards `source` but touches it only once it is read itself. Until then,
 * destroying the proxy leaves `source` untouched; afterwards it destroys `source` too.
 */
class DeferredBody extends Readable {
  started = false;

  constructor(private readonly source: Readable) {
    super();
  }

  override _read(): void {
    if (this.started) {
      this.source.resume();
      return;
    }
    this.started = true;
    this.source.on("data", (chunk: Buffer | string) => {
      if (!this.push(chunk)) this.source.pause();
    });
    this.source.once("end", () => this.push(null));
    this.source.once("error", (error) => this.destroy(error));
    this.source.once("close", () => {
      // Closed without 'end' (destroyed by its producer): that is a truncated body, not EOF.
      if (!this.source.readableEnded) this.destroy(new Error("body stream closed before its end"));
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.started && !this.source.destroyed) this.source.destroy(error ?? undefined);
    callback(error);
  }
}
