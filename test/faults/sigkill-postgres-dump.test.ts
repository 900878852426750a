/**
 * SIGKILL trials of a postgres-dump backup (issue 9): pg_dumpall --globals-only and pg_dump
 * (custom format, streamed: no plaintext on disk) run in `docker run` tool containers of the
 * server's image, their stdout encrypted into the repository. Besides the repository invariants
 * (see support/kill-trials.ts), the tool containers of a killed run are recorded when they are
 * still there two seconds after the kill, and none may still exist once the trials are over;
 * nor may the FIFO directory of a killed run (tool-fifo.ts): the next run sweeps it.
 *
 * Data: the TasK-like seed plus ~5 MB of incompressible-ish rows, so pg_dump streams for a while.
 */
import { readdir, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOOL_CONTAINER_LABEL, TOOL_OWNER_LABEL } from "../../src/kinds/postgres/tools.js";
import { FIFO_DIR_PREFIX } from "../../src/kinds/postgres/tool-fifo.js";
import { isPidAlive } from "../../src/lifecycle/pid.js";
import { TEST_LABEL_KEY, TEST_LABEL_VALUE } from "../support/docker.js";
import { runCli } from "../support/run-cli.js";
import { PostgresContainer, type StartedPostgresContainer } from "../support/containers/postgres.js";
import { postgresImage } from "../support/images.js";
import { seedTaskDb } from "../support/seed-task-db.js";
import { makeFaultConfig, PG_PASSWORD_ENV, pgConnection, type FaultConfig } from "./support/fault-config.js";
import { blobsSql } from "./support/filler-data.js";
import { runKillTrials } from "./support/kill-trials.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

const JOB = "task-db";
const PASSWORD = "sigkill-dump-pw-4e1a";
let config: FaultConfig;
let source: StartedPostgresContainer;

beforeAll(async () => {
  config = await makeFaultConfig("sigkill-pgdump");
  source = await new PostgresContainer().withDatabase("task").withPassword(PASSWORD).start();
  await seedTaskDb(source.connectionUri);
  await source.psql(blobsSql(5_000));
  await config.writeJob({
    name: JOB,
    kind: "postgres-dump",
    connection: pgConnection(source),
    databases: ["task"],
    format: "custom",
    globals: true,
    tools: { image: postgresImage() },
    facts: { checksumMaxRows: 1_000 },
  });
});

afterAll(async () => {
  await source?.stop();
  await config?.remove();
});

/** Tool containers (this label) still present whose command names this test's server port. */
async function toolContainersOfThisTest(): Promise<string[]> {
  const { stdout } = await execa("docker", [
    "ps",
    "-a",
    "--filter",
    `label=${TOOL_CONTAINER_LABEL}`,
    "--format",
    "{{.Names}} {{.Status}}",
  ]);
  const names = stdout.split("\n").filter((line) => line.trim() !== "");
  const ours: string[] = [];
  for (const line of names) {
    const name = line.split(" ")[0] ?? "";
    const env = await execa("docker", ["inspect", "--format", "{{range .Config.Env}}{{.}} {{end}}", name], {
      reject: false,
    });
    if (env.stdout.includes(`PGPORT=${source.port}`)) ours.push(line);
  }
  return ours;
}

/** A tool container as a SIGKILLed run leaves it: labelled with an owner pid that is gone. */
async function startOrphanedToolContainer(): Promise<string> {
  const child = execa("true");
  const pid = child.pid ?? 0;
  await child;
  const name = `backdrill-tool-orphan-${pid}`;
  await execa("docker", [
    "run",
    "-d",
    "--name",
    name,
    "--label",
    TOOL_CONTAINER_LABEL,
    "--label",
    `${TOOL_OWNER_LABEL}=${hostname()}:${pid}`,
    "--label",
    `${TEST_LABEL_KEY}=${TEST_LABEL_VALUE}`,
    postgresImage(),
    "sleep",
    "600",
  ]);
  return name;
}

describe("SIGKILL during postgres-dump backups", () => {
  it("the next run removes tool containers whose backdrill process was killed", async () => {
    const name = await startOrphanedToolContainer();
    const clean = await runCli(["backup", JOB, "--config-dir", config.configDir], {
      [PG_PASSWORD_ENV]: PASSWORD,
    });
    const inspected = await execa("docker", ["inspect", name], { reject: false });
    if (inspected.exitCode === 0) await execa("docker", ["rm", "-f", name], { reject: false });
    expect(clean.code, clean.stderr).toBe(0);
    expect(inspected.exitCode, `${name} should have been removed by the run`).not.toBe(0);
    // Back to an empty repository for the trials (their first run is the clean one).
    await rm(config.repositoryDir, { recursive: true, force: true });
  });

  it("never leaves a half snapshot; the next run and prune clean up; no tool container stays", async () => {
    const report = await runKillTrials({
      kind: "postgres-dump",
      job: JOB,
      configDir: config.configDir,
      repositoryDir: config.repositoryDir,
      identity: config.identity,
      env: { [PG_PASSWORD_ENV]: PASSWORD },
    });
    const orphans = report.trials.flatMap((trial) => trial.orphans);
    console.log(report.summary);
    if (orphans.length > 0) console.log(`postgres-dump orphans 2 s after a kill:\n  ${orphans.join("\n  ")}`);
    expect(report.trials.length).toBeGreaterThanOrEqual(Number(process.env.BACKDRILL_FAULT_TRIALS) || 20);
    // Containers of killed runs must be gone by now (the final run had its time to clean up).
    expect(await toolContainersOfThisTest()).toEqual([]);
    // So must the FIFO directories of killed runs (the runs after a kill sweep them).
    const deadFifoDirs = (await readdir(tmpdir())).filter((name) => {
      const pid = Number(new RegExp(`^${FIFO_DIR_PREFIX}(\\d+)-`).exec(name)?.[1] ?? Number.NaN);
      return Number.isSafeInteger(pid) && !isPidAlive(pid);
    });
    expect(deadFifoDirs).toEqual([]);
  });
});
