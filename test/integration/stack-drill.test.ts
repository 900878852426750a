/**
 * Stack drills, issue 21, end to end through the CLI on a TasK-like world (PostgreSQL 17 +
 * pgvector and a Symfony vault; the six-kind stack runs in the demo, checked by test/quickstart/):
 *
 *   - the stack drill passes with the application (task-app image) as an http smoke test: its
 *     report (JSON, Markdown, JUnit) shows each service's phases on the drill's clock and the
 *     stack RTO;
 *   - a `backdrill drill` SIGKILLed mid-stack leaves its network and containers, labelled with
 *     its owner; the next stack drill removes them;
 *   - two broken restores that every per-service check passes make the smoke test, and so the
 *     drill, fail naming the broken service: a vault whose key file no longer opens it
 *     (`secrets`), and a database backed up after a table the application needs was dropped
 *     (`postgres`);
 *   - the broker, the bucket and the files tree backed up after what the application needs of
 *     each was removed (its exchange, its object, every upload): each restore matches its own
 *     facts, and the smoke test fails naming exactly `rabbitmq`, `s3` and `files`.
 *
 * The first drills leave out the broker, the bucket and the files tree (`twoServices`): they
 * prove the runner's phases, clean-up and naming on two services and cost less CI time.
 */
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { execa } from "execa";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { STACK_DRILL } from "../../scripts/demo/config.js";
import { withDemoWorld, type DemoWorld } from "../../scripts/demo/world.js";
import { STACK_OWNER_LABEL } from "../../src/docker/stack-network.js";
import type { DrillReport } from "../../src/report/types.js";
import { generateVault } from "../support/symfony-vault.js";
import { bundledCliForFile } from "../support/bundle-cli.js";
import { s3TestClient } from "../support/containers/s3.js";
import { REPO_ROOT } from "../support/test-env.js";

interface DrillRun {
  code: number;
  report: DrillReport;
  /** The report files' contents (read before the world's temp dir goes). */
  files: { json: string; markdown: string; junit: string };
  stderr: string;
}

interface Results {
  good: DrillRun;
  goodSnapshots: Record<string, string>;
  killed: {
    pid: number;
    before: { containers: string[]; networks: string[] };
    after: { containers: string[]; networks: string[] };
  };
  brokenKey: DrillRun;
  droppedTable: DrillRun;
  threeBroken: DrillRun;
  ownLeftovers: { containers: string[]; networks: string[] };
}

const cliBin = bundledCliForFile();
let results: Results;

async function owned(owner: string): Promise<{ containers: string[]; networks: string[] }> {
  const filter = `label=${STACK_OWNER_LABEL}=${owner}`;
  const lines = (text: string) => text.split("\n").filter((line) => line.trim() !== "");
  return {
    containers: lines((await execa("docker", ["ps", "-aq", "--filter", filter])).stdout),
    networks: lines((await execa("docker", ["network", "ls", "-q", "--filter", filter])).stdout),
  };
}

async function drill(world: DemoWorld, name: string): Promise<DrillRun> {
  const run = await world.cli(["drill", name, "--json", "--config-dir", world.config.configDir]);
  let parsed: Array<DrillReport & { files: DrillRun["files"] }>;
  try {
    parsed = JSON.parse(run.stdout) as typeof parsed;
  } catch {
    throw new Error(`backdrill drill ${name} (exit ${run.code}) printed no JSON:\n${run.stderr}`);
  }
  const [first] = parsed;
  if (first === undefined) throw new Error(`backdrill drill ${name} reported no run`);
  const { files, ...report } = first;
  return {
    code: run.code,
    report,
    files: {
      json: await readFile(files.json, "utf8"),
      markdown: await readFile(files.markdown, "utf8"),
      junit: await readFile(files.junit, "utf8"),
    },
    stderr: run.stderr,
  };
}

/** A variant of the demo's stack drill, written next to it. */
async function writeStackDrill(
  world: DemoWorld,
  name: string,
  change: (drill: Record<string, unknown>) => void,
): Promise<void> {
  const dir = path.join(world.config.configDir, "drills");
  const drillDoc = YAML.parse(await readFile(path.join(dir, `${STACK_DRILL}.yaml`), "utf8")) as Record<
    string,
    unknown
  >;
  drillDoc.name = name;
  change(drillDoc);
  await writeFile(path.join(dir, `${name}.yaml`), YAML.stringify(drillDoc));
}

/** The drill's targets without the broker, the bucket and the files tree. */
function twoServices(drillDoc: Record<string, unknown>): void {
  drillDoc.targets = (drillDoc.targets as Array<{ job: string }>).filter((target) =>
    ["task-db", "task-secrets"].includes(target.job),
  );
}

