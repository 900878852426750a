/**
 * Doctor checks every PostgreSQL job gets: the server answers with the job's credentials, and the
 * client tools are at least the server's major version. The server's settings and archiver
 * statistics are queried once (`ServerFacts`) and shared with the kinds' own checks, which add to
 * these (databases, archiving health). Read-only queries only.
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import path from "node:path";
import type { Connection, Tools } from "./config-schema.js";
import {
  connectClient,
  describeEndpoint,
  errorText,
  parseDsn,
  resolveEndpoint,
  type PgEndpoint,
} from "./connection.js";
import { PgTools, type PgTool } from "./tools.js";
import { readArchiverStats, type ArchiverStats } from "./archiver.js";
import type { Finding } from "../../preflight/report.js";
import { fail, ok, shared, SkipCheck, warn, type CheckSpec } from "../../preflight/runner.js";
import { isLocalHost } from "../../util/local-host.js";
import type { JobSource, KindDoctorContext } from "../contract.js";

/** What the shared checks read of a PostgreSQL job. */
export interface PgJob {
  name: string;
  kind: string;
  policy: string;
  connection: Connection;
  tools: Tools;
}

export interface ServerFacts {
  endpoint: string;
  version: string;
  major: number;
  canReplicate: boolean;
  walLevel: string;
  archiveMode: string;
  /** null: not readable by this user (archive_command is superuser-only to read). */
  archiveCommand: string | null;
  archiveCommandError: string | null;
  archiveLibrary: string;
  archiveTimeoutSeconds: number;
  /** PostgreSQL 17's summarize_wal (on/off); null before 17. Incremental backups need it on. */
  summarizeWal: string | null;
  databases: string[];
  archiver: ArchiverStats;
}

/** Where the job's password comes from, for hints (`connection.passwordEnv TASK_DB_PASSWORD`). */
function passwordSource(job: PgJob): string {
  const connection = job.connection;
  if ("urlEnv" in connection) return `the URL in ${connection.urlEnv}`;
  if (connection.passwordEnv !== undefined) return `the password in ${connection.passwordEnv}`;
  if (connection.passwordFile !== undefined) return `the password in ${connection.passwordFile}`;
  return "the password (no passwordEnv/passwordFile: libpq defaults)";
}

function pgCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = current.cause;
  }
  return undefined;
}

/** The operator's next step for a failed connection, by what the server or network said. */
export function connectionHint(error: unknown, job: PgJob, where: string): string {
  const code = pgCode(error);
  switch (code) {
    case "28P01":
      return `password authentication failed: check ${passwordSource(job)} (${where}: connection) against the role's password`;
    case "28000":
      return "the server refused this user/host (pg_hba.conf has no matching entry, or the role may not log in): add a host line for the backup host and reload";
    case "3D000":
      return `the database does not exist: set connection.database in ${where} (default postgres)`;
    case "ECONNREFUSED":
      return "nothing listens there: is the server running, are host/port right, does listen_addresses include this interface?";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `the host name does not resolve: check connection.host in ${where}`;
    case "ETIMEDOUT":
      return "the connection timed out: a firewall or a wrong host/port";
    default:
      return `check host, port, user and ${passwordSource(job)} in ${where}`;
  }
}

