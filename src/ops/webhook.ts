/**
 * Healthchecks-style pings (healthchecks.io, Uptime Kuma push monitors, Cronitor, ...): a run
 * POSTs `<url>/start` when it begins, `<url>` when it succeeds and `<url>/fail` when it fails, with
 * a short plain-text body (what happened, the error). The monitoring side alerts on a fail ping
 * AND on a missing success ping, so a host that died silently is noticed too.
 *
 * The URL comes from the environment, never from the config files: ping URLs are credentials
 * (anyone holding one can mark a check green). `BACKDRILL_WEBHOOK_URL` may contain `{name}`,
 * replaced by the job or drill name, so one variable serves a check per job
 * (`https://hc-ping.com/<ping-key>/backdrill-{name}` uses healthchecks' slug URLs). The URL is
 * registered for redaction and only its host is ever logged.
 *
 * A webhook failure is logged and never fails the backup: monitoring must not break what it
 * monitors.
 */
import { UsageError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { redact, registerSecret, withoutChildOutput } from "../log/redact.js";
import { isLocalHost } from "../util/local-host.js";

export const WEBHOOK_ENV = "BACKDRILL_WEBHOOK_URL";
const TIMEOUT_MS = 10_000;
const ATTEMPTS = 3;
const MAX_BODY = 10_000;

export type PingEvent = "start" | "success" | "fail";

/** The ping URL for `name`, or undefined when no webhook is configured. UsageError if malformed. */
export function webhookUrl(env: NodeJS.ProcessEnv, name: string): URL | undefined {
  const template = env[WEBHOOK_ENV];
  if (template === undefined || template.trim() === "") return undefined;
  registerSecret(template);
  let url: URL;
  try {
    url = new URL(template.replaceAll("{name}", encodeURIComponent(name)));
  } catch {
    throw new UsageError(`${WEBHOOK_ENV} is not a URL (expected e.g. https://hc-ping.com/<uuid>)`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UsageError(`${WEBHOOK_ENV} must be an http(s) URL, got ${url.protocol}`);
  }
  registerSecret(url.toString());
  return url;
}

/** `<url>/start`, `<url>`, `<url>/fail` (query string kept). */
export function pingUrl(base: URL, event: PingEvent): URL {
  const url = new URL(base.toString());
  if (event !== "success") url.pathname = `${url.pathname.replace(/\/+$/, "")}/${event}`;
  return url;
}

export interface PingOptions {
  log: Logger;
  /** Plain text for the check's event log; redacted and truncated. */
  body?: string;
  timeoutMs?: number;
}

/** Sends one ping, retrying transient failures. Resolves true if delivered; never rejects. */
export async function ping(base: URL, event: PingEvent, options: PingOptions): Promise<boolean> {
  const url = pingUrl(base, event);
  // Child processes' stderr stays in the log: it can quote row values (pg_restore, psql).
  const body = redact(withoutChildOutput(options.body ?? "")).slice(0, MAX_BODY);
  let problem = "";
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const response = await fetch(url, {
        method: "POST",
        body,
        headers: { "content-type": "text/plain; charset=utf-8" },
        signal: AbortSignal.timeout(options.timeoutMs ?? TIMEOUT_MS),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return true;
      problem = `HTTP ${response.status}`;
      // 4xx will not get better by retrying (wrong URL, unknown check).
      if (response.status < 500 && response.status !== 429) break;
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
    if (attempt < ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
  }
  options.log.warn(
    { webhook: base.host, event, problem: redact(problem) },
    "webhook ping failed (the run itself is unaffected)",
  );
  return false;
}

/** `ping` when a webhook is configured for `name`; a malformed URL is logged, not thrown. */
export async function pingIfConfigured(
  env: NodeJS.ProcessEnv,
  name: string,
  event: PingEvent,
  options: PingOptions,
): Promise<void> {
  let url: URL | undefined;
  try {
    url = webhookUrl(env, name);
  } catch (error) {
    options.log.warn({ error: error instanceof Error ? error.message : String(error) }, "webhook not called");
    return;
  }
  if (url !== undefined) await ping(url, event, options);
}

/**
 * Why the configured webhook URL deserves a warning (doctor), or undefined: plain `http://` to
 * another host sends the ping URL (a credential) and the bodies unencrypted.
 */
export function webhookWarning(env: NodeJS.ProcessEnv): string | undefined {
  const url = webhookUrl(env, "doctor");
  if (url === undefined || url.protocol !== "http:" || isLocalHost(url.hostname)) return undefined;
  return `${WEBHOOK_ENV} is plain http:// to ${url.host}: the ping URL (a credential) and the run summaries travel unencrypted`;
}
