import { afterEach, describe, expect, it } from "vitest";
import { UsageError } from "../../errors.js";
import { clearRegisteredSecrets, redact } from "../../log/redact.js";
import { libpqEnv, parseDsn, redactedDsn, resolveEndpoint } from "./connection.js";

afterEach(() => clearRegisteredSecrets());

describe("parseDsn", () => {
  it("reads user, decoded password, host, port, database and sslmode", () => {
    const endpoint = parseDsn("postgres://admin:p%40ss%2Fword@db.internal:6432/task?sslmode=require");
    expect(endpoint).toEqual({
      host: "db.internal",
      port: 6432,
      user: "admin",
      password: "p@ss/word",
      sslmode: "require",
      database: "task",
    });
  });

  it("registers the password for redaction as soon as it is parsed", () => {
    parseDsn("postgresql://admin:hunter2-secret@localhost/");
    expect(redact("psql failed: hunter2-secret")).toBe("psql failed: ***");
  });

  it("defaults the port and database, and takes a socket directory from ?host=", () => {
    expect(parseDsn("postgres://u@/?host=/var/run/postgresql")).toMatchObject({
      host: "/var/run/postgresql",
      port: 5432,
      database: "postgres",
      password: undefined,
    });
  });

  it("rejects other schemes and bad sslmodes without repeating the URL", () => {
    expect(() => parseDsn("mysql://u:topsecret@h/db", "--to")).toThrow(UsageError);
    expect(() => parseDsn("postgres://u:topsecret@h/db?sslmode=maybe", "--to")).toThrow(
      /--to: sslmode must be one of/,
    );
    try {
      parseDsn("not a url topsecret", "--to");
    } catch (error) {
      expect((error as Error).message).not.toContain("topsecret");
    }
  });
});

describe("resolveEndpoint", () => {
  it("reads the password from the named env var", async () => {
    const endpoint = await resolveEndpoint(
      { host: "h", port: 5432, user: "backup", passwordEnv: "DB_PW" },
      { DB_PW: "from-env-pw" },
      "/config",
      "task-db",
    );
    expect(endpoint.password).toBe("from-env-pw");
    expect(endpoint.database).toBe("postgres");
  });

  it("names the job and the variable when it is missing", async () => {
    await expect(
      resolveEndpoint({ host: "h", port: 5432, user: "b", passwordEnv: "DB_PW" }, {}, "/c", "task-db"),
    ).rejects.toThrow("job task-db: connection password: environment variable DB_PW is not set");
  });

  it("takes the whole connection from urlEnv, keeping sslmode from the config when the URL has none", async () => {
    const endpoint = await resolveEndpoint(
      { urlEnv: "DB_URL", sslmode: "disable" },
      { DB_URL: "postgres://backup:url-pw-123@10.0.0.5:5433/task" },
      "/c",
      "task-db",
    );
    expect(endpoint).toMatchObject({
      host: "10.0.0.5",
      port: 5433,
      user: "backup",
      sslmode: "disable",
      database: "task",
    });
  });
});

describe("libpqEnv and redactedDsn", () => {
  const endpoint = {
    host: "h",
    port: 5432,
    user: "backup",
    password: "pw-1234",
    sslmode: "prefer" as const,
    database: "postgres",
  };

  it("puts the password in PGPASSWORD for the tools", () => {
    expect(libpqEnv(endpoint, "task")).toMatchObject({
      PGHOST: "h",
      PGPORT: "5432",
      PGUSER: "backup",
      PGPASSWORD: "pw-1234",
      PGSSLMODE: "prefer",
      PGDATABASE: "task",
    });
  });

  it("masks the password in DSNs shown to people", () => {
    expect(redactedDsn(endpoint, "task")).toBe("postgres://backup:***@h:5432/task?sslmode=prefer");
  });
});
