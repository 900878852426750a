import { describe, expect, it } from "vitest";
import { classifyPsqlErrors, pgRestoreArgs, withoutRole } from "./load.js";

const GLOBALS = [
  "CREATE ROLE postgres;",
  "ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:abc';",
  "CREATE ROLE task_app;",
  "ALTER ROLE task_app WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:def';",
  'CREATE ROLE "Mixed Case";',
  'ALTER ROLE "Mixed Case" WITH NOLOGIN;',
  "ALTER ROLE postgres SET search_path TO app, public;",
].join("\n");

describe("withoutRole", () => {
  it("drops the CREATE and ALTER ... WITH lines of the connecting role only", () => {
    const { sql, skipped } = withoutRole(GLOBALS, "postgres");
    expect(skipped).toBe(2);
    expect(sql).not.toContain("CREATE ROLE postgres;");
    expect(sql).not.toContain("ALTER ROLE postgres WITH");
    expect(sql).toContain("ALTER ROLE task_app WITH");
    expect(sql).toContain("ALTER ROLE postgres SET search_path");
  });

  it("matches quoted role names", () => {
    expect(withoutRole(GLOBALS, "Mixed Case").skipped).toBe(2);
  });

  it("does not match a role whose name merely starts the same", () => {
    expect(withoutRole(GLOBALS, "task").skipped).toBe(0);
  });
});

describe("classifyPsqlErrors", () => {
  it("tolerates existing roles and reports everything else", () => {
    const stderr = [
      'psql:<stdin>:14: ERROR:  role "task_app" already exists',
      'psql:<stdin>:20: ERROR:  directory "/srv/ts" does not exist',
      "psql:<stdin>:21: NOTICE:  something",
    ].join("\n");
    expect(classifyPsqlErrors(stderr)).toEqual({
      errors: ['directory "/srv/ts" does not exist'],
      tolerated: ['role "task_app" already exists'],
    });
  });
});

describe("pgRestoreArgs", () => {
  it("streams the custom format and runs the directory format in parallel", () => {
    expect(pgRestoreArgs("task", { format: "custom", jobs: 4, noOwner: false })).toEqual([
      "--no-password",
      "--dbname=dbname='task'",
      "--format=custom",
    ]);
    expect(pgRestoreArgs("task", { format: "directory", jobs: 2, noOwner: true }, "/tmp/x")).toEqual([
      "--no-password",
      "--dbname=dbname='task'",
      "--no-owner",
      "--no-privileges",
      "--format=directory",
      "--jobs=2",
      "/tmp/x",
    ]);
  });
});
