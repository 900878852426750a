/**
 * Loading a postgres-dump snapshot into a server: the steps shared by the drill (into a throwaway
 * container) and the disaster restore (into the operator's target).
 *
 * Order matters: globals first (roles own objects and hold grants), then per database
 * CREATE DATABASE (with the source's encoding and owner) and pg_restore. Custom-format dumps
 * stream from the decrypting reader into pg_restore's input (stdin, or a FIFO for a container on a
 * local engine: tools.ts); pg_restore cannot run parallel jobs from a pipe, so only the directory format, unpacked to a temporary directory, gets `-j`.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import type pg from "pg";
import { IntegrityError, OperationError } from "../../errors.js";
import type { Scope } from "../../lifecycle/scope.js";
import type { ArtifactReader } from "../contract.js";
import { connectClient, errorText, libpqEnv, type PgEndpoint } from "../postgres/connection.js";
import type { DatabaseFacts } from "./facts.js";
import { artifactError, waitWithInput } from "../postgres/streams.js";
import { quoteIdent } from "./tables.js";
import { unpackInto } from "../postgres/tar.js";
import type { PgTools } from "../postgres/tools.js";
import { makeWorkDir } from "./workdir.js";
import { dbConninfo } from "../postgres/names.js";
import { findMetaCommand } from "../postgres/psql-script.js";

/** Globals are a few KB of SQL; anything near this is not a globals dump. */
const MAX_GLOBALS_BYTES = 64 * 1024 * 1024;

