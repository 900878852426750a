/**
 * postgres-dump with `tools.image` on the local engine: the dump goes through a FIFO bind-mounted
 * into the tool containers (src/kinds/postgres/tool-fifo.ts), not through the docker CLI's attach
 * stream. A backup → restore round trip gives the same rows; tool containers whose pg_dump or
 * pg_restore never opens the FIFO fail within a bound with a clear error instead of hanging, and
 * leave no FIFO directory behind.
 */
import { watch, type FSWatcher } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OperationError } from "../../../src/errors.js";
import type { PgDumpJobInput } from "../../../src/kinds/postgres-dump/types.js";
import { PostgresContainer, type StartedPostgresContainer } from "../../support/containers/postgres.js";
import { testLabels } from "../../support/docker.js";
import { postgresImage } from "../../support/images.js";
import { seedTaskDb } from "../../support/seed-task-db.js";
import { dumpJob, runBackup, runRestore, type DirSnapshot } from "./harness.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

const PASSWORD = "fifo-source-pw-3b81";
const ENV = { PW: PASSWORD };
/** A tool that never opens its FIFO must fail well within this. */
const NO_HANG_MS = 60_000;

let server: StartedPostgresContainer;
let tmp: string;
const savedTmpdir = process.env.TMPDIR;
const snapshots: DirSnapshot[] = [];
/** Images built here, removed in afterAll. */
const built: string[] = [];

function job(overrides: Partial<PgDumpJobInput> = {}): PgDumpJobInput {
  return dumpJob(server.port, "PW", overrides);
}

function dsn(database: string): string {
  return `postgres://test:${PASSWORD}@127.0.0.1:${server.port}/${database}`;
}

/** Every user table's row count and content digest, to compare two databases row for row. */
async function tableDigests(database: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: dsn(database) });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>(
      "SELECT format('%I.%I', schemaname, relname) AS name FROM pg_stat_user_tables ORDER BY 1",
    );
    const digests: Record<string, string> = {};
    for (const { name } of tables.rows) {
      const result = await client.query<{ n: string; digest: string | null }>(
        `SELECT count(*)::text AS n, md5(string_agg(t::text, ',' ORDER BY t::text)) AS digest FROM ONLY ${name} t`,
      );
      digests[name] = `${result.rows[0]?.n ?? "?"} ${result.rows[0]?.digest ?? ""}`;
    }
    return digests;
  } finally {
    await client.end();
  }
}

/**
 * An image of the test PostgreSQL whose entrypoint answers `--version` of `tools` like the real
 * one (so the version probe passes) but runs `behaviour` instead of the tool itself: a tool
 * container that starts and never opens its FIFO.
 */
async function brokenToolsImage(name: string, tools: string[], behaviour: string): Promise<string> {
  const image = `backdrill-test/fifo-${name}:${process.pid}`;
  const script = `case "$1" in ${tools.join("|")}) [ "$2" = --version ] && exec "$@"; ${behaviour};; *) exec "$@";; esac`;
  const dockerfile = [
    `FROM ${postgresImage()}`,
    `ENTRYPOINT ["/bin/sh", "-c", ${JSON.stringify(script)}, "sh"]`,
    "CMD []",
  ].join("\n");
  const labels = Object.entries(testLabels()).flatMap(([key, value]) => ["--label", `${key}=${value}`]);
  await execa("docker", ["build", "--pull=false", ...labels, "-t", image, "-"], { input: dockerfile });
  built.push(image);
  return image;
}

