/**
 * `backdrill restore <postgres-dump job> --to postgres://user@host:5432[/db] [--database NAME]
 * [--no-globals]`. The URL is only parsed here (its password registered for redaction); nothing
 * connects before the plan.
 */
import type { RestoreSpec } from "../contract.js";
import { parseDsn } from "../postgres/connection.js";
import type { PostgresDumpJob } from "./job-schema.js";

export interface PostgresDumpRestoreOptions {
  /** Only this database of the snapshot. */
  database: string | undefined;
  /** Restore roles and tablespaces from globals.sql (when the snapshot has it). */
  globals: boolean;
}

export const postgresDumpRestore: RestoreSpec<PostgresDumpJob, PostgresDumpRestoreOptions> = {
  to: "a PostgreSQL server URL, postgres://user@host:5432 (or …/database)",
  flags: [
    { name: "database", type: "string", describe: "only this database of the snapshot" },
    {
      name: "globals",
      type: "boolean",
      describe: "restore roles and tablespaces from globals.sql (default: yes; --no-globals skips them)",
    },
  ],
  options({ to, flags }) {
    parseDsn(to, "--to");
    const database = flags.database;
    return {
      database: typeof database === "string" && database !== "" ? database : undefined,
      globals: flags.globals !== false,
    };
  },
};
