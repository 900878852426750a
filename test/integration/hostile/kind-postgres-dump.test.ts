/**
 * Hostile postgres-dump snapshots: database names that libpq would read as a connection string
 * (pointing pg_restore at a decoy), globals dumps carrying psql meta-commands (`\!`, `\o |cmd`,
 * `\connect`), and facts that name artifacts the snapshot does not hold or use one twice. Each
 * is refused with a clear error, in restore and in the drill, and the witnesses show nothing
 * happened: the decoy saw no connection, no canary file exists, no database was created.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresContainer, type StartedPostgresContainer } from "../../support/containers/postgres.js";
import { postgresImage } from "../../support/images.js";
import { PG_PASSWORD_ENV } from "../../faults/support/fault-config.js";
import { exists, hostileWorld, SLOW, startDecoy, type Decoy, type HostileWorld } from "./kind-support.js";

const exec = promisify(execFile);
const PASSWORD = "hostile-pg-target-pw-7c1e";
/** The host's PostgreSQL 15 client tools: psql runs on this host, where a canary would appear. */
const HOST_BIN = "/usr/lib/postgresql/15/bin";
const IMAGE_JOB = "pgd-image";
const HOST_JOB = "pgd-host";

let world: HostileWorld;
let server: StartedPostgresContainer;
let decoy: Decoy;
/** A valid custom-format dump (pg_dump 17) of a one-table database. */
let dump: Buffer;

const target = (database = "") => `postgres://test:${PASSWORD}@127.0.0.1:${server.port}/${database}`;

async function databases(): Promise<string[]> {
  const client = new pg.Client({ connectionString: target("postgres") });
  await client.connect();
  try {
    const result = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1",
    );
    return result.rows.map((row) => row.datname);
  } finally {
    await client.end();
  }
}

interface DbFacts {
  name: string;
  artifact: string;
}

function facts(options: { databases: DbFacts[]; globals?: string | null; major?: number }): unknown {
  return {
    kind: "postgres-dump",
    version: 1,
    server: { version: "17.12", versionNum: 170012 },
    pgDumpVersion: `${options.major ?? 17}.12`,
    pgDumpMajor: options.major ?? 17,
    format: "custom",
    globalsArtifact: options.globals ?? null,
    rolePasswords: true,
    checksumAlgorithm: "md5-row-text-sum-v1",
    checksumMaxRows: 0,
    databases: options.databases.map((db) => ({
      name: db.name,
      encoding: "UTF8",
      owner: "",
      sizeBytes: 0,
      tables: [],
      sequences: [],
      extensions: {},
      artifact: db.artifact,
    })),
  };
}

const NO_CHECKS = { rowCounts: false, checksums: false, amcheck: false };

