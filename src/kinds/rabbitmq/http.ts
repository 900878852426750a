/**
 * A small client for the RabbitMQ management API over node:http / node:https.
 *
 * Not `fetch`: Node's global fetch cannot take a CA bundle or skip verification without
 * importing undici (bundled in Node but not importable as a package), and `tls.caFile` /
 * `tls.insecure` must work without NODE_EXTRA_CA_CERTS. node:https takes `ca` and
 * `rejectUnauthorized` per request, so one code path serves http and https.
 *
 * Every response is read whole (definitions are kilobytes to a few megabytes; a cap guards
 * against a runaway body) and checked before anyone uses it: status, content type, declared
 * length against bytes received, JSON syntax. Each failure is a clear OperationError that says
 * what came back and what to check, and never repeats credentials.
 */
import http from "node:http";
import https from "node:https";
import { readFile } from "node:fs/promises";
import { OperationError, UsageError } from "../../errors.js";
import { redact } from "../../log/redact.js";

export interface ManagementEndpoint {
  /** Base URL without credentials, e.g. http://127.0.0.1:15672 (a path prefix is kept). */
  url: string;
  user: string;
  password: string;
  tls?: { caFile?: string | undefined; insecure?: boolean | undefined } | undefined;
}

export interface HttpResponse {
  status: number;
  contentType: string;
  body: Buffer;
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** Far above any real definitions export; a body larger than this is refused, not buffered. */
const MAX_BODY_BYTES = 512 * 1024 * 1024;

/** URL with any userinfo replaced by `***`, for messages. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username !== "" || parsed.password !== "") {
      parsed.username = "***";
      parsed.password = "";
    }
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return "<invalid url>";
  }
}

function apiUrl(base: string, path: string): URL {
  const parsed = new URL(base);
  parsed.username = "";
  parsed.password = "";
  parsed.pathname = `${parsed.pathname.replace(/\/+$/, "")}${path}`;
  return parsed;
}

/** Percent-encodes one path segment (vhost `/` becomes %2F). */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

const caCache = new Map<string, Buffer>();

async function readCa(file: string): Promise<Buffer> {
  const cached = caCache.get(file);
  if (cached !== undefined) return cached;
  try {
    const data = await readFile(file);
    caCache.set(file, data);
    return data;
  } catch (error) {
    throw new UsageError(`tls.caFile: cannot read ${file}: ${(error as Error).message}`);
  }
}

/** One request; resolves with the whole body, rejects on network errors, timeouts and aborts. */
export async function request(
  endpoint: ManagementEndpoint,
  method: "GET" | "POST",
  path: string,
  options: { body?: Buffer | string; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<HttpResponse> {
  const url = apiUrl(endpoint.url, path);
  const isHttps = url.protocol === "https:";
  if (!isHttps && url.protocol !== "http:") {
    throw new UsageError(`management url must be http:// or https://, got ${url.protocol}`);
  }
  const ca = isHttps && endpoint.tls?.caFile !== undefined ? await readCa(endpoint.tls.caFile) : undefined;
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers: Record<string, string> = {
    accept: "application/json",
    authorization: `Basic ${Buffer.from(`${endpoint.user}:${endpoint.password}`).toString("base64")}`,
  };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(body.length);
  }
  const where = `${method} ${redactedUrl(endpoint.url)}${path}`;
  return new Promise<HttpResponse>((resolve, reject) => {
    const requestOptions: https.RequestOptions = {
      method,
      headers,
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    };
    if (isHttps) {
      if (ca !== undefined) requestOptions.ca = ca;
      if (endpoint.tls?.insecure === true) requestOptions.rejectUnauthorized = false;
    }
    const req = (isHttps ? https : http).request(url, requestOptions, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      let complete = false;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          req.destroy(new OperationError(`${where}: response larger than ${MAX_BODY_BYTES} bytes; refused`));
          return;
        }
        parts.push(chunk);
      });
      res.on("end", () => {
        complete = res.complete;
        const data = Buffer.concat(parts);
        if (!complete) {
          reject(
            new OperationError(
              `${where}: the connection closed before the response was complete (${data.length} bytes received)`,
            ),
          );
          return;
        }
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers["content-type"] ?? ""),
          body: data,
        });
      });
      res.on("error", (error) => {
        reject(
          new OperationError(`${where}: response failed after ${size} bytes: ${error.message}`, {
            cause: error,
          }),
        );
      });
      res.on("aborted", () => {
        reject(new OperationError(`${where}: the response was cut off after ${size} bytes (truncated)`));
      });
    });
    req.on("timeout", () => {
      req.destroy(
        new OperationError(`${where}: no answer within ${(options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000}s`),
      );
    });
    req.on("error", (error) => {
      if (error instanceof OperationError) {
        reject(error);
        return;
      }
      if (options.signal?.aborted === true) {
        reject(options.signal.reason ?? error);
        return;
      }
      const code = (error as NodeJS.ErrnoException).code;
      const hint =
        code === "ECONNREFUSED"
          ? "is the management plugin enabled and the port right (usually 15672)?"
          : code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)
            ? "set tls.caFile to the CA that signed the management certificate"
            : undefined;
      reject(
        new OperationError(`${where}: ${redact(error.message)}`, {
          cause: error,
          ...(hint === undefined ? {} : { hint }),
        }),
      );
    });
    req.end(body);
  });
}

