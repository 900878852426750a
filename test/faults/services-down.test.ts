/**
 * Services down during `backdrill backup --all` (issue 9): one policy, five jobs, run through the
 * CLI in-process.
 *
 *   b-task-db      postgres-dump; the PostgreSQL container is SIGKILLed while pg_dump is in the
 *                  middle of its COPY (seen in pg_stat_activity), so the dump dies half-way;
 *   c-rabbitmq     rabbitmq; the management API port is closed (the broker is "stopped");
 *   d-remote-files files to user@host:/path; sshd refuses (closed port);
 *   a-local-files, e-secrets  healthy: a local files job and a symfony-secrets job.
 *
 * Proven: exit 1 (backupExitCode: any failed job), each failed job named on one line with a
 * reason and no stack trace or password, the healthy jobs committed snapshots that verify with
 * --read-data, the failed jobs committed nothing (their leftovers, if any, go with `prune`), the
 * run ends in bounded time (a killed server must not leave pg_dump waiting), and `--json` gives
 * one entry per job with its status.
 *
 * The "stopped" RabbitMQ and sshd are closed ports on 127.0.0.1: to a client a stopped server is
 * exactly that, and starting containers only to stop them would cost this file most of its budget.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/keys.js";
import { Repository } from "../../src/repository/repository.js";
import { LocalBackend } from "../../src/storage/local/local-backend.js";
import { PostgresContainer, type StartedPostgresContainer } from "../support/containers/postgres.js";
import { makeFileTree } from "../support/file-tree.js";
import { postgresImage } from "../support/images.js";
import { runCli, verifyReadData, type CliResult } from "../support/run-cli.js";
import { generateVault, sealSecret } from "../support/symfony-vault.js";
import { bigTableSql } from "./support/filler-data.js";

const PG_PASSWORD = "sd-Pg-pw-71c3e9";
const MQ_PASSWORD = "sd-Mq-pw-0b5d2f";
const HEALTHY = ["a-local-files", "e-secrets"];
const FAILING = ["b-task-db", "c-rabbitmq", "d-remote-files"];
/** Rows in the dumped table: enough that pg_dump's COPY runs for seconds, not milliseconds. */
const ROWS = 1_000_000;

let work: string;
let configDir: string;
let repoDir: string;
let identityFile: string;
let source: StartedPostgresContainer;
let env: Record<string, string>;