beforeAll(async () => {
  world = await hostileWorld("hostile-pg-dump");
  decoy = await startDecoy();
  server = await new PostgresContainer().withDatabase("task").withPassword(PASSWORD).start();
  await server.psql("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)", "task");
  const { stdout } = await exec(
    "docker",
    ["exec", server.getId(), "sh", "-c", "pg_dump -Fc -U test task | base64 -w0"],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  dump = Buffer.from(stdout.trim(), "base64");
  const connection = {
    host: "127.0.0.1",
    port: server.port,
    user: "test",
    passwordEnv: PG_PASSWORD_ENV,
    sslmode: "disable",
  };
  await world.writeJob({
    name: IMAGE_JOB,
    kind: "postgres-dump",
    connection,
    tools: { image: postgresImage() },
  });
  await world.writeJob({ name: HOST_JOB, kind: "postgres-dump", connection, tools: { binDir: HOST_BIN } });
}, SLOW);

afterAll(async () => {
  await server?.stop();
  await decoy?.close();
  await world?.remove();
}, SLOW);

describe("hostile postgres-dump snapshots", () => {
  it(
    "restore: a database name that is a connection string never reaches pg_restore (no connection to the decoy)",
    async () => {
      const name = `host=127.0.0.1 port=${decoy.port} dbname=postgres`;
      const forged = await world.forge(IMAGE_JOB, "postgres-dump", {
        artifacts: { "a.dump": dump },
        facts: facts({ databases: [{ name, artifact: "a.dump" }] }),
      });
      const before = await databases();
      const result = await world.restore(IMAGE_JOB, forged.id, target());
      expect(decoy.connections()).toBe(0);
      expect(await databases()).toEqual(before);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/databases\.0\.name: .*would be read by libpq as a connection string/);
    },
    SLOW,
  );

  it(
    "drill: a database name that is a URI fails the target before any sandbox (no connection to the decoy)",
    async () => {
      const name = `postgresql://test@127.0.0.1:${decoy.port}/postgres`;
      const forged = await world.forge(IMAGE_JOB, "postgres-dump", {
        artifacts: { "a.dump": dump },
        facts: facts({ databases: [{ name, artifact: "a.dump" }] }),
      });
      const { target: report } = await world.drill("pgd-uri", {
        job: IMAGE_JOB,
        snapshot: forged.id,
        image: postgresImage(),
        checks: NO_CHECKS,
      });
      expect(decoy.connections()).toBe(0);
      expect(report.ok).toBe(false);
      expect(report.error).toMatch(/would be read by libpq as a connection string/);
    },
    SLOW,
  );

  it(
    "restore: a globals dump with \\! is refused before psql starts (no canary on this host)",
    async () => {
      const canary = path.join(world.outside, "canary-restore-bang");
      const forged = await world.forge(HOST_JOB, "postgres-dump", {
        artifacts: { "globals.sql": `CREATE ROLE hostile_a;\n\\! touch ${canary}\n` },
        facts: facts({ databases: [], globals: "globals.sql", major: 15 }),
      });
      const result = await world.restore(HOST_JOB, forged.id, target());
      expect(await exists(canary)).toBe(false);
      const roles = await server.psql(
        "SELECT count(*) FROM pg_roles WHERE rolname = 'hostile_a'",
        "postgres",
      );
      expect(roles.trim()).toBe("0");
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/globals\.sql line 2: psql meta-command \\!/);
    },
    SLOW,
  );

  it(
    "drill: a globals dump with `\\o |cmd` in mid-line fails the target (no canary on the drill host)",
    async () => {
      const canary = path.join(world.outside, "canary-drill-pipe");
      const forged = await world.forge(HOST_JOB, "postgres-dump", {
        artifacts: { "globals.sql": `CREATE ROLE hostile_b; \\o |touch ${canary}\nSELECT 1;\n` },
        facts: facts({ databases: [], globals: "globals.sql", major: 15 }),
      });
      const { target: report } = await world.drill("pgd-pipe", {
        job: HOST_JOB,
        snapshot: forged.id,
        image: postgresImage(),
        checks: NO_CHECKS,
      });
      expect(await exists(canary)).toBe(false);
      expect(report.ok).toBe(false);
      expect(report.error).toMatch(/globals\.sql line 1: psql meta-command \\o/);
    },
    SLOW,
  );

  it(
    "drill: a globals dump with \\! fails the target (no canary on the drill host)",
    async () => {
      const canary = path.join(world.outside, "canary-drill-bang");
      const forged = await world.forge(HOST_JOB, "postgres-dump", {
        artifacts: { "globals.sql": `\\! touch ${canary}\n` },
        facts: facts({ databases: [], globals: "globals.sql", major: 15 }),
      });
      const { target: report } = await world.drill("pgd-bang", {
        job: HOST_JOB,
        snapshot: forged.id,
        image: postgresImage(),
        checks: NO_CHECKS,
      });
      expect(await exists(canary)).toBe(false);
      expect(report.ok).toBe(false);
      expect(report.error).toMatch(/psql meta-command \\!/);
    },
    SLOW,
  );

  it(
    "restore: a globals dump with \\connect to another server never connects there (nor sends it the password)",
    async () => {
      const forged = await world.forge(IMAGE_JOB, "postgres-dump", {
        artifacts: {
          "globals.sql": `\\connect "host=127.0.0.1 port=${decoy.port} dbname=postgres"\nCREATE ROLE hostile_c;\n`,
        },
        facts: facts({ databases: [], globals: "globals.sql" }),
      });
      const result = await world.restore(IMAGE_JOB, forged.id, target());
      expect(decoy.connections()).toBe(0);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/psql meta-command \\connect/);
    },
    SLOW,
  );

  it(
    "restore: facts that restore a database from the globals artifact (one artifact used twice) are refused; no database is created",
    async () => {
      const forged = await world.forge(IMAGE_JOB, "postgres-dump", {
        artifacts: { "globals.sql": "CREATE ROLE hostile_d;\n", "task.dump": dump },
        facts: facts({ databases: [{ name: "swapped", artifact: "globals.sql" }], globals: "globals.sql" }),
      });
      const result = await world.restore(IMAGE_JOB, forged.id, target(), ["--no-globals"]);
      expect(await databases()).not.toContain("swapped");
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/databases\.0\.artifact: names an artifact that another entry uses too/);
    },
    SLOW,
  );

  it(
    "restore: facts naming an artifact the manifest does not list are refused before the target is touched",
    async () => {
      const forged = await world.forge(IMAGE_JOB, "postgres-dump", {
        artifacts: { "task.dump": dump },
        facts: facts({ databases: [{ name: "phantom", artifact: "other.dump" }] }),
      });
      const result = await world.restore(IMAGE_JOB, forged.id, target());
      expect(await databases()).not.toContain("phantom");
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /name artifact "other\.dump" \(databases\.0\.artifact\), which the manifest does not list/,
      );
    },
    SLOW,
  );
  it(
    "backup: a discovered database whose name is no artifact name (a space) gets a safe artifact name, and restores",
    async () => {
      await server.psql('CREATE DATABASE "Q3 reports"', "postgres");
      await server.psql("CREATE TABLE r (id int); INSERT INTO r VALUES (1)", "Q3 reports");
      const backup = await world.cli(["backup", IMAGE_JOB], { [PG_PASSWORD_ENV]: PASSWORD });
      expect(backup.code, backup.stderr).toBe(0);
      const listed = await world.cli(["snapshots", IMAGE_JOB, "--json"]);
      const snapshots = JSON.parse(listed.stdout) as Array<{
        id: string;
        artifacts: Array<{ name: string }>;
      }>;
      const newest = snapshots.at(-1);
      expect(newest?.artifacts.map((artifact) => artifact.name)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^db-[0-9a-f]{16}\.dump$/),
          "task.dump",
          "globals.sql",
        ]),
      );
      await server.psql('DROP DATABASE "Q3 reports"', "postgres");
      const restored = await world.restore(IMAGE_JOB, newest?.id ?? "latest", target(), [
        "--database",
        "Q3 reports",
        "--no-globals",
      ]);
      expect(restored.code, restored.stderr).toBe(0);
      expect((await server.psql("SELECT count(*) FROM r", "Q3 reports")).trim()).toBe("1");
    },
    SLOW,
  );
});
