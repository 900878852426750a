/**
 * Disaster restore of a postgres-dump snapshot into an operator-given server:
 *
 *   backdrill restore task-db --to postgres://admin@db2:5432/ [--database task] [--force] [--dry-run]
 *
 * Options (restore-options.ts): --database picks one database of the snapshot; --no-globals
 * skips the roles (e.g. when restoring one database into a running cluster).
 *
 * Where each database goes: a snapshot with one database (or `--database`) restores into the
 * database named in the DSN, or into one of the same name when the DSN names none; a snapshot
 * with several restores each into its namesake. A target database that already holds tables is
 * refused unless --force, which replaces it: DROP DATABASE ... WITH (FORCE) (ending its sessions),
 * then CREATE DATABASE and pg_restore as for a new one, so afterwards it holds exactly the
 * snapshot. (pg_restore --clean would keep objects the dump does not know, and fails on
 * partitioned tables.)
 *
 * The DSN may hold a password: it is registered for redaction when parsed, shown masked in the
 * plan, and passed to the tools only through PGPASSWORD.
 */
import { inJob, OperationError, UsageError } from "../../errors.js";
import { formatBytes } from "../../util/format-bytes.js";
import type { RestoreContext, RestorePlan } from "../contract.js";
import { compareRowCounts, inspectRestored } from "./checks.js";
import {
  connectClient,
  describeEndpoint,
  errorText,
  libpqEnv,
  parseDsn,
  redactedDsn,
  type PgEndpoint,
} from "../postgres/connection.js";
import { serverInfo, type DatabaseFacts, type PgDumpFacts } from "./facts.js";
import type { PostgresDumpRestoreOptions } from "./restore-options.js";
import {
  createDatabase,
  databaseExists,
  dropDatabase,
  loadDatabase,
  pgRestoreArgs,
  PSQL_SCRIPT_ARGS,
  psqlWithTools,
  readGlobals,
  restoreGlobals,
} from "./load.js";
import { requireArtifacts } from "../facts-values.js";
import { hasUserRelations } from "./tables.js";
import { PgTools } from "../postgres/tools.js";
import type { PgDumpJobInput } from "./types.js";

interface Placement {
  source: DatabaseFacts;
  target: string;
}

type PgDumpRestoreContext = RestoreContext<PgDumpJobInput, PgDumpFacts, PostgresDumpRestoreOptions>;

/** What apply executes: the target server, the globals to restore, and where each database goes. */
export interface PgDumpRestorePlan {
  target: PgEndpoint;
  /** Database to connect to for CREATE DATABASE and globals. */
  maintenance: PgEndpoint;
  globals: string | null;
  /** The globals SQL, read and checked while planning (it holds role password hashes: never printed). */
  globalsSql: { sql: string; skipped: number } | null;
  placements: Placement[];
}

