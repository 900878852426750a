/**
 * Facts: what a postgres-dump snapshot holds, measured in the very snapshot pg_dump dumps.
 *
 * One REPEATABLE READ transaction exports its snapshot (`pg_export_snapshot()`); pg_dump runs
 * with `--snapshot=<id>` and so sees exactly the same data, however many writes land meanwhile.
 * The exporting transaction must stay open until pg_dump has finished (its parallel workers
 * import the snapshot too), so the session lives as long as the dump and is closed by the
 * backup. Sequence values are the exception: sequences are not transactional, so they are read
 * before pg_dump starts and pg_dump may see a later value than we do; the drill therefore only
 * checks that no sequence went backwards.
 *
 * The facts are stored in the encrypted facts artifact; they name tables and count rows.
 */
import type pg from "pg";
import { z } from "zod";
import { OperationError } from "../../errors.js";
import { artifactNameSchema, plainText } from "../facts-values.js";
import { MAX_NAME_BYTES, pgDatabaseNameSchema, pgNameSchema } from "../postgres/names.js";
import { connectClient, errorText, type PgEndpoint } from "../postgres/connection.js";
import {
  listExtensions,
  listSequences,
  measureTables,
  type SequenceValue,
  type TableCount,
} from "./tables.js";

export const FACTS_VERSION = 1;

// Every name below reaches SQL (quoted as an identifier or bound as a parameter), a client tool
// or a report; facts come from the repository, so each is held to what a real catalog can hold
// (postgres/names.ts) and every artifact it names must be in the snapshot (drill, restore).
const tableSchema = z.object({
  schema: pgNameSchema,
  name: pgNameSchema,
  /** `schema.table` of the partitioned root, shown in diffs. */
  partitionOf: plainText(2 * MAX_NAME_BYTES + 1).optional(),
  rows: z.number().int().nonnegative(),
  checksum: plainText(200).optional(),
});

/** bigint as text (sequence values do not fit a JS number). */
const bigintText = z.string().regex(/^-?\d{1,20}$/, { error: "not an integer" });

const sequenceSchema = z.object({
  schema: pgNameSchema,
  name: pgNameSchema,
  lastValue: bigintText.nullable(),
  increment: bigintText,
});

const databaseSchema = z.object({
  name: pgDatabaseNameSchema,
  /** Goes into CREATE DATABASE … ENCODING '…'. */
  encoding: z.string().regex(/^[A-Za-z0-9_]{1,32}$/, { error: "not an encoding name like UTF8" }),
  owner: z.union([z.literal(""), pgNameSchema]),
  sizeBytes: z.number().nonnegative(),
  tables: z.array(tableSchema),
  sequences: z.array(sequenceSchema),
  extensions: z.record(pgNameSchema, plainText(64)),
  /** The artifact holding this database's dump. */
  artifact: artifactNameSchema,
});

export const pgDumpFactsSchema = z
  .object({
    kind: z.literal("postgres-dump"),
    version: z.literal(FACTS_VERSION),
    server: z.object({ version: plainText(200), versionNum: z.number().int() }),
    pgDumpVersion: plainText(200),
    pgDumpMajor: z.number().int(),
    format: z.enum(["custom", "directory"]),
    /** Artifact with `pg_dumpall --globals-only`, or null when globals were not backed up. */
    globalsArtifact: artifactNameSchema.nullable(),
    /** False when roles were dumped with --no-role-passwords (backup user not a superuser). */
    rolePasswords: z.boolean(),
    checksumAlgorithm: plainText(64),
    checksumMaxRows: z.number().int().nonnegative(),
    databases: z.array(databaseSchema),
  })
  .superRefine((facts, ctx) => {
    // One database per name and one artifact per database: a snapshot that restores two
    // databases from one dump, or one database twice, was not written by a backup.
    const names = new Set<string>();
    const artifacts = new Set<string>(facts.globalsArtifact === null ? [] : [facts.globalsArtifact]);
    facts.databases.forEach((database, index) => {
      if (names.has(database.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["databases", index, "name"],
          message: "names a database twice",
        });
      }
      if (artifacts.has(database.artifact)) {
        ctx.addIssue({
          code: "custom",
          path: ["databases", index, "artifact"],
          message: "names an artifact that another entry uses too",
        });
      }
      names.add(database.name);
      artifacts.add(database.artifact);
    });
  });

