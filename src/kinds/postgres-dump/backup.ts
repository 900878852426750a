/**
 * Backup of a postgres-dump job: globals first (roles and tablespaces, needed before any
 * database can be restored with its owners), then each database, one at a time so memory and
 * server load stay flat.
 *
 * Per database: open a REPEATABLE READ transaction and export its snapshot; run pg_dump on that
 * snapshot while the facts (row counts, checksums, ...) are read in the same snapshot on our own
 * connection; keep the transaction open until pg_dump is done. Custom format streams pg_dump's
 * output (stdout, or a FIFO for a tool container on a local engine: tools.ts) straight into the
 * artifact (no plaintext on disk). Directory format needs a directory:
 * see workdir.ts for how that plaintext is contained.
 *
 * Any failure becomes an OperationError naming the job and the database; the runner then
 * commits no manifest, so a half-made snapshot never exists.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import { inJob, OperationError } from "../../errors.js";
import type { BackupContext, BackupOutcome } from "../contract.js";
import type { ManifestMeta } from "../../repository/manifest.js";
import {
  connectClient,
  describeEndpoint,
  libpqEnv,
  resolveEndpoint,
  type PgEndpoint,
} from "../postgres/connection.js";
import { SnapshotSession, serverInfo, type DatabaseFacts, type PgDumpFacts, FACTS_VERSION } from "./facts.js";
import { allOrAbort } from "../postgres/streams.js";
import { CHECKSUM_ALGORITHM } from "./tables.js";
import { packDirectory } from "../postgres/tar.js";
import { PgTools, type ToolVersion } from "../postgres/tools.js";
import { DEFAULT_CHECKSUM_MAX_ROWS, type PgDumpJobInput } from "./types.js";
import { makeWorkDir } from "./workdir.js";
import { ARTIFACT_NAME_PATTERN } from "../facts-values.js";
import { dbConninfo, pgDatabaseNameProblem } from "../postgres/names.js";

export const GLOBALS_ARTIFACT = "globals.sql";

/**
 * The artifact of one database: `<name>.dump` / `<name>.tar` when the name is a valid artifact
 * name, else `db-<first 16 hex of sha256(name)>.dump`. Database names may hold spaces and any
 * other character; artifact names may not (they are repository keys). The facts record which
 * artifact holds which database, so the mapping only has to be unique within a snapshot.
 */
export function artifactName(database: string, format: "custom" | "directory"): string {
  const suffix = format === "custom" ? ".dump" : ".tar";
  const plain = `${database}${suffix}`;
  if (ARTIFACT_NAME_PATTERN.test(plain) && !plain.startsWith("db-")) return plain;
  return `db-${createHash("sha256").update(database, "utf8").digest("hex").slice(0, 16)}${suffix}`;
}

async function discoverDatabases(
  endpoint: PgEndpoint,
): Promise<{ databases: string[]; info: ServerInfoLike }> {
  const client = await connectClient(endpoint, endpoint.database);
  try {
    const info = await serverInfo(client);
    const result = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname",
    );
    return { databases: result.rows.map((row) => row.datname), info };
  } finally {
    await client.end().catch(() => undefined);
  }
}

type ServerInfoLike = Awaited<ReturnType<typeof serverInfo>>;

