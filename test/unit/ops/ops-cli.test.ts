/**
 * The operations commands end to end through the real CLI (`main`) and a real local repository:
 * status exit codes against RPO and drill reports, prune --dry-run, cron output, the lock's exit
 * 3 semantics for backups, and `backdrill schedule` as a child process stopped with SIGTERM.
 */
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { backupExitCode, runBackups } from "../../../src/app/backup.js";
import { openConfig } from "../../../src/app/config.js";
import { main } from "../../../src/cli/main.js";
import { generateIdentity } from "../../../src/crypto/keys.js";
import { createLogger } from "../../../src/log/logger.js";
import { parseTextfile } from "../../../src/ops/metrics.js";
import { Repository } from "../../../src/repository/repository.js";
import { inspectLock } from "../../../src/repository/locks.js";
import { LocalBackend } from "../../../src/storage/local/local-backend.js";

const root = resolve(import.meta.dirname, "../../..");
let dir: string;
let configDir: string;
let repoDir: string;
let reportDir: string;
let repository: Repository;
let recipient: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-ops-cli-"));
  configDir = join(dir, "config");
  repoDir = join(dir, "repo");
  reportDir = join(dir, "reports");
  const keys = await generateIdentity();
  recipient = keys.recipient;
  await mkdir(join(configDir, "policies"), { recursive: true });
  await mkdir(join(configDir, "jobs"), { recursive: true });
  await mkdir(join(configDir, "drills"), { recursive: true });
  await writeFile(join(dir, "identity.txt"), `${keys.identity}\n`, { mode: 0o600 });
  await writeFile(
    join(configDir, "policies", "nightly.yaml"),
    [
      "name: nightly",
      `repository: { type: local, path: ${repoDir} }`,
      `encryption: { recipients: [${recipient}] }`,
      "retention: { keepLast: 2 }",
      'schedule: "* * * * * *"',
      "timezone: Europe/Moscow",
      "rpo: 1h",
    ].join("\n"),
  );
  await writeFile(
    join(configDir, "jobs", "mq.yaml"),
    [
      "name: mq",
      "kind: rabbitmq",
      "policy: nightly",
      "url: http://127.0.0.1:1",
      "user: backup",
      "passwordEnv: MQ_PASSWORD",
    ].join("\n"),
  );
  await writeFile(
    join(configDir, "drills", "monthly.yaml"),
    [
      "name: monthly",
      `identityFile: ${join(dir, "identity.txt")}`,
      `reportDir: ${reportDir}`,
      "targets:",
      "  - { job: mq, rto: 10m }",
    ].join("\n"),
  );
  repository = new Repository(new LocalBackend({ path: repoDir }));
  await repository.init();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function snapshotAt(at: Date): Promise<string> {
  const writer = repository.createSnapshot({ job: "mq", kind: "rabbitmq", recipients: [recipient], at });
  await writer.addArtifact("definitions.json", Readable.from([Buffer.from("{}")]));
  return (await writer.commit()).id;
}

/** Runs the CLI in-process; returns exit code and stdout. */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  const errSpy = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    const code = await main([...argv, "--config-dir", configDir, "--log-level", "silent"]);
    return { code, stdout };
  } finally {
    spy.mockRestore();
    errSpy.mockRestore();
  }
}

describe("backdrill status", () => {
  it("exits 1 when the newest snapshot is older than the RPO, 0 once a fresh one exists, 1 after a failed drill", async () => {
    await snapshotAt(new Date(Date.now() - 3 * 3600_000));
    const breached = await cli("status", "--json");
    expect(breached.code).toBe(1);
    const report = JSON.parse(breached.stdout) as {
      jobs: Array<{
        job: string;
        ok: boolean;
        ageSeconds: number;
        rpoSeconds: number;
        newest: { id: string } | null;
      }>;
      drills: Array<{ drill: string; last: unknown }>;
    };
    expect(report.jobs[0]).toMatchObject({ job: "mq", ok: false, rpoSeconds: 3600 });
    expect(report.jobs[0]?.ageSeconds).toBeGreaterThan(3 * 3600 - 60);
    expect(report.drills).toEqual([{ drill: "monthly", last: null }]);

    const fresh = await snapshotAt(new Date(Date.now() - 60_000));
    const ok = await cli("status", "--json");
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).jobs[0].newest.id).toBe(fresh);

    await mkdir(reportDir, { recursive: true });
    const drillReport = (stamp: string, passed: boolean, totalMs: number) => ({
      drill: "monthly",
      startedAt: "2026-11-01T04:00:00.000Z",
      finishedAt: `2026-11-0${stamp}T04:10:00.000Z`,
      ok: passed,
      targets: [
        {
          job: "mq",
          kind: "rabbitmq",
          snapshot: fresh,
          ok: passed,
          backupAgeSeconds: 10,
          rtoSeconds: 600,
          timings: { fetchMs: 0, restoreMs: 0, checksMs: 0, setupMs: 0, totalMs },
          checks: [],
        },
      ],
    });
    await writeFile(
      join(reportDir, "monthly-20261101T040000Z.json"),
      JSON.stringify(drillReport("1", true, 60_000)),
    );
    const passed = await cli("status", "--json");
    expect(passed.code).toBe(0);
    expect(JSON.parse(passed.stdout).drills[0].last).toMatchObject({
      ok: true,
      targets: [{ job: "mq", rtoMarginSeconds: 540 }],
    });
    // A newer failed drill (and an unrelated drill's file with a similar prefix, ignored).
    await writeFile(
      join(reportDir, "monthly-20261102T040000Z.json"),
      JSON.stringify(drillReport("2", false, 700_000)),
    );
    await writeFile(
      join(reportDir, "monthly-db-20261103T040000Z.json"),
      JSON.stringify(drillReport("3", true, 1)),
    );
    const failed = await cli("status", "--json");
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout).drills[0].last).toMatchObject({
      ok: false,
      targets: [{ rtoMarginSeconds: -100 }],
    });
    const human = await cli("status");
    expect(human.stdout).toMatch(/FAILED +drill monthly/);
    expect(human.stdout).toContain("OVER RTO");
  });
});