/** True when the DSN has a non-empty path, i.e. names a database. */
function dsnNamesDatabase(dsn: string): boolean {
  try {
    return new URL(dsn).pathname.replace(/^\//, "") !== "";
  } catch {
    return false;
  }
}

function resolve(context: PgDumpRestoreContext): PgDumpRestorePlan {
  const { options, facts } = context;
  const target = parseDsn(context.to, "--to");
  const namesDatabase = dsnNamesDatabase(context.to);
  const wanted = options.database;
  let sources: DatabaseFacts[];
  if (wanted !== undefined) {
    const found = facts.databases.find((db) => db.name === wanted);
    if (found === undefined) {
      throw new UsageError(
        `snapshot ${context.artifacts.snapshot.id} has no database ${wanted}; it has: ${facts.databases.map((db) => db.name).join(", ")}`,
      );
    }
    sources = [found];
  } else {
    sources = facts.databases;
  }
  if (sources.length > 1 && namesDatabase) {
    throw new UsageError(
      `snapshot ${context.artifacts.snapshot.id} holds ${sources.length} databases (${sources.map((db) => db.name).join(", ")}); ` +
        "pick one with --database, or give a --to URL without a database to restore each into its namesake",
    );
  }
  const placements = sources.map((source) => ({
    source,
    target: sources.length === 1 && namesDatabase ? target.database : source.name,
  }));
  const skipGlobals = !options.globals;
  // CREATE/DROP DATABASE run from another database; template1 when `postgres` itself is restored.
  const maintenanceDb = placements.some((p) => p.target === "postgres") ? "template1" : "postgres";
  return {
    target,
    maintenance: { ...target, database: maintenanceDb },
    globals: skipGlobals ? null : facts.globalsArtifact,
    globalsSql: null,
    placements,
  };
}

/** `1.2 MiB` for a known size; artifacts of old snapshots may not record their plain size. */
function sizeOf(bytes: number | undefined): string {
  return bytes === undefined ? "size unknown" : formatBytes(bytes);
}

export async function planPostgresDumpRestore(
  context: PgDumpRestoreContext,
): Promise<RestorePlan<PgDumpRestorePlan>> {
  let resolved: PgDumpRestorePlan;
  try {
    resolved = resolve(context);
    // Every artifact the plan uses must be in this very snapshot (a swapped or forged one is not).
    requireArtifacts(context.artifacts, [
      ...(resolved.globals === null ? [] : [{ name: resolved.globals, field: "globalsArtifact" }]),
      ...resolved.placements.map((p) => ({
        name: p.source.artifact,
        field: `databases.${context.facts.databases.indexOf(p.source)}.artifact`,
      })),
    ]);
    // The globals are SQL for psql: read (in memory) and checked now, so --dry-run already says
    // when they hold anything else, and nothing is changed on the target before that is known.
    if (resolved.globals !== null) {
      resolved.globalsSql = await readGlobals(
        context.artifacts,
        resolved.globals,
        resolved.maintenance.user,
        context.signal,
      );
    }
  } catch (error) {
    throw inJob(`job ${context.job.name}`, error);
  }
  const { facts } = context;
  const { target, maintenance, globals, placements } = resolved;
  const snapshot = context.artifacts.snapshot;
  // Only renders command lines; nothing is started or connected.
  const tools = new PgTools(context.job.tools, context.scope, context.configDir);
  const record = (name: string) => snapshot.artifacts.find((a) => a.name === name);
  const steps: string[] = [];
  const warnings: string[] = [];

  steps.push(
    `snapshot ${snapshot.id} of job ${snapshot.job}, taken ${snapshot.createdAt} from PostgreSQL ${facts.server.version} ` +
      `(pg_dump ${facts.pgDumpVersion}, ${facts.format} format)`,
  );
  const used = [...(globals === null ? [] : [globals]), ...placements.map((p) => p.source.artifact)];
  for (const name of used) {
    const artifact = record(name);
    steps.push(
      `artifact ${name}: ${sizeOf(artifact?.size)} encrypted` +
        (artifact?.plainSize === undefined ? "" : `, ${sizeOf(artifact.plainSize)} plain`),
    );
  }
  steps.push(
    `target server ${redactedDsn(maintenance, maintenance.database)} (client tools: ${tools.describe()})`,
  );
  if (globals !== null) {
    const psql = tools.display("psql", PSQL_SCRIPT_ARGS, {
      env: libpqEnv(maintenance, maintenance.database),
    });
    steps.push(
      `restore roles and tablespaces: ${psql} < ${globals} (decrypted in memory and refused if it holds anything but SQL, such as psql meta-commands; CREATE/ALTER ROLE ${target.user} skipped so the connecting role keeps its password)`,
    );
    warnings.push(
      `${globals} creates the backed-up roles and resets the attributes and passwords of those that already exist (skip with --no-globals)`,
    );
    if (!facts.rolePasswords) {
      warnings.push(
        "roles were backed up without passwords (backup user not a superuser): set them with ALTER ROLE ... PASSWORD after the restore",
      );
    }
  }
  for (const { source, target: database } of placements) {
    steps.push(
      `database ${database}${database === source.name ? "" : ` (from ${source.name})`}: refuse if it already holds tables` +
        (context.force ? ` (--force: DROP DATABASE "${database}" WITH (FORCE) first)` : " (unless --force)") +
        `; CREATE DATABASE "${database}" TEMPLATE template0 ENCODING '${source.encoding}', owner ${source.owner} if that role exists`,
    );
    const args = pgRestoreArgs(database, {
      format: facts.format,
      jobs: context.job.parallel ?? 1,
      noOwner: globals === null && facts.globalsArtifact === null,
    });
    const custom = facts.format === "custom";
    const restoreLine = tools.display("pg_restore", args, {
      env: libpqEnv(target, database),
      ...(custom ? { stream: "stdin" as const } : {}),
    });
    const fed = tools.usesFifo("pg_restore", "stdin")
      ? `, ${source.artifact} written into <fifo> (a FIFO in a private 0700 directory)`
      : ` < ${source.artifact}`;
    steps.push(
      custom
        ? `${restoreLine}${fed} (decrypted and streamed, nothing written to disk)`
        : `unpack ${source.artifact} into a temporary 0700 directory, then ${restoreLine}`,
    );
    steps.push(`compare row counts of ${source.tables.length} tables in ${database} with the backup's facts`);
  }
  if (context.force) {
    warnings.push(
      `--force: ${placements.map((p) => p.target).join(", ")} will be dropped (sessions ended) and recreated from the snapshot if it exists; anything not in the snapshot is lost`,
    );
  }
  return { steps, warnings, data: resolved };
}

export async function applyPostgresDumpRestore(
  context: PgDumpRestoreContext,
  plan: RestorePlan<PgDumpRestorePlan>,
): Promise<void> {
  const { job, log, signal, scope, facts } = context;
  const { target, maintenance, globals, globalsSql, placements } = plan.data;
  const tools = new PgTools(job.tools, scope, context.configDir);
  const where = describeEndpoint(target);

  // ---- preflight: nothing is changed until every target database has been looked at ----------
  const existing = new Map<string, boolean>();
  try {
    const client = await connectClient(maintenance, maintenance.database);
    try {
      const info = await serverInfo(client);
      if (info.major < Math.floor(facts.server.versionNum / 10000)) {
        log.warn(
          { job: job.name, target: where, server: info.version, source: facts.server.version },
          "restoring into an older PostgreSQL major than the backup's; some objects may fail",
        );
      }
      for (const { target: database } of placements)
        existing.set(database, await databaseExists(client, database));
    } finally {
      await client.end().catch(() => undefined);
    }
    await tools.requireMajor(
      "pg_restore",
      facts.pgDumpMajor,
      `the archive (written by pg_dump ${facts.pgDumpVersion})`,
      signal,
    );
    for (const { target: database } of placements) {
      if (existing.get(database) !== true) continue;
      const client = await connectClient(target, database);
      try {
        if ((await hasUserRelations(client)) && !context.force) {
          throw new UsageError(
            `database ${database} on ${where} already holds tables; refusing to restore over it`,
            {
              hint: "restore into an empty or new database, or add --force to drop it and restore the snapshot in its place",
            },
          );
        }
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  } catch (error) {
    throw inJob(`job ${job.name}`, error);
  }

  // ---- restore ------------------------------------------------------------------------------
  const problems: string[] = [];
  if (globals !== null && globalsSql !== null) {
    try {
      const outcome = await restoreGlobals(psqlWithTools(tools, maintenance, signal), globalsSql, globals);
      problems.push(...outcome.errors.map((error) => `${globals}: ${error}`));
      log.info({ job: job.name, tolerated: outcome.tolerated.length }, "restore: globals restored");
    } catch (error) {
      problems.push(`${globals}: ${errorText(error)}`);
    }
  }
  for (const { source, target: database } of placements) {
    signal.throwIfAborted();
    const started = Date.now();
    try {
      const existed = existing.get(database) === true;
      if (existed && context.force) await dropDatabase(maintenance, database);
      if (!existed || context.force) await createDatabase(maintenance, database, source);
      await loadDatabase(tools, target, database, context.artifacts, source.artifact, {
        format: facts.format,
        jobs: job.parallel ?? 1,
        noOwner: globals === null && facts.globalsArtifact === null,
        signal,
        scope,
      });
      log.info({ job: job.name, database, ms: Date.now() - started }, "restore: database restored");
      const restored = await inspectRestored(target, { ...source, name: database }, { checksums: false });
      const counts = compareRowCounts({ ...facts, databases: [{ ...source, name: database }] }, [
        {
          ...restored,
          tables: restored.tables.filter((t) =>
            source.tables.some((s) => s.schema === t.schema && s.name === t.name),
          ),
        },
      ]);
      if (counts.ok)
        log.info({ job: job.name, database, detail: counts.detail }, "restore: row counts match");
      else problems.push(`database ${database}: restored, but ${counts.detail}`);
    } catch (error) {
      signal.throwIfAborted();
      problems.push(`database ${database}: ${errorText(error)}`);
    }
  }
  if (problems.length > 0) {
    throw new OperationError(
      `job ${job.name}: restore into ${where} finished with errors:\n${problems.join("\n")}`,
    );
  }
}