export type DatabaseFacts = z.infer<typeof databaseSchema>;
export type PgDumpFacts = z.infer<typeof pgDumpFactsSchema>;

export interface ServerInfo {
  version: string;
  versionNum: number;
  major: number;
  superuser: boolean;
}

export async function serverInfo(client: pg.Client): Promise<ServerInfo> {
  const result = await client.query<{ version: string; num: string; superuser: boolean }>(
    `SELECT current_setting('server_version') AS version,
            current_setting('server_version_num') AS num,
            coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) AS superuser`,
  );
  const row = result.rows[0];
  if (row === undefined) throw new OperationError("the server did not report its version");
  const versionNum = Number(row.num);
  return {
    version: row.version,
    versionNum,
    major: Math.floor(versionNum / 10000),
    superuser: row.superuser,
  };
}

/** An open REPEATABLE READ transaction whose snapshot pg_dump imports. */
export class SnapshotSession {
  private closed = false;

  private constructor(
    private readonly client: pg.Client,
    readonly database: string,
    readonly snapshotId: string,
    /**
     * Read before `open` returns, i.e. before pg_dump starts: sequences are not transactional,
     * so pg_dump reads them "now", and only a value read earlier is guaranteed not to be ahead of
     * the one pg_dump dumps (read later, in `collect`, it could be: the drill then reported a
     * sequence that "went backwards" under concurrent inserts).
     */
    private readonly sequences: SequenceValue[],
  ) {}

  static async open(endpoint: PgEndpoint, database: string): Promise<SnapshotSession> {
    const client = await connectClient(endpoint, database);
    try {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const result = await client.query<{ id: string }>("SELECT pg_export_snapshot() AS id");
      const id = result.rows[0]?.id;
      if (id === undefined) throw new Error("pg_export_snapshot() returned nothing");
      return new SnapshotSession(client, database, id, await listSequences(client));
    } catch (error) {
      await client.end().catch(() => undefined);
      throw new OperationError(`cannot export a snapshot of database ${database}: ${errorText(error)}`, {
        cause: error,
      });
    }
  }

  /** Everything the drill compares against, read inside the exported snapshot. */
  async collect(options: { checksumMaxRows: number; artifact: string }): Promise<DatabaseFacts> {
    try {
      const info = await this.client.query<{ encoding: string; owner: string; size: string }>(
        `SELECT pg_encoding_to_char(encoding) AS encoding, pg_get_userbyid(datdba) AS owner,
                pg_database_size(oid)::text AS size
           FROM pg_database WHERE datname = current_database()`,
      );
      const tables: TableCount[] = await measureTables(this.client, options.checksumMaxRows);
      const extensions = await listExtensions(this.client);
      const row = info.rows[0];
      return {
        name: this.database,
        encoding: row?.encoding ?? "UTF8",
        owner: row?.owner ?? "",
        sizeBytes: Number(row?.size ?? 0),
        tables,
        sequences: this.sequences,
        extensions,
        artifact: options.artifact,
      };
    } catch (error) {
      throw new OperationError(`cannot read the facts of database ${this.database}: ${errorText(error)}`, {
        cause: error,
      });
    }
  }

  serverInfo(): Promise<ServerInfo> {
    return serverInfo(this.client);
  }

  /** Ends the transaction (read only: nothing to commit) and disconnects. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.query("ROLLBACK").catch(() => undefined);
    await this.client.end().catch(() => undefined);
  }
}
