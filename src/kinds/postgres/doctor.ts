/**
 * Checks of `postgres-dump` and `postgres-base` jobs: the server answers with the job's
 * credentials, the client tools are at least the server's major version; for `postgres-base`
 * also the archiving health issue 5 asks for: archive_mode, archive_command, pg_stat_archiver
 * (failures, age of the last archived segment, whether that segment reached the repository) and
 * WAL continuity in the repository since the newest base backup.
 *
 * One connection serves all SQL checks (queried once, shared); it runs read-only queries only.
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import path from "node:path";
import { policyOf } from "../../app/config.js";
import { parseDurationSeconds } from "../../schema/duration.js";
import type { PostgresBaseJob } from "../postgres-base/job-schema.js";
import type { PostgresDumpJob } from "../postgres-dump/job-schema.js";
import type { LoadedJob } from "../../config/types.js";
import { formatDuration } from "../../schema/duration.js";
import { checkContinuity, describeContinuity } from "../postgres-base/continuity.js";
import { readBaseMeta, stopSegmentOf } from "../postgres-base/drill.js";
import { WalArchive } from "../postgres-base/wal-archive.js";
import {
  connectClient,
  describeEndpoint,
  errorText,
  resolveEndpoint,
  type PgEndpoint,
} from "./connection.js";
import { PgTools, type PgTool } from "./tools.js";
import type { DoctorContext } from "../../app/doctor/context.js";
import { needRepository } from "../../app/doctor/repository.js";
import type { Finding } from "../../preflight/report.js";
import { fail, ok, shared, SkipCheck, warn, type CheckSpec } from "../../preflight/runner.js";

type PgJob = PostgresDumpJob | PostgresBaseJob;

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
  databases: string[];
  archiver: {
    archivedCount: number;
    lastArchivedWal: string | null;
    lastArchivedAgeSeconds: number | null;
    failedCount: number;
    lastFailedWal: string | null;
    lastFailedAgeSeconds: number | null;
    statsReset: string | null;
  };
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
export function connectionHint(error: unknown, job: PgJob): string {
  const code = pgCode(error);
  const where = `jobs/${job.name}.yaml`;
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
    }>(
      `SELECT current_setting('server_version') AS version,
              current_setting('server_version_num') AS num,
              (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user) AS can_replicate,
              current_setting('wal_level') AS wal_level,
              current_setting('archive_mode') AS archive_mode,
              current_setting('archive_library', true) AS archive_library,
              extract(epoch FROM current_setting('archive_timeout')::interval)::text AS archive_timeout`,
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
    // Ages computed by the server's clock: the backup host's clock may be off.
    const archiver = await client.query<{
      archived_count: string;
      last_archived_wal: string | null;
      archived_age: string | null;
      failed_count: string;
      last_failed_wal: string | null;
      failed_age: string | null;
      stats_reset: Date | null;
    }>(
      `SELECT archived_count::text, last_archived_wal,
              extract(epoch FROM now() - last_archived_time)::text AS archived_age,
              failed_count::text, last_failed_wal,
              extract(epoch FROM now() - last_failed_time)::text AS failed_age,
              stats_reset
         FROM pg_stat_archiver`,
    );
    const stats = archiver.rows[0];
    const num = (text: string | null | undefined): number | null =>
      text === null || text === undefined ? null : Number(text);
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
      databases: databases.rows.map((entry) => entry.datname),
      archiver: {
        archivedCount: num(stats?.archived_count) ?? 0,
        lastArchivedWal: stats?.last_archived_wal ?? null,
        lastArchivedAgeSeconds: num(stats?.archived_age),
        failedCount: num(stats?.failed_count) ?? 0,
        lastFailedWal: stats?.last_failed_wal ?? null,
        lastFailedAgeSeconds: num(stats?.failed_age),
        statsReset: stats?.stats_reset?.toISOString() ?? null,
      },
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Values of `NAME=value` assignments in a command line could be credentials; never shown. */
export function maskAssignments(command: string): string {
  return command.replace(/\b([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S+)/g, "$1=***");
}

/** Ends a check that needs the server when the connection check already failed. */
async function needServer(server: () => Promise<ServerFacts>): Promise<ServerFacts> {
  try {
    return await server();
  } catch {
    throw new SkipCheck("needs the server connection (see connection)");
  }
}

async function toolsCheck(
  context: DoctorContext,
  job: PgJob,
  tool: PgTool,
  server: () => Promise<ServerFacts>,
  signal: AbortSignal,
): Promise<Finding> {
  const tools = new PgTools(job.tools, context.scope, context.config.dir);
  if ("image" in job.tools) {
    if (!(await context.imagePresent(job.tools.image))) {
      return fail(
        `image ${job.tools.image} is not present in the local Docker engine`,
        `docker pull ${job.tools.image} (or build it) on this host; backdrill never pulls during a backup`,
      );
    }
  } else {
    const binary = path.join(path.resolve(context.config.dir, job.tools.binDir), tool);
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

export function postgresChecks(context: DoctorContext, loaded: LoadedJob): CheckSpec[] {
  const job = loaded.job;
  if (job.kind !== "postgres-dump" && job.kind !== "postgres-base") return [];
  const subject = `job ${job.name}`;
  const server = shared(async () => {
    const endpoint = await resolveEndpoint(job.connection, context.env, context.config.dir, job.name);
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
          return fail(error instanceof Error ? error.message : String(error), connectionHint(error, job));
        }
      },
    },
    {
      subject,
      name: "client tools",
      run: (signal) =>
        toolsCheck(context, job, job.kind === "postgres-dump" ? "pg_dump" : "pg_basebackup", server, signal),
    },
  ];

  if (job.kind === "postgres-dump") {
    if (job.databases !== undefined) {
      const wanted = job.databases;
      checks.push({
        subject,
        name: "databases",
        run: async () => {
          const facts = await needServer(server);
          const missing = wanted.filter((name) => !facts.databases.includes(name));
          if (missing.length > 0) {
            return fail(
              `not on the server: ${missing.join(", ")} (it has ${facts.databases.join(", ") || "none"})`,
              `fix databases in jobs/${job.name}.yaml`,
            );
          }
          return ok(wanted.join(", "));
        },
      });
    }
    return checks;
  }

  checks.push(
    {
      subject,
      name: "replication",
      run: async () => {
        const facts = await needServer(server);
        if (!facts.canReplicate) {
          return fail(
            `${facts.endpoint}: the role has neither REPLICATION nor SUPERUSER; pg_basebackup will be refused`,
            "ALTER ROLE <user> REPLICATION; and allow it in pg_hba.conf (database `replication` for streaming)",
          );
        }
        return ok("the role may stream base backups");
      },
    },
    {
      subject,
      name: "archive_mode",
      run: async () => {
        const facts = await needServer(server);
        if (facts.archiveMode === "off") {
          return fail(
            `archive_mode is off (wal_level ${facts.walLevel}): no WAL is archived, point-in-time recovery is impossible`,
            "ALTER SYSTEM SET archive_mode = on; (and wal_level = replica if it is minimal), then restart PostgreSQL",
          );
        }
        if (facts.walLevel === "minimal") {
          return fail(
            "wal_level is minimal: WAL cannot be archived",
            "ALTER SYSTEM SET wal_level = replica; then restart",
          );
        }
        return ok(`archive_mode ${facts.archiveMode}, wal_level ${facts.walLevel}`);
      },
    },
    {
      subject,
      name: "archive_command",
      run: async () => {
        const facts = await needServer(server);
        const example = `archive_command = 'backdrill --config-dir ${context.config.dir} wal push ${job.name} %p'`;
        if (facts.archiveCommand === null) {
          if (facts.archiveLibrary !== "") {
            return warn(
              `archive_library ${facts.archiveLibrary} is set; backdrill archives through archive_command`,
            );
          }
          return warn(
            `cannot read archive_command as ${facts.endpoint}: ${facts.archiveCommandError ?? "permission denied"}`,
            "GRANT pg_read_all_settings TO <user>; so doctor can check it",
          );
        }
        if (facts.archiveCommand.trim() === "") {
          if (facts.archiveLibrary !== "") {
            return warn(
              `archive_command is empty and archive_library ${facts.archiveLibrary} archives instead`,
            );
          }
          return fail(
            "archive_command is empty: nothing is archived",
            `ALTER SYSTEM SET ${example}; SELECT pg_reload_conf();`,
          );
        }
        const shown = maskAssignments(facts.archiveCommand);
        if (!/backdrill|spool/i.test(facts.archiveCommand)) {
          return warn(
            `archive_command does not call backdrill or a spool directory: ${shown}`,
            `WAL must reach this job's repository: ${example} (or a spool drained by backdrill wal ship)`,
          );
        }
        return ok(shown);
      },
    },
    {
      subject,
      name: "archiver",
      run: async () => {
        const facts = await needServer(server);
        const a = facts.archiver;
        const failedLast =
          a.lastFailedAgeSeconds !== null &&
          (a.lastArchivedAgeSeconds === null || a.lastFailedAgeSeconds < a.lastArchivedAgeSeconds);
        if (failedLast) {
          return fail(
            `archiving is failing: ${a.failedCount} failure(s), the last ${formatDuration(Math.round(a.lastFailedAgeSeconds ?? 0))} ago for ${a.lastFailedWal ?? "?"}` +
              (a.lastArchivedAgeSeconds === null
                ? "; nothing archived successfully since the statistics were reset"
                : `; last success ${formatDuration(Math.round(a.lastArchivedAgeSeconds))} ago`),
            "read the PostgreSQL log for the archive_command's error (pg_wal grows until archiving works again)",
          );
        }
        const earlier =
          a.failedCount > 0
            ? `; ${a.failedCount} earlier failure(s) since ${a.statsReset ?? "the stats reset"}, recovered`
            : "";
        return ok(`${a.archivedCount} archived, none failing${earlier}`);
      },
    },
    {
      subject,
      name: "last archived",
      run: async () => {
        const facts = await needServer(server);
        const a = facts.archiver;
        if (a.lastArchivedWal === null || a.lastArchivedAgeSeconds === null) {
          return warn(
            "the server has archived nothing (since its statistics were reset)",
            "SELECT pg_switch_wal(); makes it archive the current segment; then run doctor again",
          );
        }
        const age = Math.round(a.lastArchivedAgeSeconds);
        const rpo = parseDurationSeconds(policyOf(context.config, loaded).policy.rpo);
        const inRepo = await segmentInRepository(context, loaded, a.lastArchivedWal);
        const where = inRepo ? "in the repository" : "NOT in the repository";
        if (!inRepo) {
          return warn(
            `${a.lastArchivedWal}, ${formatDuration(age)} ago, is ${where}`,
            "archive_command stores WAL somewhere else (another job or repository), or a spool is not drained: check archive_command and backdrill wal ship",
          );
        }
        if (age > rpo) {
          return warn(
            `${a.lastArchivedWal}, ${formatDuration(age)} ago (longer than the policy's rpo ${formatDuration(rpo)}), ${where}`,
            "a quiet server switches segments rarely: set archive_timeout (e.g. 5min) so WAL is archived at least that often",
          );
        }
        return ok(`${a.lastArchivedWal}, ${formatDuration(age)} ago, ${where}`);
      },
    },
    {
      subject,
      name: "WAL continuity",
      run: () => continuityCheck(context, loaded),
    },
  );
  return checks;
}

async function segmentInRepository(
  context: DoctorContext,
  loaded: LoadedJob,
  name: string,
): Promise<boolean> {
  const repository = await needRepository(context, policyOf(context.config, loaded));
  const archive = new WalArchive(repository, loaded.job.name);
  return (await archive.digest(name)) !== null;
}

/** Every segment from the newest base backup's end to the newest archived one is in the repository. */
async function continuityCheck(context: DoctorContext, loaded: LoadedJob): Promise<Finding> {
  const job = loaded.job;
  const repository = await needRepository(context, policyOf(context.config, loaded));
  const snapshots = await repository.snapshots(job.name);
  const newest = snapshots.at(-1);
  if (newest === undefined) {
    return warn(
      "no base backup in the repository yet, so no WAL is usable",
      `run backdrill backup ${job.name}; continuous archiving counts from the first base backup`,
    );
  }
  const meta = readBaseMeta(newest.meta, newest.id);
  const archived = await new WalArchive(repository, job.name).list();
  const continuity = checkContinuity({
    archived,
    timeline: meta.timeline,
    stopSegment: stopSegmentOf(meta),
    segmentSize: meta.walSegmentSize,
  });
  const detail = `since base backup ${newest.id}: ${describeContinuity(continuity, meta.walSegmentSize, meta.timeline)}`;
  if (!continuity.ok) {
    return fail(
      detail,
      `recovery past the gap is impossible: take a new base backup now (backdrill backup ${job.name}) and find why archiving skipped segments`,
    );
  }
  return ok(detail);
}
