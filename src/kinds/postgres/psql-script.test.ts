/** The psql meta-command filter: what a globals dump may hold, and what never reaches psql. */
import { describe, expect, it } from "vitest";
import { findMetaCommand } from "./psql-script.js";

const PG_DUMPALL_17_6 = `--
-- PostgreSQL database cluster dump
--

\\restrict 3kUzGqvT7XbJ9Lm2Qw8Rr5Yt1Hc6Vn0D

SET default_transaction_read_only = off;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE task_app;
ALTER ROLE task_app WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$a2V5:c2VydmVy';
CREATE ROLE "DOMAIN\\user";
COMMENT ON ROLE task_app IS 'the app''s role; -- not a comment';
ALTER ROLE task_app SET search_path TO 'app', 'public';
CREATE TABLESPACE fast OWNER postgres LOCATION '/srv/fast';
SELECT 'x'::text, E'tab\\there', $$ \\! inside a dollar quote $$, $fn$ \\o |x $fn$;
/* a \\! in a /* nested */ comment */

\\unrestrict 3kUzGqvT7XbJ9Lm2Qw8Rr5Yt1Hc6Vn0D
`;

describe("findMetaCommand", () => {
  it("lets a real pg_dumpall globals dump through, \\restrict lines included", () => {
    expect(findMetaCommand(PG_DUMPALL_17_6)).toBeUndefined();
    expect(findMetaCommand("CREATE ROLE a;\nALTER ROLE a WITH LOGIN;\n")).toBeUndefined();
  });

  it.each([
    ["\\! touch /tmp/canary", 1, "\\!"],
    ["CREATE ROLE a;\n\\o |sh -c 'touch x'\n", 2, "\\o"],
    ["SELECT 1; \\! id", 1, "\\!"],
    ["\\copy t FROM PROGRAM 'id'", 1, "\\copy"],
    ["\\connect host=127.0.0.1 port=1", 1, "\\connect"],
    ["  \\restrict abc", 1, "\\restrict"],
    ["\\restrict abc; \\! id", 1, "\\restrict"],
    ["\\i /etc/passwd", 1, "\\i"],
    ["SELECT 'a' \\g |cat", 1, "\\g"],
  ])("refuses %j (line %i)", (script, line, word) => {
    const found = findMetaCommand(script);
    expect(found?.line).toBe(line);
    expect(found?.problem).toContain(word);
  });

  it("refuses a backslash in a plain string: whether it ends the string depends on a setting the script can change", () => {
    const script = "SET standard_conforming_strings = off;\nSELECT 'a\\'; \\! touch x; --';";
    expect(findMetaCommand(script)?.problem).toMatch(/backslash inside a '…' string/);
  });

  it("reads E'' strings with their escapes, so an escaped quote does not end them", () => {
    expect(findMetaCommand("SELECT E'it\\'s';")).toBeUndefined();
    expect(findMetaCommand("SELECT E'it\\'s'; \\! id")?.problem).toContain("\\!");
  });

  it("refuses psql variable interpolation, and unterminated quotes or comments", () => {
    expect(findMetaCommand("SELECT :'x';")?.problem).toMatch(/interpolation/);
    expect(findMetaCommand("SELECT :foo;")?.problem).toMatch(/interpolation/);
    expect(findMetaCommand("SELECT 'abc")?.problem).toMatch(/unterminated string/);
    expect(findMetaCommand('CREATE ROLE "abc')?.problem).toMatch(/unterminated quoted identifier/);
    expect(findMetaCommand("/* open")?.problem).toMatch(/unterminated/);
    expect(findMetaCommand("SELECT $a$ open")?.problem).toMatch(/unterminated dollar/);
  });

  it("counts lines through strings, identifiers and comments", () => {
    expect(findMetaCommand("SELECT 'a\nb';\n/* c\nd */\n\"e\nf\";\n\\! id")?.line).toBe(7);
  });
});