/** What the application needs of the broker, the bucket and the files tree, removed at the source. */
async function breakBrokerBucketAndFiles(world: DemoWorld): Promise<void> {
  const mq = world.stack.rabbitmq;
  const s3 = world.stack.s3;
  const files = world.stack.files;
  if (mq === undefined || s3 === undefined || files === undefined)
    throw new Error("the world lacks a service");
  const auth = Buffer.from(`${mq.user}:${mq.password}`).toString("base64");
  const deleted = await fetch(`${mq.url}/api/exchanges/task/task.events`, {
    method: "DELETE",
    headers: { authorization: `Basic ${auth}` },
  });
  expect(deleted.status).toBe(204);
  const client = s3TestClient(s3);
  try {
    await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: "exports/2026-11/tasks.csv" }));
  } finally {
    client.destroy();
  }
  for (const entry of await readdir(files.source)) {
    await rm(path.join(files.source, entry), { recursive: true, force: true });
  }
}

async function backup(world: DemoWorld, job?: string): Promise<Record<string, string>> {
  const run = await world.cli([
    "backup",
    ...(job === undefined ? ["--all"] : [job]),
    "--json",
    "--config-dir",
    world.config.configDir,
  ]);
  if (run.code !== 0) {
    const ids = (
      await execa("docker", ["ps", "-aq", "--filter", `label=backdrill.demo.run=${world.runId}`])
    ).stdout.split("\n");
    const logs = await Promise.all(
      ids.map(async (id) => (await execa("docker", ["logs", "--tail", "80", id], { reject: false })).stderr),
    );
    throw new Error(
      `backup failed (exit ${run.code}):\n${run.stderr}\nDEBUG LOGS:\n${logs.join("\n----\n")}`,
    );
  }
  const parsed = JSON.parse(run.stdout) as
    Array<{ job: string; snapshot: string }> | { job: string; snapshot: string };
  return Object.fromEntries(
    (Array.isArray(parsed) ? parsed : [parsed]).map((item) => [item.job, item.snapshot]),
  );
}

async function body(world: DemoWorld): Promise<Results> {
  const goodSnapshots = await backup(world);

  // 1. The application as an http smoke test: php's server answers /health after its checks.
  await writeStackDrill(world, "stack-http", (drillDoc) => {
    twoServices(drillDoc);
    drillDoc.stack = {
      rto: "20m",
      smokeTest: {
        image: (drillDoc.stack as { smokeTest: { image: string } }).smokeTest.image,
        command: ["php", "-S", "0.0.0.0:8080", "/app/server.php"],
        http: { port: 8080, path: "/health" },
        timeout: "2m",
      },
    };
  });
  const good = await drill(world, "stack-http");

  // 2. A real `backdrill drill` process SIGKILLed while its smoke test runs (it never ends).
  await writeStackDrill(world, "stack-hang", (drillDoc) => {
    twoServices(drillDoc);
    drillDoc.targets = (drillDoc.targets as Array<{ service: string }>).filter(
      (t) => t.service === "secrets",
    );
    const stack = drillDoc.stack as { smokeTest: Record<string, unknown> };
    stack.smokeTest.command = ["sleep", "600"];
    stack.smokeTest.timeout = "15m";
  });
  const child = execa(
    process.execPath,
    [cliBin(), "drill", "stack-hang", "--config-dir", world.config.configDir, "--log-level", "warn"],
    { cwd: REPO_ROOT, env: { ...world.config.env, TESTCONTAINERS_RYUK_DISABLED: "true" }, reject: false },
  );
  const pid = child.pid ?? 0;
  const owner = `${hostname()}:${pid}`;
  let before = await owned(owner);
  for (let i = 0; i < 240 && before.containers.length === 0; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    before = await owned(owner);
  }
  child.kill("SIGKILL");
  await child;
  before = await owned(owner);

  // 3. The vault's key file replaced by another key's: the backup (which escrows the key from
  // SYMFONY_DECRYPTION_SECRET) and the per-service checks are fine, the application is not.
  const vaultDir = world.stack.vault?.dir ?? "";
  // generateVault takes the environment from the directory's name.
  const other = path.join(world.root, "other-vault", "prod");
  await mkdir(other, { recursive: true });
  await generateVault(other);
  await copyFile(
    path.join(vaultDir, "prod.decrypt.private.php"),
    path.join(world.root, "good.decrypt.private.php"),
  );
  await copyFile(
    path.join(other, "prod.decrypt.private.php"),
    path.join(vaultDir, "prod.decrypt.private.php"),
  );
  await backup(world, "task-secrets");
  await writeStackDrill(world, "stack-two", twoServices);
  const brokenKey = await drill(world, "stack-two");
  const after = await owned(owner);

  // 4. A table the application needs dropped before the backup: the dump matches its own facts,
  // the application cannot search tasks. The good vault snapshot is pinned.
  const client = new pg.Client({ connectionString: world.stack.postgres?.uri });
  await client.connect();
  try {
    await client.query("DROP TABLE app.tasks CASCADE");
  } finally {
    await client.end();
  }
  await backup(world, "task-db");
  await writeStackDrill(world, "stack-pinned", (drillDoc) => {
    twoServices(drillDoc);
    for (const target of drillDoc.targets as Array<{
      job: string;
      snapshot?: string;
      checks?: { sql?: unknown };
    }>) {
      if (target.job === "task-secrets") target.snapshot = goodSnapshots["task-secrets"];
      // Without the demo's SQL assertions (they know about app.tasks): only what a dump proves.
      if (target.job === "task-db") delete target.checks?.sql;
    }
  });
  const droppedTable = await drill(world, "stack-pinned");

  // 5. The whole stack, the database and the vault pinned to their good snapshots; the broker,
  // the bucket and the files tree backed up after what the application needs of each was removed.
  await breakBrokerBucketAndFiles(world);
  for (const job of ["task-rabbitmq", "task-bucket", "task-files"]) await backup(world, job);
  await writeStackDrill(world, "stack-three-broken", (drillDoc) => {
    for (const target of drillDoc.targets as Array<{ job: string; snapshot?: string }>) {
      if (target.job === "task-db" || target.job === "task-secrets")
        target.snapshot = goodSnapshots[target.job];
    }
  });
  const threeBroken = await drill(world, "stack-three-broken");

  return {
    good,
    goodSnapshots,
    killed: { pid, before, after },
    brokenKey,
    droppedTable,
    threeBroken,
    ownLeftovers: await owned(`${hostname()}:${process.pid}`),
  };
}