/** A short, single-line, redacted excerpt of a body for error messages (HTML tags stripped). */
export function excerpt(body: Buffer, max = 200): string {
  const text = redact(body.toString("utf8", 0, Math.min(body.length, 4096)))
    .replace(/<[^>]*>/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/\s+/g, " ")
    .trim();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The `reason` of a management API error body (`{"error":…,"reason":…}`), or an excerpt. */
export function errorReason(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { error?: unknown; reason?: unknown };
    if (typeof parsed.reason === "string" || typeof parsed.error === "string") {
      const reason = String(parsed.reason ?? parsed.error)
        .replace(/^<<"(.*)">>$/s, "$1")
        .replace(/\\n/g, "\n")
        .replace(/\\"/g, '"');
      return excerpt(Buffer.from(reason), 600);
    }
  } catch {
    // Not JSON: fall through to an excerpt.
  }
  return excerpt(body);
}

/** Turns a non-2xx status into an OperationError with an operator-facing explanation. */
export function statusError(where: string, response: HttpResponse, user: string): OperationError {
  const { status } = response;
  if (status === 401) {
    return new OperationError(`${where}: authentication failed (HTTP 401) for user ${user}`, {
      hint: "check the user and its password (passwordEnv / passwordFile)",
    });
  }
  if (status === 403) {
    return new OperationError(
      `${where}: user ${user} is not allowed (HTTP 403): ${errorReason(response.body)}`,
      {
        hint: "exporting or importing definitions needs a user with the administrator tag",
      },
    );
  }
  if (status === 404) {
    return new OperationError(`${where}: not found (HTTP 404); is this the management API's base URL?`);
  }
  return new OperationError(`${where}: HTTP ${status}: ${errorReason(response.body) || "(empty body)"}`);
}

/**
 * GET that must return a JSON document: checks the status, the content type (an HTML error page
 * from a proxy is not JSON) and the syntax (a truncated body does not parse).
 */
export async function getJson(
  endpoint: ManagementEndpoint,
  path: string,
  signal?: AbortSignal,
): Promise<{ value: unknown; raw: Buffer }> {
  const where = `GET ${redactedUrl(endpoint.url)}${path}`;
  const response = await request(endpoint, "GET", path, signal === undefined ? {} : { signal });
  if (response.status < 200 || response.status >= 300) throw statusError(where, response, endpoint.user);
  return { value: parseJsonBody(where, response), raw: response.body };
}

export function parseJsonBody(where: string, response: HttpResponse): unknown {
  const type = response.contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  if (type !== "application/json" && !type.endsWith("+json")) {
    const what =
      type === "text/html" || /^\s*</.test(response.body.toString("utf8", 0, 64))
        ? "an HTML page"
        : `content type ${type || "none"}`;
    throw new OperationError(`${where}: expected JSON, got ${what}: ${excerpt(response.body)}`, {
      hint: "is url the management API (not a proxy's error or login page)?",
    });
  }
  try {
    return JSON.parse(response.body.toString("utf8")) as unknown;
  } catch (error) {
    throw new OperationError(
      `${where}: the response is not valid JSON (truncated or damaged, ${response.body.length} bytes): ${(error as Error).message}`,
    );
  }
}

/** POST a JSON body; any non-2xx answer throws with the broker's reason. */
export async function postJson(
  endpoint: ManagementEndpoint,
  path: string,
  body: string,
  signal?: AbortSignal,
): Promise<void> {
  const where = `POST ${redactedUrl(endpoint.url)}${path}`;
  const response = await request(endpoint, "POST", path, {
    body,
    timeoutMs: 300_000,
    ...(signal === undefined ? {} : { signal }),
  });
  if (response.status < 200 || response.status >= 300) throw statusError(where, response, endpoint.user);
}
