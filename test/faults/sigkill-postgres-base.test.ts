/**
 * SIGKILL trials of a postgres-base backup (issue 9): `pg_basebackup -D - -F t -X fetch` in a
 * `docker run` tool container, its tar streamed and encrypted into the repository (WAL is
 * archived separately and not part of these trials). Besides the repository invariants (see
 * support/kill-trials.ts): killing pg_basebackup's parent must not leave the server with a
 * base backup in progress, a WAL sender or a replication slot that outlives the tool, and every
 * run after a kill must start its own base backup (the final one must succeed).
 *
 * Data: the TasK-like seed plus ~5 MB of rows: the base backup streams ~45 MB.
 */
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOOL_CONTAINER_LABEL } from "../../src/kinds/postgres/tools.js";
import { PostgresContainer, type StartedPostgresContainer } from "../support/containers/postgres.js";
import { postgresImage } from "../support/images.js";
import { seedTaskDb } from "../support/seed-task-db.js";
import { makeFaultConfig, PG_PASSWORD_ENV, pgConnection, type FaultConfig } from "./support/fault-config.js";
import { blobsSql } from "./support/filler-data.js";
import { runKillTrials } from "./support/kill-trials.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

const JOB = "task-wal";
const PASSWORD = "sigkill-base-pw-7c3d";
let config: FaultConfig;
let source: StartedPostgresContainer;
/** Base backups / WAL senders still running two seconds after a kill, per trial. */
const busyAfterKill: string[] = [];

/** What the server says is in progress: base backups, WAL senders, replication slots. */
async function serverState(): Promise<{ backups: number; senders: number; slots: number }> {
  const row = await source.psql(
    "SELECT (SELECT count(*) FROM pg_stat_progress_basebackup) || ',' || " +
      "(SELECT count(*) FROM pg_stat_replication) || ',' || (SELECT count(*) FROM pg_replication_slots)",
  );
  const [backups, senders, slots] = row.split(",").map(Number);
  return { backups: backups ?? -1, senders: senders ?? -1, slots: slots ?? -1 };
}

async function untilIdle(timeoutMs: number): Promise<{ backups: number; senders: number; slots: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await serverState();
    if ((state.backups === 0 && state.senders === 0 && state.slots === 0) || Date.now() > deadline)
      return state;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

beforeAll(async () => {
  config = await makeFaultConfig("sigkill-pgbase");
  source = await new PostgresContainer()
    .withDatabase("task")
    .withPassword(PASSWORD)
    .withServerArgs("-c", "wal_level=replica", "-c", "max_wal_senders=10")
    .start();
  await seedTaskDb(source.connectionUri);
  await source.psql(`${blobsSql(5_000)}; CHECKPOINT`);
  await config.writeJob({
    name: JOB,
    kind: "postgres-base",
    connection: pgConnection(source),
    tools: { image: postgresImage() },
  });
});

afterAll(async () => {
  await source?.stop();
  await config?.remove();
});

describe("SIGKILL during postgres-base backups", () => {
  it("never leaves a half snapshot nor a stuck base backup; the next run and prune clean up", async () => {
    const report = await runKillTrials({
      kind: "postgres-base",
      job: JOB,
      configDir: config.configDir,
      repositoryDir: config.repositoryDir,
      identity: config.identity,
      env: { [PG_PASSWORD_ENV]: PASSWORD },
      afterKill: async (trial) => {
        const state = await serverState();
        if (state.backups > 0 || state.senders > 0)
          busyAfterKill.push(`trial ${trial}: ${JSON.stringify(state)}`);
        // pg_basebackup -X fetch uses no slot; a permanent one would hold WAL forever.
        expect(state.slots, `trial ${trial}: no replication slot left`).toBe(0);
      },
    });
    console.log(report.summary);
    const orphans = report.trials.flatMap((trial) => trial.orphans);
    if (orphans.length > 0) console.log(`postgres-base orphans 2 s after a kill:\n  ${orphans.join("\n  ")}`);
    if (busyAfterKill.length > 0)
      console.log(`postgres-base server busy after a kill:\n  ${busyAfterKill.join("\n  ")}`);
    expect(report.trials.length).toBeGreaterThanOrEqual(Number(process.env.BACKDRILL_FAULT_TRIALS) || 20);
    // Nothing of the killed runs goes on forever: the server ends up idle, no tool container stays.
    expect(await untilIdle(60_000)).toEqual({ backups: 0, senders: 0, slots: 0 });
    const { stdout } = await execa("docker", [
      "ps",
      "-a",
      "--filter",
      `label=${TOOL_CONTAINER_LABEL}`,
      "--format",
      "{{.Names}} {{.Command}}",
    ]);
    const ours = stdout.split("\n").filter((line) => line.includes("pg_basebackup"));
    expect(
      ours.filter((line) =>
        report.trials.some((t) => t.orphans.some((o) => o.includes(line.split(" ")[0] ?? "?"))),
      ),
    ).toEqual([]);
  });
});