async function queryServer(endpoint: PgEndpoint): Promise<ServerFacts> {
  const client = await connectClient(endpoint, endpoint.database);
  try {
    const main = await client.query<{
      version: string;
      num: string;
      can_replicate: boolean | null;
      wal_level: string;
      archive_mode: string;
      archive_library: string | null;
      archive_timeout: string;
      summarize_wal: string | null;
    }>(
      `SELECT current_setting('server_version') AS version,
              current_setting('server_version_num') AS num,
              (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user) AS can_replicate,
              current_setting('wal_level') AS wal_level,
              current_setting('archive_mode') AS archive_mode,
              current_setting('archive_library', true) AS archive_library,
              extract(epoch FROM current_setting('archive_timeout')::interval)::text AS archive_timeout,
              current_setting('summarize_wal', true) AS summarize_wal`,
    );
    const row = main.rows[0];
    if (row === undefined) throw new Error("the server returned no settings");
    let archiveCommand: string | null = null;
    let archiveCommandError: string | null = null;
    try {
      const result = await client.query<{ value: string }>(
        "SELECT current_setting('archive_command') AS value",
      );
      archiveCommand = result.rows[0]?.value ?? "";
    } catch (error) {
      // Reading it needs superuser or pg_read_all_settings; a replication user usually has neither.
      archiveCommandError = errorText(error);
    }
    const databases = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY datname",
    );
    const archiver = await readArchiverStats(client);
    return {
      endpoint: describeEndpoint(endpoint),
      version: row.version,
      major: Math.floor(Number(row.num) / 10000),
      canReplicate: row.can_replicate === true,
      walLevel: row.wal_level,
      archiveMode: row.archive_mode,
      archiveCommand,
      archiveCommandError,
      archiveLibrary: row.archive_library ?? "",
      archiveTimeoutSeconds: Number(row.archive_timeout) || 0,
      summarizeWal: row.summarize_wal,
      databases: databases.rows.map((entry) => entry.datname),
      archiver,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Why the connection's TLS setting deserves a warning, or undefined: to another host, anything
 * but verify-ca/verify-full either sends the password and data in plain text (disable, allow,
 * and prefer when the server or a man in the middle declines TLS) or does not check whom it
 * talks to (require).
 */
export function tlsWarning(endpoint: Pick<PgEndpoint, "host" | "sslmode">): string | undefined {
  if (isLocalHost(endpoint.host)) return undefined;
  const mode = endpoint.sslmode ?? "prefer";
  if (mode === "verify-ca" || mode === "verify-full") return undefined;
  const what =
    mode === "disable"
      ? "no TLS: the password and the data travel in plain text"
      : mode === "require"
        ? "TLS without checking the server's certificate: anyone in the path can pose as the server"
        : "TLS only if offered, unverified: a man in the middle can decline it and read everything, or pose as the server";
  return `sslmode ${mode}${endpoint.sslmode === undefined ? " (the default)" : ""} to ${endpoint.host}: ${what}`;
}

/** Values of `NAME=value` assignments in a command line could be credentials; never shown. */
export function maskAssignments(command: string): string {
  return command.replace(/\b([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S+)/g, "$1=***");
}

/** Ends a check that needs the server when the connection check already failed. */
export async function needServer(server: () => Promise<ServerFacts>): Promise<ServerFacts> {
  try {
    return await server();
  } catch {
    throw new SkipCheck("needs the server connection (see connection)");
  }
}

async function toolsCheck(
  context: KindDoctorContext,
  job: PgJob,
  tool: PgTool,
  server: () => Promise<ServerFacts>,
  signal: AbortSignal,
): Promise<Finding> {
  const tools = new PgTools(job.tools, context.scope, context.configDir);
  if ("image" in job.tools) {
    if (!(await context.imagePresent(job.tools.image))) {
      return fail(
        `image ${job.tools.image} is not present in the local Docker engine`,
        `docker pull ${job.tools.image} (or build it) on this host; backdrill never pulls during a backup`,
      );
    }
  } else {
    const binary = path.join(path.resolve(context.configDir, job.tools.binDir), tool);
    try {
      await access(binary, constants.X_OK);
    } catch {
      return fail(
        `${binary} is missing or not executable`,
        "install the PostgreSQL client package of the server's major version, or use tools: { image: ... }",
      );
    }
  }
  const version = await tools.version(tool, signal);
  let facts: ServerFacts;
  try {
    facts = await server();
  } catch {
    return warn(`${tool} ${version.text} (${tools.describe()}); server version unknown (see connection)`);
  }
  if (version.major < facts.major) {
    return fail(
      `${tool} ${version.text} (${tools.describe()}) is older than the server (PostgreSQL ${facts.version})`,
      "image" in job.tools
        ? `set tools: { image: <an image with PostgreSQL ${facts.major} client tools> }`
        : `set tools: { binDir: /usr/lib/postgresql/${facts.major}/bin } or tools: { image: ... } with PostgreSQL ${facts.major}`,
    );
  }
  return ok(`${tool} ${version.text} (${tools.describe()}) for server ${facts.version}`);
}

/** The connection and client-tools checks, and the shared server facts for the kind's own checks. */
export function postgresServerChecks(
  context: KindDoctorContext,
  { file, job }: JobSource<PgJob>,
  tool: PgTool,
): { checks: CheckSpec[]; server: () => Promise<ServerFacts> } {
  const subject = `job ${job.name}`;
  const server = shared(async () => {
    const endpoint = await resolveEndpoint(job.connection, context.env, context.configDir, job.name);
    return queryServer(endpoint);
  }, context);
  const checks: CheckSpec[] = [
    {
      subject,
      name: "connection",
      run: async () => {
        try {
          const facts = await server();
          return ok(`${facts.endpoint}: PostgreSQL ${facts.version}`);
        } catch (error) {
          return fail(
            error instanceof Error ? error.message : String(error),
            connectionHint(error, job, file),
          );
        }
      },
    },
    { subject, name: "client tools", run: (signal) => toolsCheck(context, job, tool, server, signal) },
    {
      subject,
      name: "TLS",
      run: async () => {
        // Host and sslmode only: no password needed (its absence is the connection check's).
        const connection = job.connection;
        let endpoint: Pick<PgEndpoint, "host" | "sslmode">;
        if ("urlEnv" in connection) {
          const dsn = context.env[connection.urlEnv];
          if (dsn === undefined || dsn === "")
            throw new SkipCheck(`${connection.urlEnv} is not set (see connection)`);
          const parsed = parseDsn(dsn, `job ${job.name}: ${connection.urlEnv}`);
          endpoint = { host: parsed.host, sslmode: parsed.sslmode ?? connection.sslmode };
        } else {
          endpoint = { host: connection.host, sslmode: connection.sslmode };
        }
        const problem = tlsWarning(endpoint);
        return problem === undefined
          ? ok(`sslmode ${endpoint.sslmode ?? "prefer (default)"} to ${endpoint.host}`)
          : warn(
              problem,
              "set connection.sslmode: verify-full (with the server's CA in PGSSLROOTCERT or ~/.postgresql/root.crt)",
            );
      },
    },
  ];
  return { checks, server };
}
