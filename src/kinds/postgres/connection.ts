/**
 * How backdrill reaches a PostgreSQL server: the job's connection block (or a DSN) resolved into
 * one endpoint, and that endpoint expressed two ways: libpq environment variables for the client
 * tools (pg_dump, pg_restore, psql, pg_amcheck) and a node-postgres client for our own queries.
 *
 * The password travels only in PGPASSWORD / the pg client config, never in argv, and is
 * registered for redaction the moment it is read.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import type pg from "pg";
import { OperationError, UsageError } from "../../errors.js";
import { registerSecret } from "../../log/redact.js";
import type { Connection as ConnectionConfig, SslMode } from "./config-schema.js";

export interface PgEndpoint {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  sslmode: SslMode | undefined;
  /** Database named by the config or DSN; used for discovery and globals. */
  database: string;
}

const SSL_MODES: readonly SslMode[] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];
const DEFAULT_PORT = 5432;
const CONNECT_TIMEOUT_SECONDS = 15;

function isSslMode(value: string): value is SslMode {
  return (SSL_MODES as readonly string[]).includes(value);
}

/** Reads a secret from an env var or a file (relative to the config dir); registers it for redaction. */
async function readSecret(
  source: { env?: string | undefined; file?: string | undefined },
  env: NodeJS.ProcessEnv,
  configDir: string,
  what: string,
): Promise<string | undefined> {
  if (source.env !== undefined) {
    const value = env[source.env];
    if (value === undefined || value === "") {
      throw new UsageError(`${what}: environment variable ${source.env} is not set`);
    }
    registerSecret(value);
    return value;
  }
  if (source.file !== undefined) {
    const file = path.resolve(configDir, source.file);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      throw new UsageError(`${what}: cannot read password file ${file}: ${(error as Error).message}`);
    }
    // Files written by `echo` end with a newline that is not part of the password.
    const value = text.replace(/\r?\n$/, "");
    registerSecret(value);
    return value;
  }
  return undefined;
}

/**
 * Parses `postgres://user:password@host:port/db?sslmode=...`. The password is registered for
 * redaction before anything can print the DSN; error messages never repeat the DSN itself.
 */
export function parseDsn(dsn: string, what = "connection URL"): PgEndpoint {
  let url: URL;
  try {
    // WHATWG URLs reject user info without a host (`postgres://u@/db?host=/run/postgresql`),
    // which libpq accepts: put "localhost" in the empty host slot, as libpq would default to.
    url = new URL(dsn.replace(/^(postgres(?:ql)?:\/\/(?:[^@/?]*@)?)(?=[/?]|$)/, "$1localhost"));
  } catch {
    throw new UsageError(`${what} is not a valid URL (expected postgres://user:password@host:port/database)`);
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new UsageError(`${what} must start with postgres:// or postgresql://`);
  }
  const password = url.password === "" ? undefined : decodeURIComponent(url.password);
  registerSecret(password);
  const sslmode = url.searchParams.get("sslmode") ?? undefined;
  if (sslmode !== undefined && !isSslMode(sslmode)) {
    throw new UsageError(`${what}: sslmode must be one of ${SSL_MODES.join(", ")}`);
  }
  // `?host=/var/run/postgresql` selects a Unix socket directory, as in libpq.
  const host = url.searchParams.get("host") ?? url.hostname;
  const user = url.username === "" ? undefined : decodeURIComponent(url.username);
  if (user === undefined) throw new UsageError(`${what} must name a user (postgres://USER@host/...)`);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
  return {
    host: host.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? DEFAULT_PORT : Number(url.port),
    user,
    password,
    sslmode,
    database: database === "" ? "postgres" : database,
  };
}

/** Resolves the job's connection block into an endpoint, reading the password from env or file. */
export async function resolveEndpoint(
  connection: ConnectionConfig,
  env: NodeJS.ProcessEnv,
  configDir: string,
  jobName: string,
): Promise<PgEndpoint> {
  if ("urlEnv" in connection) {
    const dsn = env[connection.urlEnv];
    if (dsn === undefined || dsn === "") {
      throw new UsageError(`job ${jobName}: environment variable ${connection.urlEnv} is not set`);
    }
    const endpoint = parseDsn(dsn, `job ${jobName}: ${connection.urlEnv}`);
    return { ...endpoint, sslmode: endpoint.sslmode ?? connection.sslmode };
  }
  const password = await readSecret(
    { env: connection.passwordEnv, file: connection.passwordFile },
    env,
    configDir,
    `job ${jobName}: connection password`,
  );
  return {
    host: connection.host,
    port: connection.port ?? DEFAULT_PORT,
    user: connection.user,
    password,
    sslmode: connection.sslmode,
    database: connection.database ?? "postgres",
  };
}

