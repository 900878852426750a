/**
 * The one retry layer for S3: a `RetryStrategyV2` for the SDK client, so every HTTP request
 * (HEAD, LIST, DELETE, PutObject, each UploadPart, Complete, Abort) is retried where its bytes are
 * still in memory. `retry.ts`'s wrapper does not retry an error that already went through this
 * strategy (it carries `$metadata.attempts`), so the two layers never multiply: a logical storage
 * operation makes at most `attempts` requests to the server, and a multipart upload at most
 * `attempts` per part.
 *
 * Why our own strategy instead of the SDK's standard one: its backoff (50-100 ms base) gives up
 * within a second or two, too soon to ride out a server restart or a load balancer failover,
 * and its 2026 defaults change under us with SDK updates. Here:
 *   - what is retried is decided by `isTransientError` (retry.ts), the same list as the wrapper:
 *     5xx, 429/SlowDown/throttling codes, timeouts, connection resets/refusals;
 *   - backoff is full jitter, `random · min(maxDelayMs, base · 2^(retry-1))`, base 500 ms, and
 *     twice that for throttling (SlowDown, any 503 or 429: the server asked us to slow down);
 *   - a `Retry-After` the server sends raises the delay (up to `maxDelayMs`).
 * Worst case per request with the defaults (6 attempts, 15 s cap): 5 waits of at most
 * 0.5 + 1 + 2 + 4 + 8 s (throttling: 1 + 2 + 4 + 8 + 15) = 15.5 s (30 s), plus 6 × the socket
 * idle timeout if the server hangs instead of answering (`client.ts`).
 */
import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from "@smithy/types";
import { UsageError } from "../../errors.js";
import { logger } from "../../log/logger.js";
import { backoffDelayMs, isTransientError } from "../retry.js";

export interface S3RetryOptions {
  /** Requests per operation including the first; 1 disables retries. */
  attempts: number;
  /** Base of the exponential backoff (doubled for throttling). */
  baseDelayMs: number;
  /** Cap of any single wait. */
  maxDelayMs: number;
  /** For tests: a source of numbers in [0, 1). Default Math.random. */
  random?: () => number;
}

export const DEFAULT_S3_RETRY: Readonly<S3RetryOptions> = {
  attempts: 6,
  baseDelayMs: 500,
  maxDelayMs: 15_000,
};

class Token implements RetryToken {
  constructor(
    private readonly retries: number,
    private readonly delayMs: number,
  ) {}
  getRetryCount(): number {
    return this.retries;
  }
  getRetryDelay(): number {
    return this.delayMs;
  }
}

export class BackoffRetryStrategy implements RetryStrategyV2 {
  readonly mode = "standard";
  private readonly options: S3RetryOptions;
  private readonly random: () => number;

  constructor(options: Partial<S3RetryOptions> = {}) {
    this.options = { ...DEFAULT_S3_RETRY, ...options };
    for (const [name, value, min] of [
      ["attempts", this.options.attempts, 1],
      ["baseDelayMs", this.options.baseDelayMs, 0],
      ["maxDelayMs", this.options.maxDelayMs, 0],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < min) {
        throw new UsageError(`S3 retry ${name} must be an integer ≥ ${min}, got ${value}`);
      }
    }
    this.random = options.random ?? Math.random;
  }

  get attempts(): number {
    return this.options.attempts;
  }

  async acquireInitialRetryToken(_scope: string): Promise<RetryToken> {
    return new Token(0, 0);
  }

  /** A token for the next attempt, or a throw: the SDK then rethrows the request's error. */
  async refreshRetryTokenForRetry(token: RetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    const retry = token.getRetryCount() + 1; // 1 = the first retry
    if (retry >= this.options.attempts || !this.shouldRetry(info)) {
      throw new Error("no retry: attempts exhausted or error not transient");
    }
    // S3 answers 503 only for SlowDown, and a HEAD's 503 has no body to carry the code.
    const status = (info.error as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata
      ?.httpStatusCode;
    const throttled = info.errorType === "THROTTLING" || status === 503 || status === 429;
    const base = throttled ? this.options.baseDelayMs * 2 : this.options.baseDelayMs;
    let delayMs = backoffDelayMs(
      retry,
      { baseDelayMs: base, maxDelayMs: this.options.maxDelayMs },
      this.random,
    );
    if (info.retryAfterHint instanceof Date) {
      delayMs = Math.max(
        delayMs,
        Math.min(this.options.maxDelayMs, info.retryAfterHint.getTime() - Date.now()),
      );
    }
    logger().debug(
      {
        attempt: retry,
        attempts: this.options.attempts,
        delayMs,
        errorType: info.errorType,
        throttled,
        err: info.error instanceof Error ? info.error.message : String(info.error),
      },
      "S3 request failed, retrying",
    );
    return new Token(retry, delayMs);
  }

  recordSuccess(_token: RetryToken): void {}

  private shouldRetry(info: RetryErrorInfo): boolean {
    if (info.errorType === "THROTTLING" || info.errorType === "TRANSIENT") return true;
    // The SDK calls plain 5xx without a known code SERVER_ERROR; isTransientError decides those
    // and the codes the SDK does not know (e.g. "socket hang up" without a code).
    return isTransientError(info.error);
  }
}
