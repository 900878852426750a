/**
 * PostgreSQL names read from a snapshot (database, role, schema, table, extension names), and how
 * they may reach a client tool.
 *
 * What is unsafe is not an odd character (a database may be called "Q3 reports"; every name is
 * quoted as an identifier in SQL and passed as a parameter where it can be) but a name that a tool
 * reads as something else: libpq treats a dbname containing `=`, or starting with `postgres://` or
 * `postgresql://`, as a whole connection string (host, port, sslmode: another server), and a name
 * starting with `-` could be read as an option. So names are plausible identifiers (at most 63
 * bytes, PostgreSQL's NAMEDATALEN - 1, no control characters), database names are never libpq
 * connection strings, and a database name reaches a tool only inside a quoted conninfo
 * (`dbConninfo`), as PGDATABASE, or as a quoted pattern (`literalPattern`).
 */
import * as z from "zod";
import { CONTROL_CHARACTERS } from "../facts-values.js";

export const MAX_NAME_BYTES = 63;

/** Why `name` is not a plausible PostgreSQL identifier, or undefined when it is. */
export function pgNameProblem(name: string): string | undefined {
  if (name === "") return "is empty";
  if (Buffer.byteLength(name, "utf8") > MAX_NAME_BYTES) return `is longer than ${MAX_NAME_BYTES} bytes`;
  if (CONTROL_CHARACTERS.test(name)) return "contains control characters";
  return undefined;
}

/** Why `name` cannot be a database name backdrill hands to libpq tools, or undefined when it can. */
export function pgDatabaseNameProblem(name: string): string | undefined {
  const basic = pgNameProblem(name);
  if (basic !== undefined) return basic;
  if (name.includes("=") || /^postgres(?:ql)?:\/\//i.test(name)) {
    return "would be read by libpq as a connection string (it contains '=' or starts with postgres://)";
  }
  if (name.startsWith("-")) return "starts with '-' (it could be read as a command-line option)";
  return undefined;
}

function nameSchema(problem: (name: string) => string | undefined): z.ZodString {
  return z.string().superRefine((value, ctx) => {
    const found = problem(value);
    if (found !== undefined)
      ctx.addIssue({ code: "custom", message: `name ${JSON.stringify(value)} ${found}` });
  });
}

/** A role, schema, table or extension name. */
export const pgNameSchema = nameSchema(pgNameProblem);
/** A database name, safe to hand to the client tools. */
export const pgDatabaseNameSchema = nameSchema(pgDatabaseNameProblem);
/** A role name we pass as `-U` / `--username`: no leading `-` either. */
export const pgRoleArgumentSchema = nameSchema((name) =>
  name.startsWith("-") ? "starts with '-' (it could be read as a command-line option)" : pgNameProblem(name),
);

/**
 * `--dbname` value for pg_restore (which has no other way to name the database it restores into):
 * a conninfo with only `dbname`, single-quoted with `\` and `'` escaped, so libpq takes the name
 * literally; host, port, user and password still come from the PG* environment.
 */
export function dbConninfo(database: string): string {
  return `dbname='${database.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** A pg_amcheck / psql pattern that matches exactly `name` (double quotes make it literal). */
export function literalPattern(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