async function probeServer(endpoint: PgEndpoint, database: string): Promise<ServerInfoLike> {
  const client = await connectClient(endpoint, database);
  try {
    return await serverInfo(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function backupPostgresDump(
  context: BackupContext<PgDumpJobInput>,
): Promise<BackupOutcome<PgDumpFacts>> {
  const { job, log, signal, scope } = context;
  const format = job.format ?? "custom";
  const parallel = Math.max(1, job.parallel ?? 1);
  const checksumMaxRows = job.facts?.checksumMaxRows ?? DEFAULT_CHECKSUM_MAX_ROWS;
  const endpoint = await resolveEndpoint(job.connection, context.env, context.configDir, job.name).catch(
    (error: unknown) => {
      throw inJob(`job ${job.name}`, error);
    },
  );
  const tools = new PgTools(job.tools, scope, context.configDir);

  // Which databases, and which server: named databases are probed directly, so a backup user
  // without access to `postgres` can still back up the databases it is given.
  const listed = job.databases !== undefined && job.databases.length > 0 ? job.databases : undefined;
  const probeDatabase = listed?.[0] ?? endpoint.database;
  let databases: string[];
  let info: ServerInfoLike;
  try {
    if (listed !== undefined) {
      databases = listed;
      info = await probeServer(endpoint, probeDatabase);
    } else {
      ({ databases, info } = await discoverDatabases(endpoint));
    }
  } catch (error) {
    throw inJob(`job ${job.name}, database ${probeDatabase}`, error);
  }
  if (databases.length === 0) throw inJob(`job ${job.name}`, new OperationError("no database to back up"));
  // A name libpq would read as a connection string could not be restored safely (postgres/names.ts):
  // say so before anything is dumped, naming the database.
  for (const database of databases) {
    const problem = pgDatabaseNameProblem(database);
    if (problem !== undefined) {
      throw inJob(
        `job ${job.name}`,
        new OperationError(
          `database ${JSON.stringify(database)} ${problem}; backdrill cannot restore it safely`,
          {
            hint: "rename the database (ALTER DATABASE … RENAME TO …), or list the databases to back up in databases:",
          },
        ),
      );
    }
  }

  const against = `the server ${describeEndpoint(endpoint)} (${info.version})`;
  let pgDump: ToolVersion;
  try {
    pgDump = await tools.requireMajor("pg_dump", info.major, against, signal);
  } catch (error) {
    throw inJob(`job ${job.name}`, error);
  }
  log.info(
    { job: job.name, databases: databases.length, format, server: info.version, pgDump: pgDump.text },
    "postgres-dump: starting",
  );

  const wantGlobals = job.globals ?? true;
  // pg_authid (role passwords) is readable by superusers only; anyone else gets the roles
  // without their passwords rather than no globals at all. The facts record which it was, and
  // the drill and restore say so, because such roles need their passwords set after a restore.
  const rolePasswords = wantGlobals && info.superuser;
  if (wantGlobals) {
    try {
      await tools.requireMajor("pg_dumpall", info.major, against, signal);
      await dumpGlobals(context, tools, endpoint, probeDatabase, rolePasswords);
    } catch (error) {
      throw inJob(`job ${job.name}`, error);
    }
    if (!rolePasswords) {
      log.warn(
        { job: job.name, user: endpoint.user },
        "postgres-dump: the backup user is not a superuser; globals are dumped without role passwords",
      );
    }
  }

  const perDatabase: DatabaseFacts[] = [];
  for (const database of databases) {
    signal.throwIfAborted();
    const started = Date.now();
    try {
      const facts =
        format === "custom"
          ? await dumpCustom(context, tools, endpoint, database, checksumMaxRows)
          : await dumpDirectory(context, tools, endpoint, database, checksumMaxRows, parallel);
      perDatabase.push(facts);
      log.info(
        { job: job.name, database, tables: facts.tables.length, ms: Date.now() - started },
        "postgres-dump: database dumped",
      );
    } catch (error) {
      throw inJob(`job ${job.name}, database ${database}`, signal.aborted ? (signal.reason ?? error) : error);
    }
  }

  const facts: PgDumpFacts = {
    kind: "postgres-dump",
    version: FACTS_VERSION,
    server: { version: info.version, versionNum: info.versionNum },
    pgDumpVersion: pgDump.text,
    pgDumpMajor: pgDump.major,
    format,
    globalsArtifact: wantGlobals ? GLOBALS_ARTIFACT : null,
    rolePasswords,
    checksumAlgorithm: CHECKSUM_ALGORITHM,
    checksumMaxRows,
    databases: perDatabase,
  };
  const meta: ManifestMeta = {
    serverVersion: info.version,
    pgDumpVersion: pgDump.text,
    format,
    parallel: format === "directory" ? parallel : 1,
    databases: perDatabase.length,
    globals: wantGlobals,
    rolePasswords,
  };
  return { facts, meta };
}

async function dumpGlobals(
  context: BackupContext<PgDumpJobInput>,
  tools: PgTools,
  endpoint: PgEndpoint,
  database: string,
  rolePasswords: boolean,
): Promise<void> {
  const args = [
    "--globals-only",
    "--no-password",
    "-l",
    // pg_dumpall reads -l as a connection string when it looks like one: name it literally.
    dbConninfo(database),
    ...(rolePasswords ? [] : ["--no-role-passwords"]),
  ];
  const controller = linkedController(context.signal);
  const dumpall = await tools.spawn("pg_dumpall", args, {
    env: libpqEnv(endpoint, database),
    signal: controller.signal,
    description: "pg_dumpall --globals-only",
  });
  await allOrAbort(controller, [
    dumpall.done,
    context.snapshot.addArtifact(GLOBALS_ARTIFACT, dumpall.stdout, {
      signal: controller.signal,
    }),
  ]);
}

function dumpArgs(snapshotId: string, compress: number | undefined): string[] {
  // --no-password: fail instead of prompting when the password is wrong or missing.
  return [
    `--snapshot=${snapshotId}`,
    "--no-password",
    ...(compress === undefined ? [] : [`--compress=${compress}`]),
  ];
}

async function dumpCustom(
  context: BackupContext<PgDumpJobInput>,
  tools: PgTools,
  endpoint: PgEndpoint,
  database: string,
  checksumMaxRows: number,
): Promise<DatabaseFacts> {
  const artifact = artifactName(database, "custom");
  const session = await SnapshotSession.open(endpoint, database);
  const controller = linkedController(context.signal);
  try {
    const dump = await tools.spawn(
      "pg_dump",
      ["--format=custom", ...dumpArgs(session.snapshotId, context.job.compress)],
      {
        env: libpqEnv(endpoint, database),
        signal: controller.signal,
        description: `pg_dump of database ${database}`,
      },
    );
    const [, , facts] = await allOrAbort(controller, [
      dump.done,
      context.snapshot.addArtifact(artifact, dump.stdout, { signal: controller.signal }),
      session.collect({ checksumMaxRows, artifact }),
    ] as const);
    return facts;
  } finally {
    await session.close();
  }
}

async function dumpDirectory(
  context: BackupContext<PgDumpJobInput>,
  tools: PgTools,
  endpoint: PgEndpoint,
  database: string,
  checksumMaxRows: number,
  parallel: number,
): Promise<DatabaseFacts> {
  const artifact = artifactName(database, "directory");
  const workDir = await makeWorkDir(context.scope, `pg_dump -Fd of ${database}`);
  // pg_dump -Fd creates the output directory itself and refuses an existing non-empty one.
  const output = path.join(workDir.path, "dump");
  try {
    const session = await SnapshotSession.open(endpoint, database);
    const controller = linkedController(context.signal);
    let facts: DatabaseFacts;
    try {
      const args = ["--format=directory", `--jobs=${parallel}`, "--no-sync", `--file=${output}`];
      const dump = await tools.spawn(
        "pg_dump",
        [...args, ...dumpArgs(session.snapshotId, context.job.compress)],
        {
          env: libpqEnv(endpoint, database),
          signal: controller.signal,
          description: `pg_dump of database ${database}`,
          mounts: [workDir.path],
          stdout: "ignore",
        },
      );
      [, facts] = await allOrAbort(controller, [
        dump.done,
        session.collect({ checksumMaxRows, artifact }),
      ] as const);
    } finally {
      await session.close();
    }
    await context.snapshot.addArtifact(artifact, packDirectory(output, context.signal), {
      signal: context.signal,
    });
    return facts;
  } finally {
    await workDir.remove();
  }
}

/** An AbortController that also aborts when the operation's signal does. */
export function linkedController(parent: AbortSignal): AbortController {
  const controller = new AbortController();
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener("abort", () => controller.abort(parent.reason), { once: true });
  return controller;
}
