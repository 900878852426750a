/**
 * Loading a postgres-dump snapshot into a server: the steps shared by the drill (into a throwaway
 * container) and the disaster restore (into the operator's target).
 *
 * Order matters: globals first (roles own objects and hold grants), then per database
 * CREATE DATABASE (with the source's encoding and owner) and pg_restore. Custom-format dumps
 * stream from the decrypting reader into pg_restore's stdin; pg_restore cannot run parallel jobs
 * from a pipe, so only the directory format, unpacked to a temporary directory, gets `-j`.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import type pg from "pg";
import { OperationError } from "../../errors.js";
import type { Scope } from "../../lifecycle/scope.js";
import type { ArtifactReader } from "../contract.js";
import { connectClient, errorText, libpqEnv, type PgEndpoint } from "../postgres/connection.js";
import type { DatabaseFacts } from "./facts.js";
import { artifactError, waitWithInput } from "../postgres/streams.js";
import { quoteIdent } from "./tables.js";
import { unpackInto } from "../postgres/tar.js";
import type { PgTools } from "../postgres/tools.js";
import { makeWorkDir } from "./workdir.js";

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

/** Runs the globals SQL with psql against the `postgres` database of the target. */
export async function restoreGlobals(
  tools: PgTools,
  target: PgEndpoint,
  artifacts: ArtifactReader,
  artifact: string,
  signal: AbortSignal,
): Promise<GlobalsOutcome> {
  const text = await readAll(await artifacts.open(artifact, { signal }), MAX_GLOBALS_BYTES).catch(
    (error: unknown) => {
      throw artifactError(artifact, error);
    },
  );
  const { sql, skipped } = withoutRole(text, target.user);
  const result = await tools.run("psql", ["-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=0", "-f", "-"], {
    env: libpqEnv(target, target.database),
    signal,
    input: sql,
    description: `psql restoring ${artifact}`,
  });
  return { ...classifyPsqlErrors(result.stderr), skippedLines: skipped };
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
  const args = ["--no-password", `--dbname=${database}`];
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
    const child = tools.spawn("pg_restore", pgRestoreArgs(database, options), {
      env,
      signal: options.signal,
      description,
      stdin: input,
      stdout: "ignore",
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
