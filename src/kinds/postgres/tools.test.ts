import { describe, expect, it } from "vitest";
import { Scope } from "../../lifecycle/scope.js";
import { parseToolVersion, PgTools } from "./tools.js";

describe("parseToolVersion", () => {
  it("reads the major from Debian, plain and beta version strings", () => {
    expect(parseToolVersion("pg_dump (PostgreSQL) 17.12 (Debian 17.12-0+deb13u1)\n")).toEqual({
      major: 17,
      text: "17.12",
    });
    expect(parseToolVersion("psql (PostgreSQL) 18beta1")).toEqual({ major: 18, text: "18beta1" });
    expect(parseToolVersion("nonsense")).toBeUndefined();
  });
});

describe("PgTools.invocation", () => {
  const env = { PGHOST: "127.0.0.1", PGPASSWORD: "very-secret-pw" };

  it("runs host binaries from binDir", () => {
    const tools = new PgTools({ binDir: "/usr/lib/postgresql/17/bin" }, new Scope(), "/config");
    expect(tools.invocation("pg_dump", ["-Fc"], { env })).toEqual({
      file: "/usr/lib/postgresql/17/bin/pg_dump",
      args: ["-Fc"],
    });
  });

  it("passes libpq settings to the container by name, never by value", () => {
    const tools = new PgTools({ image: "pgvector/pgvector:pg17" }, new Scope(), "/config");
    const { file, args } = tools.invocation("pg_restore", ["--dbname=task"], { env });
    expect(file).toBe("docker");
    expect(args).toEqual(expect.arrayContaining(["--network", "host", "-e", "PGPASSWORD", "-e", "PGHOST"]));
    expect(args.join(" ")).not.toContain("very-secret-pw");
    expect(args.slice(-3)).toEqual(["pgvector/pgvector:pg17", "pg_restore", "--dbname=task"]);
  });

  it("mounts work directories at the same path and runs as the current user", () => {
    const tools = new PgTools({ image: "img" }, new Scope(), "/config");
    const { args } = tools.invocation("pg_dump", ["--file=/tmp/w/dump"], { env: {}, mounts: ["/tmp/w"] });
    expect(args).toEqual(expect.arrayContaining(["-v", "/tmp/w:/tmp/w", "--user"]));
  });

  it("never pulls an image unless told to, and says so on the command line", () => {
    const never = new PgTools({ image: "img" }, new Scope(), "/config");
    expect(never.invocation("psql", [], { env: {} }).args).toContain("--pull=never");
    const missing = new PgTools({ image: "img" }, new Scope(), "/config", { pull: "missing" });
    expect(missing.invocation("psql", [], { env: {} }).args).toContain("--pull=missing");
  });

  it("in a drill's sandbox, joins the sandbox's network only", () => {
    const tools = new PgTools({ image: "img" }, new Scope(), "/config", {
      sandbox: { containerId: "abc123", port: 5432 },
    });
    const { args } = tools.invocation("pg_restore", [], { env });
    expect(args).toEqual(expect.arrayContaining(["--network", "container:abc123"]));
    expect(args).not.toContain("host");
  });
});