/** `user@host:port` for messages: enough to find the server, nothing secret. */
export function describeEndpoint(endpoint: PgEndpoint): string {
  return `${endpoint.user}@${endpoint.host}:${endpoint.port}`;
}

/** A DSN for plans and logs, with the password masked. */
export function redactedDsn(endpoint: PgEndpoint, database: string): string {
  const auth = `${encodeURIComponent(endpoint.user)}${endpoint.password === undefined ? "" : ":***"}`;
  const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
  const ssl = endpoint.sslmode === undefined ? "" : `?sslmode=${endpoint.sslmode}`;
  return `postgres://${auth}@${host}:${endpoint.port}/${encodeURIComponent(database)}${ssl}`;
}

/** libpq environment for the client tools, connecting to `database`. */
export function libpqEnv(endpoint: PgEndpoint, database: string): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: endpoint.host,
    PGPORT: String(endpoint.port),
    PGUSER: endpoint.user,
    PGDATABASE: database,
    PGAPPNAME: "backdrill",
    PGCONNECT_TIMEOUT: String(CONNECT_TIMEOUT_SECONDS),
  };
  if (endpoint.password !== undefined) env.PGPASSWORD = endpoint.password;
  if (endpoint.sslmode !== undefined) env.PGSSLMODE = endpoint.sslmode;
  return env;
}

/**
 * Settings that make a row's text form the same on every server and session, so content
 * checksums taken at backup time compare with those taken after a restore elsewhere.
 */
const DETERMINISTIC_OUTPUT = [
  "SET TimeZone = 'UTC'",
  "SET DateStyle = 'ISO, YMD'",
  "SET IntervalStyle = 'postgres'",
  "SET extra_float_digits = 1",
  "SET bytea_output = 'hex'",
  "SET lc_monetary = 'C'",
  "SET statement_timeout = 0",
].join("; ");

/**
 * node-postgres has no `prefer`: we emulate libpq by trying TLS first and falling back to a
 * plain connection only when the server says it has no TLS. `require` encrypts without
 * verifying (as libpq does without a root certificate); verify-* verify against the system CAs.
 */
function sslOptions(mode: SslMode | undefined): Array<pg.ClientConfig["ssl"]> {
  switch (mode) {
    case "disable":
      return [false];
    case "allow":
      return [false, { rejectUnauthorized: false }];
    case undefined:
    case "prefer":
      return [{ rejectUnauthorized: false }, false];
    case "require":
      return [{ rejectUnauthorized: false }];
    case "verify-ca":
      return [{ rejectUnauthorized: true, checkServerIdentity: () => undefined }];
    case "verify-full":
      return [{ rejectUnauthorized: true }];
  }
}

function isNoTlsError(error: unknown): boolean {
  return error instanceof Error && /does not support SSL/i.test(error.message);
}

/**
 * Connects a node-postgres client to `database` with deterministic output settings. `timeoutSeconds`
 * bounds each connection attempt and every query (status must not hang on a silent server).
 */
export async function connectClient(
  endpoint: PgEndpoint,
  database: string,
  options: { timeoutSeconds?: number } = {},
): Promise<pg.Client> {
  const attempts = sslOptions(endpoint.sslmode);
  // node-postgres is loaded by the first connection, not by every start of the CLI (~60 ms).
  const { Client } = (await import("pg")).default;
  let lastError: unknown;
  for (const [index, ssl] of attempts.entries()) {
    const client = new Client({
      host: endpoint.host,
      port: endpoint.port,
      user: endpoint.user,
      password: endpoint.password,
      database,
      ssl,
      application_name: "backdrill",
      connectionTimeoutMillis: (options.timeoutSeconds ?? CONNECT_TIMEOUT_SECONDS) * 1000,
      ...(options.timeoutSeconds === undefined ? {} : { query_timeout: options.timeoutSeconds * 1000 }),
    });
    // A server that goes away later emits 'error' on the client; the pending query rejects too,
    // which is where we report it. Without a listener Node would crash the process.
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query(DETERMINISTIC_OUTPUT);
      return client;
    } catch (error) {
      await client.end().catch(() => undefined);
      lastError = error;
      const more = index < attempts.length - 1;
      // `allow` retries with TLS after any refusal; `prefer` retries without only on "no TLS".
      if (!more || (ssl !== false && !isNoTlsError(error))) break;
    }
  }
  throw new OperationError(
    `cannot connect to database ${database} as ${describeEndpoint(endpoint)}: ${errorText(lastError)}`,
    { cause: lastError },
  );
}

/** The message of a pg / network error, with the useful code for refused or timed-out connections. */
export function errorText(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return errorText(error.errors[0]);
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ECONNREFUSED") return "connection refused (is the server running and accepting TCP?)";
    if (code === "ENOTFOUND") return "host not found";
    if (error.message !== "") return error.message;
    return typeof code === "string" ? code : error.name;
  }
  return String(error);
}