describe("backdrill prune --dry-run", () => {
  it("lists each snapshot with keep/remove and the reason, and removes nothing", async () => {
    const before = await repository.snapshots("mq");
    const { code, stdout } = await cli("prune", "--dry-run");
    expect(code).toBe(0);
    expect(stdout).toMatch(/keep +\S+ +last \(1 of 2\)/);
    expect((await repository.snapshots("mq")).length).toBe(before.length);
    const json = JSON.parse((await cli("prune", "--dry-run", "--json")).stdout);
    expect(
      json.jobs[0].snapshots
        .map((entry: { action: string }) => entry.action)
        .filter((a: string) => a === "keep"),
    ).toHaveLength(2);
  });

  it("exits 2 for an unknown job", async () => {
    expect((await cli("prune", "nope")).code).toBe(2);
  });
});

describe("backdrill cron", () => {
  it("refuses crontab output for a seconds schedule (exit 2) and prints systemd units", async () => {
    expect((await cli("cron")).code).toBe(2);
    const { code, stdout } = await cli("cron", "--format", "systemd");
    expect(code).toBe(0);
    expect(stdout).toContain("# ---- backdrill-backup-mq.timer ----");
    expect(stdout).toContain("OnCalendar=*-*-* *:*:* Europe/Moscow");
    expect(stdout).toContain(`ExecStart=/usr/local/bin/backdrill --config-dir ${configDir} backup mq`);
  });
});

describe("job lock around backups", () => {
  it("a backup of a job whose lock another host holds is not attempted and maps to exit 3", async () => {
    const lock = {
      format: 1,
      id: "other",
      job: "mq",
      purpose: "backup",
      owner: "backdrill",
      host: "backup-2",
      pid: 77,
      start: new Date().toISOString(),
      refreshed: new Date().toISOString(),
      expiry: new Date(Date.now() + 600_000).toISOString(),
    };
    await repository.backend.put("locks/mq.json", Readable.from([JSON.stringify(lock)]), { overwrite: true });
    try {
      const config = await openConfig(configDir);
      const results = await runBackups(config, {
        jobs: ["mq"],
        all: false,
        log: createLogger({ level: "silent" }),
        signal: new AbortController().signal,
        env: { MQ_PASSWORD: "x" },
      });
      expect(results[0]).toMatchObject({ job: "mq", ok: false, locked: true });
      expect(results[0]?.error).toMatch(/backup by backdrill@backup-2 \(pid 77\)/);
      expect(backupExitCode(results)).toBe(3);
      expect(
        backupExitCode([...results, { job: "x", ok: false, snapshot: null, durationMs: 0, bytes: 0 }]),
      ).toBe(1);
    } finally {
      await repository.backend.delete("locks/mq.json");
    }
  });
});

describe("backdrill schedule (child process)", () => {
  let server: Server;
  const pings: string[] = [];
  beforeAll(async () => {
    server = createServer((request, response) => {
      pings.push(request.url ?? "");
      request.resume();
      request.on("end", () => response.end("OK"));
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  });
  afterAll(async () => {
    await new Promise((done) => server.close(done));
  });

  it("runs the job on its seconds schedule, writes metrics and pings, and exits 0 on SIGTERM", async () => {
    const metrics = join(dir, "metrics", "backdrill.prom");
    const port = (server.address() as AddressInfo).port;
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        join(root, "src/cli/bin.cts"),
        "schedule",
        "--config-dir",
        configDir,
        "--metrics-file",
        metrics,
        "--log-level",
        "warn",
      ],
      {
        cwd: root,
        env: {
          ...process.env,
          MQ_PASSWORD: "x",
          BACKDRILL_WEBHOOK_URL: `http://127.0.0.1:${port}/hc/{name}`,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
    try {
      const deadline = Date.now() + 60_000;
      let samples: ReturnType<typeof parseTextfile> = [];
      while (Date.now() < deadline) {
        samples = await readFile(metrics, "utf8").then(parseTextfile, () => []);
        if (samples.some((s) => s.name === "backdrill_job_last_run_success")) break;
        await new Promise((done) => setTimeout(done, 250));
      }
      // The broker is unreachable: the run fails, and says so in metrics and pings.
      expect(samples.find((s) => s.name === "backdrill_job_last_run_success")).toMatchObject({
        labels: { job: "mq" },
        value: 0,
      });
      expect(pings).toContain("/hc/mq/start");
      expect(pings).toContain("/hc/mq/fail");
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(stderr).toContain("SIGTERM received");
    // No lock was left behind by the interrupted scheduler.
    expect(await inspectLock(repository, "mq")).toEqual({ state: "free" });
  }, 90_000);
});