/** A port on 127.0.0.1 that nothing listens on (bound once by us, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

const repository = () => new Repository(new LocalBackend({ path: repoDir }));

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "backdrill-services-down-"));
  configDir = path.join(work, "config");
  repoDir = path.join(work, "repo");
  for (const sub of ["policies", "jobs"]) await mkdir(path.join(configDir, sub), { recursive: true });

  const [started, keys, escrow, tree, vault, mqPort, sshPort] = await Promise.all([
    new PostgresContainer().withDatabase("task").withPassword(PG_PASSWORD).start(),
    generateIdentity(),
    generateIdentity(),
    makeFileTree(path.join(work, "files"), { smallFiles: 200 }),
    generateVault(path.join(work, "vault", "prod")),
    closedPort(),
    closedPort(),
  ]);
  source = started;
  await sealSecret(vault, "DATABASE_PASSWORD", "sd-vault-value-4e1a");
  identityFile = path.join(work, "identity.txt");
  await writeFile(identityFile, `${keys.identity}\n`, { mode: 0o600 });
  const sshKey = path.join(work, "id_ed25519");
  await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", sshKey]);
  const knownHosts = path.join(work, "known_hosts");
  await writeFile(knownHosts, "", { mode: 0o600 });

  // md5 text compresses only about 2:1, so pg_dump's COPY + compression takes a few seconds.
  await source.psql(bigTableSql(ROWS));

  const files: Record<string, string> = {
    "policies/p.yaml": `name: p
repository: { type: local, path: ${repoDir} }
encryption: { recipients: [${keys.recipient}] }
retention: { keepLast: 5 }
rpo: 26h
`,
    "jobs/a-local-files.yaml": `name: a-local-files
kind: files
policy: p
source: ${tree.root}
destination: ${path.join(work, "files-snapshots")}
`,
    "jobs/b-task-db.yaml": `name: b-task-db
kind: postgres-dump
policy: p
connection: { host: 127.0.0.1, port: ${source.port}, user: test, passwordEnv: SD_PG_PASSWORD, sslmode: disable }
databases: [task]
format: custom
globals: true
tools: { image: ${postgresImage()} }
`,
    "jobs/c-rabbitmq.yaml": `name: c-rabbitmq
kind: rabbitmq
policy: p
url: http://127.0.0.1:${mqPort}
user: backup
passwordEnv: SD_MQ_PASSWORD
`,
    "jobs/d-remote-files.yaml": `name: d-remote-files
kind: files
policy: p
source: ${tree.root}
destination: backup@127.0.0.1:/home/backup/task-files
sshKeyFile: ${sshKey}
knownHostsFile: ${knownHosts}
sshPort: ${sshPort}
`,
    "jobs/e-secrets.yaml": `name: e-secrets
kind: symfony-secrets
policy: p
vault: ${vault.dir}
decryptionKeyEnv: SD_SYMFONY_SECRET
escrowRecipients: [${escrow.recipient}]
`,
  };
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(configDir, name), text);
  env = {
    SD_PG_PASSWORD: PG_PASSWORD,
    SD_MQ_PASSWORD: MQ_PASSWORD,
    SD_SYMFONY_SECRET: vault.decryptionSecret,
  };
}, 300_000);

afterAll(async () => {
  // The container was SIGKILLed by the test: remove it (and its volume) by id.
  if (source !== undefined) await execa("docker", ["rm", "-f", "-v", source.getId()], { reject: false });
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

/** Resolves once pg_dump's COPY of `big` shows in pg_stat_activity (the dump is underway). */
async function dumpUnderway(deadline: number): Promise<void> {
  const client = new pg.Client({ connectionString: source.connectionUri });
  client.on("error", () => undefined);
  await client.connect();
  try {
    while (Date.now() < deadline) {
      const { rows } = await client.query<{ n: string }>(
        "select count(*) as n from pg_stat_activity where application_name = 'backdrill' and query ilike 'COPY public.big%'",
      );
      if (Number(rows[0]?.n ?? 0) > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("pg_dump's COPY of the big table never showed in pg_stat_activity");
  } finally {
    await client.end().catch(() => undefined);
  }
}

function assertCleanError(text: string): void {
  expect(text).not.toMatch(/\n\s+at /);
  for (const secret of [PG_PASSWORD, MQ_PASSWORD, env.SD_SYMFONY_SECRET ?? ""]) {
    expect(text).not.toContain(secret);
  }
}

describe("backup --all with services down", () => {
  let first: CliResult;
  let firstMs: number;

  // The test timeout is the "no hang" bound: a killed server must not leave pg_dump waiting.
  it(
    "fails only the jobs whose service died, each on one line; the others commit",
    { timeout: 240_000 },
    async () => {
      const started = Date.now();
      const run = runCli(["backup", "--all", "--config-dir", configDir], env);
      // SIGKILL the server mid-dump: no clean shutdown, connections just vanish.
      const killed = dumpUnderway(Date.now() + 200_000).then(async () => {
        // Let the COPY stream for a moment so the artifact is half-written when the server dies.
        await new Promise((resolve) => setTimeout(resolve, 500));
        await execa("docker", ["kill", source.getId()]);
      });
      const [result] = await Promise.all([run, killed]);
      first = result;
      firstMs = Date.now() - started;
      console.log(`backup --all with services down: ${firstMs} ms\n${first.stdout}`);

      expect(first.code).toBe(1);
      assertCleanError(first.stdout + first.stderr);
      const lines = first.stdout.trim().split("\n");
      expect(lines).toHaveLength(5);
      for (const job of HEALTHY) {
        expect(lines.filter((line) => line.startsWith(`ok      ${job}  snapshot `))).toHaveLength(1);
      }
      const failed = (job: string) => {
        const line = lines.find((l) => l.startsWith(`FAILED  ${job}  `));
        expect(line, `a FAILED line for ${job}`).toBeDefined();
        return line ?? "";
      };
      expect(failed("b-task-db")).toMatch(
        /job b-task-db, database task: .*(server closed the connection|connection|terminat)/i,
      );
      expect(failed("c-rabbitmq")).toMatch(/c-rabbitmq.*127\.0\.0\.1.*(refused|ECONNREFUSED)/i);
      // Refused is a reachability problem: the hint must say so, not send the operator to keys.
      expect(failed("d-remote-files")).toMatch(
        /ssh backup@127\.0\.0\.1 .*Connection refused.*hint: is sshd running on 127\.0\.0\.1 port \d+/,
      );
      expect(failed("c-rabbitmq")).toMatch(/hint: is the management plugin enabled/);
    },
  );

  it("committed and verifiable snapshots for the healthy jobs only; prune removes the failed jobs' leftovers", async () => {
    const repo = repository();
    try {
      for (const job of HEALTHY) expect(await repo.snapshots(job), job).toHaveLength(1);
      for (const job of FAILING) expect(await repo.snapshots(job), job).toEqual([]);
      const verify = await verifyReadData(configDir, identityFile);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      expect(verify.stdout).toMatch(/no damage found/);

      // The runner removes a failed job's partial artifacts itself; whatever it could not
      // remove is a leftover, and prune must leave none behind.
      const before = await repo.leftovers();
      console.log(`leftovers before prune: ${JSON.stringify(before.map((l) => `${l.job}/${l.id}`))}`);
      for (const leftover of before) expect(FAILING).toContain(leftover.job);
      // prune still cannot reach d-remote-files' destination (sshd is down): that job alone
      // fails, naming the refused connection; every other job is pruned.
      const pruned = await runCli(["prune", "--config-dir", configDir]);
      expect(pruned.code, pruned.stdout + pruned.stderr).toBe(1);
      const prunedFailures = pruned.stdout.split("\n").filter((line) => line.includes("FAILED"));
      expect(prunedFailures).toHaveLength(1);
      expect(prunedFailures[0]).toMatch(/ssh backup@127\.0\.0\.1 .*Connection refused/);
      expect(await repo.leftovers()).toEqual([]);
      for (const job of HEALTHY) expect(await repo.snapshots(job), job).toHaveLength(1);
    } finally {
      await repo.backend.close();
    }
  });

  it("--json lists every job with ok, snapshot and a one-line error", async () => {
    // The database is gone for good now: connection refused, which must fail just as cleanly.
    const result = await runCli(["backup", "--all", "--json", "--config-dir", configDir], env);
    expect(result.code).toBe(1);
    assertCleanError(result.stdout + result.stderr);
    const entries = JSON.parse(result.stdout) as Array<{
      job: string;
      ok: boolean;
      snapshot: string | null;
      error?: string;
    }>;
    expect(entries.map((e) => e.job)).toEqual([...HEALTHY, ...FAILING].sort());
    for (const entry of entries) {
      if (HEALTHY.includes(entry.job)) {
        expect(entry).toMatchObject({ ok: true, snapshot: expect.stringMatching(/^\d{8}T\d{6}Z-/) });
        expect(entry.error).toBeUndefined();
      } else {
        expect(entry).toMatchObject({ ok: false, snapshot: null });
        expect(entry.error ?? "").not.toBe("");
        expect(entry.error).not.toContain("\n");
      }
    }
    expect(entries.find((e) => e.job === "b-task-db")?.error).toMatch(/b-task-db.*refused/);
    console.log(
      `first run ${firstMs} ms; --json run: ${JSON.stringify(entries.map((e) => [e.job, e.ok, e.error ?? e.snapshot]))}`,
    );
  });
});