export async function readAll(stream: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > limit) {
      stream.destroy();
      throw new OperationError(`larger than ${limit} bytes; not a globals dump`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Drops the `CREATE ROLE x;` and `ALTER ROLE x WITH ...;` lines for the role we are connected
 * as. Restoring them would give that role the source's password (pg_dumpall writes one) and so
 * lock us out of the server we are restoring into. The role's other settings are kept.
 */
export function withoutRole(sql: string, role: string): { sql: string; skipped: number } {
  const names = [escapeRegExp(role), escapeRegExp(quoteIdent(role))].join("|");
  const pattern = new RegExp(`^(?:CREATE ROLE (?:${names});|ALTER ROLE (?:${names}) WITH .*;)$`);
  let skipped = 0;
  const kept = sql.split("\n").filter((line) => {
    const drop = pattern.test(line);
    if (drop) skipped += 1;
    return !drop;
  });
  return { sql: kept.join("\n"), skipped };
}

/** `ERROR:` lines of psql's stderr, split into expected ("role exists") and real problems. */
export function classifyPsqlErrors(stderr: string): { errors: string[]; tolerated: string[] } {
  const errors: string[] = [];
  const tolerated: string[] = [];
  for (const line of stderr.split("\n")) {
    const match = /\b(?:ERROR|FATAL):\s+(.*)$/.exec(line);
    if (match?.[1] === undefined) continue;
    // pg_dumpall writes CREATE ROLE then ALTER ROLE ... WITH: a role that already exists on the
    // target is brought to the backed-up attributes by the ALTER, so its CREATE failing is fine.
    if (/^role ".*" already exists$/.test(match[1])) tolerated.push(match[1]);
    else errors.push(match[1]);
  }
  return { errors, tolerated };
}

export interface GlobalsOutcome {
  errors: string[];
  tolerated: string[];
  skippedLines: number;
}

/** Runs a psql script (`psql -f -`, the script on stdin) somewhere; resolves with psql's stderr. */
export type PsqlScriptRunner = (sql: string, description: string) => Promise<{ stderr: string }>;

export const PSQL_SCRIPT_ARGS = ["-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=0", "-f", "-"] as const;

/** psql from the job's client tools, against the `postgres` database of `target` (a restore). */
export function psqlWithTools(tools: PgTools, target: PgEndpoint, signal: AbortSignal): PsqlScriptRunner {
  return (sql, description) =>
    tools.run("psql", PSQL_SCRIPT_ARGS, {
      env: libpqEnv(target, target.database),
      signal,
      input: sql,
      description,
    });
}

/**
 * The globals SQL with the connecting role's lines dropped, or an error naming the artifact and
 * line when it holds anything but SQL (psql-script.ts): it never reaches psql then.
 */
export async function readGlobals(
  artifacts: ArtifactReader,
  artifact: string,
  role: string,
  signal: AbortSignal,
): Promise<{ sql: string; skipped: number }> {
  const text = await readAll(await artifacts.open(artifact, { signal }), MAX_GLOBALS_BYTES).catch(
    (error: unknown) => {
      throw artifactError(artifact, error);
    },
  );
  const filtered = withoutRole(text, role);
  const found = findMetaCommand(filtered.sql);
  if (found !== undefined) {
    throw new IntegrityError(
      `artifact ${artifact} line ${found.line}: ${found.problem}; a globals dump is SQL only, so it is not run`,
      {
        hint: "the snapshot was altered or not written by pg_dumpall: restore another snapshot, or restore without roles (--no-globals)",
      },
    );
  }
  return filtered;
}

/** Runs checked globals SQL (from readGlobals) with psql (`run`) against the target's `postgres`. */
export async function restoreGlobals(
  run: PsqlScriptRunner,
  globals: { sql: string; skipped: number },
  artifact: string,
): Promise<GlobalsOutcome> {
  const result = await run(globals.sql, `psql restoring ${artifact}`);
  return { ...classifyPsqlErrors(result.stderr), skippedLines: globals.skipped };
}

export async function databaseExists(client: pg.Client, name: string): Promise<boolean> {
  const result = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
  return (result.rowCount ?? 0) > 0;
}

export async function roleExists(client: pg.Client, name: string): Promise<boolean> {
  const result = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [name]);
  return (result.rowCount ?? 0) > 0;
}

/**
 * CREATE DATABASE from template0 with the source's encoding, falling back to the C locale when
 * the server's default locale cannot hold that encoding; owned by the source's owner when that
 * role exists (restored from the globals).
 */
export async function createDatabase(
  target: PgEndpoint,
  name: string,
  facts: DatabaseFacts | undefined,
): Promise<void> {
  const client = await connectClient(target, target.database);
  try {
    const encoding = facts?.encoding ?? "UTF8";
    const base = `CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0 ENCODING '${encoding.replace(/'/g, "''")}'`;
    try {
      await client.query(base);
    } catch (error) {
      // 22023: the encoding does not match the default locale (e.g. SQL_ASCII on en_US.UTF-8).
      if ((error as { code?: string }).code !== "22023") throw error;
      await client.query(`${base} LOCALE 'C'`);
    }
    if (facts !== undefined && facts.owner !== "" && (await roleExists(client, facts.owner))) {
      await client.query(`ALTER DATABASE ${quoteIdent(name)} OWNER TO ${quoteIdent(facts.owner)}`);
    }
  } catch (error) {
    throw new OperationError(`cannot create database ${name}: ${errorText(error)}`, { cause: error });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Drops a database, disconnecting its sessions (restore --force). Replacing the database whole,
 * rather than pg_restore --clean, leaves exactly the snapshot behind: --clean keeps objects the
 * dump does not know and fails on partitioned tables ("cannot drop inherited constraint").
 */
export async function dropDatabase(target: PgEndpoint, name: string): Promise<void> {
  const client = await connectClient(target, target.database);
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } catch (error) {
    throw new OperationError(`cannot drop database ${name}: ${errorText(error)}`, { cause: error });
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface LoadDatabaseOptions {
  format: "custom" | "directory";
  /** pg_restore -j for the directory format. */
  jobs: number;
  /** Without restored roles, ownership and grants cannot be restored. */
  noOwner: boolean;
  signal: AbortSignal;
  scope: Scope;
}

export function pgRestoreArgs(
  database: string,
  options: Omit<LoadDatabaseOptions, "signal" | "scope">,
  dir?: string,
): string[] {
  // pg_restore restores only with --dbname, and reads a value with `=` or a URI as a whole
  // connection string: the name goes in as a quoted conninfo, so it is only ever a name.
  const args = ["--no-password", `--dbname=${dbConninfo(database)}`];
  if (options.noOwner) args.push("--no-owner", "--no-privileges");
  if (options.format === "directory") {
    args.push("--format=directory", `--jobs=${Math.max(1, options.jobs)}`, dir ?? "<unpacked directory>");
  } else {
    args.push("--format=custom");
  }
  return args;
}

/**
 * pg_restore of one artifact into `database`. pg_restore goes on after an error and exits 1
 * at the end ("errors ignored on restore: N"); that exit becomes an OperationError carrying the
 * (redacted) tail of its stderr, so every failed statement is shown.
 */
export async function loadDatabase(
  tools: PgTools,
  target: PgEndpoint,
  database: string,
  artifacts: ArtifactReader,
  artifact: string,
  options: LoadDatabaseOptions,
): Promise<void> {
  const env = libpqEnv(target, database);
  const description = `pg_restore of ${artifact} into database ${database}`;
  if (options.format === "custom") {
    const input = await artifacts.open(artifact, { signal: options.signal });
    const child = await tools
      .spawn("pg_restore", pgRestoreArgs(database, options), {
        env,
        signal: options.signal,
        description,
        stdin: input,
        stdout: "ignore",
      })
      .catch((error: unknown) => {
        input.destroy();
        throw error;
      });
    await waitWithInput(child, input, artifact);
    return;
  }
  const workDir = await makeWorkDir(options.scope, `unpacking ${artifact}`);
  try {
    const dir = path.join(workDir.path, "dump");
    await mkdir(dir, { mode: 0o700 });
    await unpackInto(
      dir,
      await artifacts.open(artifact, { signal: options.signal }),
      options.signal,
      artifact,
    );
    await tools.run("pg_restore", pgRestoreArgs(database, options, dir), {
      env,
      signal: options.signal,
      description,
      mounts: [workDir.path],
    });
  } finally {
    await workDir.remove();
  }
}