beforeAll(async () => {
  const outcome = await withDemoWorld(
    {
      skipKinds: ["postgres-base"],
      progress: () => undefined,
      handleSignals: false,
    },
    body,
  );
  if (outcome.error !== undefined) throw outcome.error;
  if (outcome.value === undefined) throw new Error("the stack drill test produced no result");
  expect(outcome.cleanupFailures).toEqual([]);
  results = outcome.value;
}, 15 * 60_000);

describe("stack drill", () => {
  it("passes with the application answering over http, and reports per-service phases and the stack RTO", async () => {
    const { report, code, files } = results.good;
    // What failed, if anything, says more than the exit code.
    const failed = [
      ...report.targets.flatMap((t) => [
        ...t.checks,
        { name: "error", ok: t.error === undefined, detail: t.error ?? "" },
      ]),
      ...(report.stack?.checks ?? []),
    ];
    expect(
      failed.filter((check) => !check.ok),
      report.stack?.error ?? report.stack?.smokeTest?.output,
    ).toEqual([]);
    expect(code, results.good.stderr).toBe(0);
    expect(report.ok).toBe(true);
    const stack = report.stack;
    expect(stack?.ok).toBe(true);
    expect(stack?.services.map((s) => [s.service, s.job, s.kind, s.address, s.ok])).toEqual([
      ["postgres", "task-db", "postgres-dump", "postgres:5432", true],
      ["secrets", "task-secrets", "symfony-secrets", null, true],
    ]);
    const [postgres, secrets] = stack?.services ?? [];
    expect(postgres?.timings.setupMs).toBeGreaterThan(0);
    expect(postgres?.timings.restoreMs).toBeGreaterThan(0);
    expect(secrets?.startMs).toBeGreaterThanOrEqual(
      (postgres?.startMs ?? 0) + (postgres?.timings.totalMs ?? 0),
    );
    const smoke = stack?.smokeTest;
    expect(smoke).toMatchObject({ mode: "http", ok: true, failedServices: [] });
    expect(smoke?.startMs).toBeGreaterThanOrEqual((secrets?.startMs ?? 0) + (secrets?.timings.totalMs ?? 0));
    // Stack RTO: from the drill's start until the application answered.
    const elapsed = Date.parse(report.finishedAt) - Date.parse(report.startedAt);
    expect(stack?.rtoMs).toBeGreaterThan(smoke?.startMs ?? 0);
    expect(stack?.rtoMs).toBeLessThanOrEqual(elapsed);
    const checks = Object.fromEntries((stack?.checks ?? []).map((check) => [check.name, check.ok]));
    expect(checks).toEqual({
      "stack isolated": true,
      "stack services": true,
      "smoke test": true,
      "smoke: secrets": true,
      "smoke: postgres": true,
      "within stack RTO": true,
    });

    const json = JSON.parse(files.json) as DrillReport;
    expect(json.stack?.rtoMs).toBe(stack?.rtoMs);
    const markdown = files.markdown;
    expect(markdown).toContain("## Stack: PASSED");
    expect(markdown).toMatch(
      /Stack RTO \(drill start until the smoke test passed\): \d+\.\d s of 20 min: within RTO/,
    );
    expect(markdown).toMatch(/\| postgres \| task-db \| postgres-dump \| postgres:5432 \| \+\d+\.\d s \|/);
    expect(markdown).toContain("ok 2 - postgres: logged in to task as task_app");
    const junit = files.junit;
    expect(junit).toMatch(/<testsuite name="stack-http.stack" tests="6" failures="0"/);
  });

  it("leaves nothing when it ends, and a SIGKILLed run's network and containers go with the next run", () => {
    expect(results.ownLeftovers).toEqual({ containers: [], networks: [] });
    expect(results.killed.pid).toBeGreaterThan(0);
    expect(results.killed.before.containers.length).toBeGreaterThan(0);
    expect(results.killed.before.networks).toHaveLength(1);
    expect(results.killed.after).toEqual({ containers: [], networks: [] });
    expect(results.brokenKey.stderr).toContain("removed what killed stack drills left behind");
  });

  it("fails naming secrets when the restored vault's key does not open it, though every service's checks pass", () => {
    const { report, code } = results.brokenKey;
    expect(code).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.targets.map((target) => [target.job, target.ok])).toEqual([
      ["task-db", true],
      ["task-secrets", true],
    ]);
    expect(report.stack?.smokeTest).toMatchObject({ ok: false, exitCode: 1, failedServices: ["secrets"] });
    const smoke = report.stack?.checks.find((check) => check.name === "smoke test");
    expect(smoke?.detail).toContain("failing service(s): secrets");
    const line = report.stack?.checks.find((check) => check.name === "smoke: secrets");
    expect(line).toMatchObject({ ok: false });
    expect(line?.detail).toMatch(/not open with prod\.decrypt\.private\.php/);
    expect(report.stack?.rtoMs).toBeNull();
  });

  it("fails naming postgres when a table the application needs is gone, though the dump matches its facts", () => {
    const { report, code } = results.droppedTable;
    expect(code).toBe(1);
    const failing = report.targets.flatMap((target) => target.checks.filter((check) => !check.ok));
    expect(failing).toEqual([]);
    expect(report.targets.map((target) => [target.job, target.ok, target.snapshot])).toEqual([
      ["task-db", true, expect.not.stringMatching(results.goodSnapshots["task-db"] ?? "")],
      ["task-secrets", true, results.goodSnapshots["task-secrets"]],
    ]);
    expect(report.stack?.smokeTest).toMatchObject({ ok: false, failedServices: ["postgres"] });
    const line = report.stack?.checks.find((check) => check.name === "smoke: postgres");
    expect(line?.detail).toMatch(/relation "app\.tasks" does not exist/);
  });

  it("fails naming rabbitmq, s3 and files when each was backed up without what the application needs, though every restore matches its facts", () => {
    const { report, code } = results.threeBroken;
    expect(code).toBe(1);
    expect(report.ok).toBe(false);
    const failing = report.targets.flatMap((target) => target.checks.filter((check) => !check.ok));
    expect(failing).toEqual([]);
    expect(report.stack?.smokeTest?.ok).toBe(false);
    expect([...(report.stack?.smokeTest?.failedServices ?? [])].sort()).toEqual(["files", "rabbitmq", "s3"]);
    const detail = (name: string) => report.stack?.checks.find((check) => check.name === `smoke: ${name}`);
    expect(detail("rabbitmq")).toMatchObject({ ok: false });
    expect(detail("rabbitmq")?.detail).toMatch(/exchange task\.events in vhost task: HTTP 404/);
    expect(detail("s3")).toMatchObject({ ok: false });
    expect(detail("s3")?.detail).toMatch(/exports\/2026-11\/tasks\.csv: HTTP 404/);
    expect(detail("files")).toMatchObject({ ok: false });
    expect(detail("files")?.detail).toMatch(/no readable file under/);
    expect(detail("postgres")).toMatchObject({ ok: true });
    expect(detail("secrets")).toMatchObject({ ok: true });
    expect(report.stack?.rtoMs).toBeNull();
  });
});
