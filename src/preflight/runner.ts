/**
 * Runs doctor checks: each bounded in time, each independent (a throw or a timeout becomes that
 * check's FAIL, never the end of the run), a few at once so a config with many jobs does not
 * take jobs × timeout, and results in the order the checks were declared.
 *
 * Checks that need the same expensive fact (one database connection serves five archiving checks)
 * share it through `shared()`: the first caller starts it, the others await the same promise. A
 * check whose prerequisite failed throws `SkipCheck`, so the output has one FAIL for the cause and
 * `skip` lines instead of five copies of the same error.
 */
import { BackdrillError, ConfigError, formatConfigIssue } from "../errors.js";
import { redact } from "../log/redact.js";
import type { CheckResult, Finding } from "./report.js";

export interface CheckSpec {
  subject: string;
  name: string;
  /** A check that waits on purpose (doctor --switch-wal) sets its own bound; default the run's. */
  timeoutMs?: number;
  run: (signal: AbortSignal) => Promise<Finding>;
}

/** Thrown by a check whose prerequisite failed: reported as `skip`, not as a second failure. */
export class SkipCheck extends Error {
  override name = "SkipCheck";
}

export class CheckTimeoutError extends Error {
  override name = "CheckTimeoutError";
}

export interface RunChecksOptions {
  timeoutMs: number;
  /** Checks in flight at once. */
  concurrency: number;
  signal?: AbortSignal | undefined;
}

export const ok = (detail: string): Finding => ({ status: "ok", detail });
export const warn = (detail: string, hint?: string): Finding => ({ status: "warn", detail, hint });
export const fail = (detail: string, hint?: string): Finding => ({ status: "fail", detail, hint });

/** A failure as a finding: the message (config issues one by one) and the error's own hint. */
export function failureOf(error: unknown): Finding {
  if (error instanceof ConfigError) {
    return fail(error.issues.map(formatConfigIssue).join("; "), error.hint);
  }
  if (error instanceof BackdrillError) return fail(error.message, error.hint);
  if (error instanceof Error) return fail(error.message || error.name);
  return fail(String(error));
}

/** A signal aborted after `timeoutMs` or when `parent` aborts, whichever comes first. */
export function boundedSignal(timeoutMs: number, parent?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return parent === undefined ? timeout : AbortSignal.any([timeout, parent]);
}

/**
 * Memoises an async fact for all checks that need it. It runs under its own time bound rather
 * than the first caller's, so one check timing out does not poison the fact for the others.
 */
export function shared<T>(
  work: (signal: AbortSignal) => Promise<T>,
  options: { timeoutMs: number; signal?: AbortSignal | undefined },
): () => Promise<T> {
  let promise: Promise<T> | undefined;
  return () => {
    if (promise === undefined) {
      promise = work(boundedSignal(options.timeoutMs, options.signal));
      // Awaited by the checks; this only keeps an unobserved rejection from crashing the process.
      promise.catch(() => undefined);
    }
    return promise;
  };
}

export async function runCheck(spec: CheckSpec, options: RunChecksOptions): Promise<CheckResult> {
  const started = Date.now();
  const controller = new AbortController();
  const timeoutMs = spec.timeoutMs ?? options.timeoutMs;
  const seconds = Math.round(timeoutMs / 100) / 10;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const error = new CheckTimeoutError(`no answer within ${seconds} s`);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  const onParentAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onParentAbort, { once: true });
  let finding: Finding;
  try {
    // The race returns on time even when a library ignores the signal (a TCP connect without its
    // own timeout); that straggler settles later and is discarded.
    finding = await Promise.race([spec.run(controller.signal), timedOut]);
  } catch (error) {
    if (error instanceof SkipCheck) finding = { status: "skip", detail: error.message };
    else if (error instanceof CheckTimeoutError) {
      finding = fail(
        error.message,
        "the server or tool did not answer in time: check that it runs and that the network lets us through; --timeout raises the limit",
      );
    } else finding = failureOf(error);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onParentAbort);
  }
  return {
    subject: spec.subject,
    name: spec.name,
    status: finding.status,
    detail: redact(finding.detail),
    ...(finding.hint === undefined ? {} : { hint: redact(finding.hint) }),
    durationMs: Date.now() - started,
  };
}

/** Runs every check (at most `concurrency` at once); results in declaration order. */
export async function runChecks(
  specs: readonly CheckSpec[],
  options: RunChecksOptions,
): Promise<CheckResult[]> {
  const results: CheckResult[] = new Array<CheckResult>(specs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < specs.length) {
      const index = next;
      next += 1;
      const spec = specs[index];
      if (spec !== undefined) results[index] = await runCheck(spec, options);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, specs.length)) }, worker));
  return results;
}