/** Settles within `ms`, or fails naming what hung. */
function within<T>(promise: Promise<T>, what: string, ms = NO_HANG_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * FIFO directories of this process in TMPDIR, once their removal (started when the tool exited
 * and our end closed) has had up to 2 s: none may outlive a backup or restore.
 */
async function fifoDirs(): Promise<string[]> {
  const list = async () =>
    (await readdir(tmp)).filter((name) => name.startsWith(`backdrill-fifo-${process.pid}-`));
  for (let i = 0; i < 40 && (await list()).length > 0; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return list();
}

beforeAll(async () => {
  // Our own TMPDIR (os.tmpdir() follows it): the FIFO directories of this file land here only.
  // Its name holds a comma, which docker's `--mount` (a CSV record) takes only quoted.
  tmp = await mkdtemp(path.join(os.tmpdir(), "backdrill-fifo-it,x-"));
  process.env.TMPDIR = tmp;
  server = await new PostgresContainer().withDatabase("task").withPassword(PASSWORD).start();
  await seedTaskDb(server.connectionUri);
});

afterAll(async () => {
  await Promise.all(snapshots.map((s) => s.remove()));
  await server?.stop();
  if (built.length > 0) await execa("docker", ["rmi", "-f", ...built], { reject: false });
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  await rm(tmp, { recursive: true, force: true });
});

describe("postgres-dump through a FIFO", () => {
  it("round-trips backup → restore with the same rows, through FIFOs that are then gone", async () => {
    const seen = new Set<string>();
    const watcher: FSWatcher = watch(tmp, (_event, name) => {
      if (name?.startsWith("backdrill-fifo-") === true) seen.add(name);
    });
    let snapshot: DirSnapshot;
    try {
      const backup = await runBackup(job(), ENV);
      snapshot = backup.snapshot;
      snapshots.push(snapshot);
      expect(snapshot.records.map((r) => r.name).sort()).toEqual(["globals.sql", "task.dump"]);
      // Globals (pg_dumpall) and the database (pg_dump): one FIFO each.
      expect(seen.size).toBeGreaterThanOrEqual(2);
      expect(await fifoDirs()).toEqual([]);

      seen.clear();
      await runRestore(job(), snapshot, backup.outcome.facts, {
        to: dsn("task_fifo"),
        force: false,
        flags: { database: "task" },
      });
      // pg_restore read its input from a FIFO too.
      expect(seen.size).toBeGreaterThanOrEqual(1);
      expect(await fifoDirs()).toEqual([]);
    } finally {
      watcher.close();
    }
    const restored = await tableDigests("task_fifo");
    expect(Object.keys(restored)).toEqual(
      expect.arrayContaining(["app.users", "app.tasks", "billing.invoices"]),
    );
    expect(restored).toEqual(await tableDigests("task"));
  });

  it("shows the FIFO in the restore plan as a placeholder, never a temp path", async () => {
    const backup = await runBackup(job({ globals: false }), ENV);
    snapshots.push(backup.snapshot);
    const plan = await runRestore(
      job({ globals: false }),
      backup.snapshot,
      backup.outcome.facts,
      { to: dsn("task_plan"), force: false, flags: { database: "task" } },
      true,
    );
    const text = plan.steps.join("\n");
    expect(text).toMatch(
      /--mount type=bind,source=<fifo-dir>,target=<fifo-dir> .* pg_restore .* <fifo>, task\.dump/,
    );
    expect(text).not.toContain(tmp);
  });

  it("fails an empty dump from a tool container whose pg_dump exits 0 without writing", async () => {
    const image = await brokenToolsImage("empty", ["pg_dump"], "exit 0");
    const error = await within(
      runBackup(job({ globals: false, tools: { image } }), ENV).then(
        () => undefined,
        (e: unknown) => e,
      ),
      "backup with a pg_dump that writes nothing",
    );
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toMatch(
      /^job task-db, database task: pg_dump of database task exited with code 0 but wrote nothing/,
    );
    expect(await fifoDirs()).toEqual([]);
  });

  it("does not hang when the tool container's pg_dump or pg_restore fails without opening the FIFO", async () => {
    const image = await brokenToolsImage(
      "fails",
      ["pg_dump", "pg_restore"],
      "echo 'tool refused' >&2; exit 3",
    );
    const dump = await within(
      runBackup(job({ tools: { image } }), ENV).then(
        () => undefined,
        (e: unknown) => e,
      ),
      "backup with a failing pg_dump container",
    );
    expect(dump).toBeInstanceOf(OperationError);
    expect((dump as Error).message).toMatch(
      /^job task-db, database task: pg_dump of database task exited with code 3: tool refused/,
    );

    const good = await runBackup(job({ globals: false }), ENV);
    snapshots.push(good.snapshot);
    const restore = await within(
      runRestore(job({ globals: false, tools: { image } }), good.snapshot, good.outcome.facts, {
        to: dsn("task_never"),
        force: false,
        flags: { database: "task" },
      }).then(
        () => undefined,
        (e: unknown) => e,
      ),
      "restore with a failing pg_restore container",
    );
    expect(restore).toBeInstanceOf(Error);
    expect((restore as Error).message).toContain("exited with code 3: tool refused");
    expect(await fifoDirs()).toEqual([]);
  });
});
