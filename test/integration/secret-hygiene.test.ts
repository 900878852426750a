/**
 * Secret hygiene (issue 9): every command, on success and on failure, run as a real process
 * (the CLI bundled from src/ and started with node, a fresh redaction registry each time, as in
 * production)
 * against the demo's TasK-like stack, with known distinctive secret values: the database
 * password, the S3 secret keys (application bucket and repository), the age identities (policy
 * and escrow), the Symfony decryption key, a value sealed in the vault, the RabbitMQ password,
 * passwords inside DSNs and URLs given on the command line or in an env var, and a webhook ping
 * key. None may appear, raw, URL-encoded or base64-encoded, in any stdout or stderr (logs at
 * debug level), webhook body, or file under the run's directory: repository manifests and
 * artifacts, drill reports (.json, .md, .junit.xml), the metrics textfile, the config.
 *
 * Excluded from the file scan, on purpose: keys/ (the identities themselves) and stack/ (the
 * sources being backed up: the vault holds its own key, as Symfony keeps it).
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { ENV, JOB_NAMES } from "../../scripts/demo/config.js";
import { writeAndArchiveWal } from "../../scripts/demo/stack.js";
import { withDemoWorld, type DemoWorld, type WorldOutcome } from "../../scripts/demo/world.js";
import { bundledCliForFile } from "../support/bundle-cli.js";
import { s3TestClient } from "../support/containers/s3.js";
import { REPO_ROOT } from "../support/test-env.js";

const SECRETS = {
  // Characters that URL-encode (+ / !) so the encoded forms differ from the raw ones.
  dbPassword: "pgHyg!ene+7f3a/9c",
  rabbitmqPassword: "mqHyg13ne-Pw+51d0e8",
  s3AccessKeyId: "AKIAHYGIENE7F3A9C",
  s3SecretKey: "s3HygSecret/Key+0a1b2c3d4e5f6071",
  vaultValue: "vaultPlain-Hyg-3e9f1d",
};
/** Secrets of the other configurations and command lines. */
const REPO_S3_SECRET = "repoS3Hyg/Secret+9d8c7b6a";
const DSN_PASSWORD = "dsnHyg!Pw-8c2e71";
const URL_ENV_PASSWORD = "urlEnvHyg!Pw-1a3c5e";
const MQ_URL_PASSWORD = "mqUrlHyg+Pw-2b4d6f";
const WEBHOOK_KEY = "hcKeyHyg-5a7c9e1f";
const WRONG = { db: "wrongPgHyg!Pw-4d1c", mq: "wrongMqHyg+Pw-6e2a", s3: "wrongS3Hyg/Secret+5f3b" };
const RESTORED_BUCKET = "task-files-restored";
/** Nothing listens here: "unreachable server". */
const CLOSED = "127.0.0.1:1";

// Bundled once: tsx would transpile on each of the ~33 process starts (~1.8 s vs ~0.7 s each).
const cliBin = bundledCliForFile();

interface Run {
  name: string;
  args: string[];
  code: number;
  expected: readonly number[];
  stdout: string;
  stderr: string;
}

interface Secret {
  label: string;
  text: string;
}

interface Finding {
  secret: string;
  where: string;
}

interface HygieneResult {
  runs: Run[];
  findings: Finding[];
  scannedFiles: string[];
  secretForms: number;
  webhookBodies: number;
}

let outcome: WorldOutcome<HygieneResult>;
let result: HygieneResult;

function b64(text: string | Buffer): string {
  return Buffer.from(text).toString("base64");
}

/** A secret in the forms it travels in: raw, URL-encoded (DSNs), base64 and base64url (headers, JSON). */
function forms(label: string, value: string): Secret[] {
  const out = new Map<string, string>([[value, label]]);
  out.set(encodeURIComponent(value), `${label} (URL-encoded)`);
  out.set(b64(value), `${label} (base64)`);
  out.set(Buffer.from(value).toString("base64url"), `${label} (base64url)`);
  return [...out].map(([text, name]) => ({ label: name, text }));
}

async function identityIn(file: string): Promise<string> {
  const line = (await readFile(file, "utf8")).split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"));
  if (line === undefined) throw new Error(`no identity in ${file}`);
  return line.trim();
}

async function knownSecrets(world: DemoWorld): Promise<Secret[]> {
  const vault = world.stack.vault;
  if (vault === undefined) throw new Error("the hygiene test needs the symfony-secrets engine");
  const keypair = Buffer.from(vault.decryptionSecret, "base64");
  const policyIdentity = await identityIn(world.keys.identityFile);
  const escrowIdentity = await identityIn(world.keys.escrowIdentityFile);
  return [
    ...forms("database password", SECRETS.dbPassword),
    ...forms("RabbitMQ password", SECRETS.rabbitmqPassword),
    { label: "RabbitMQ basic auth", text: b64(`backup:${SECRETS.rabbitmqPassword}`) },
    ...forms("S3 secret key (bucket)", SECRETS.s3SecretKey),
    ...forms("S3 secret key (repository)", REPO_S3_SECRET),
    ...forms("Symfony vault value", SECRETS.vaultValue),
    ...forms("DSN password (restore --to)", DSN_PASSWORD),
    ...forms("DSN password (urlEnv)", URL_ENV_PASSWORD),
    ...forms("RabbitMQ URL password (restore --to)", MQ_URL_PASSWORD),
    { label: "RabbitMQ URL basic auth", text: b64(`backup:${MQ_URL_PASSWORD}`) },
    ...forms("webhook ping key", WEBHOOK_KEY),
    ...forms("wrong database password", WRONG.db),
    ...forms("wrong RabbitMQ password", WRONG.mq),
    ...forms("wrong S3 secret key", WRONG.s3),
    ...forms("policy age identity", policyIdentity),
    { label: "policy age identity (lower case)", text: policyIdentity.toLowerCase() },
    ...forms("escrow age identity", escrowIdentity),
    { label: "escrow age identity (lower case)", text: escrowIdentity.toLowerCase() },
    ...forms("Symfony decryption key", vault.decryptionSecret),
    { label: "Symfony decryption key (base64url)", text: keypair.toString("base64url") },
    { label: "Symfony decryption key (hex)", text: keypair.toString("hex") },
    { label: "Symfony secret key (hex)", text: keypair.subarray(0, 32).toString("hex") },
    { label: "Symfony secret key (base64)", text: b64(keypair.subarray(0, 32)) },
  ];
}

/** Every file under `dir`, skipping the named top-level entries. */
async function filesUnder(dir: string, skip: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const top = path.relative(dir, file).split(path.sep)[0] ?? "";
    if (!skip.includes(top)) out.push(file);
  }
  return out.sort();
}

/** A healthchecks-style receiver on loopback; keeps every ping body (what backdrill sends out). */
async function startWebhook(bodies: string[]): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    request.on("end", () => {
      bodies.push(body);
      response.writeHead(200).end("OK");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/ping/${WEBHOOK_KEY}/backdrill-{name}` };
}

/** The demo's config, rewritten: each job passed through `edit`, the policy replaced. */
async function variantConfig(
  world: DemoWorld,
  name: string,
  options: {
    policy: Record<string, unknown>;
    jobs?: readonly string[];
    edit?: (job: Record<string, unknown>) => void;
  },
): Promise<string> {
  const dir = path.join(world.root, name);
  for (const sub of ["policies", "jobs"]) await mkdir(path.join(dir, sub), { recursive: true });
  await writeFile(path.join(dir, "policies", "nightly.yaml"), YAML.stringify(options.policy));
  for (const file of await readdir(path.join(world.config.configDir, "jobs"))) {
    const job = YAML.parse(await readFile(path.join(world.config.configDir, "jobs", file), "utf8")) as Record<
      string,
      unknown
    >;
    if (options.jobs !== undefined && !options.jobs.includes(String(job.name))) continue;
    options.edit?.(job);
    await writeFile(path.join(dir, "jobs", file), YAML.stringify(job));
  }
  return dir;
}

async function hygiene(world: DemoWorld): Promise<HygieneResult> {
  const runs: Run[] = [];
  const bodies: string[] = [];
  const webhook = await startWebhook(bodies);
  const logs = path.join(world.root, "logs");
  await mkdir(logs, { recursive: true });
  const stack = world.stack;
  const pg = stack.postgres;
  const mq = stack.rabbitmq;
  const s3 = stack.s3;
  if (pg === undefined || mq === undefined || s3 === undefined) {
    throw new Error("the hygiene test needs the postgres-dump, rabbitmq and s3-bucket engines");
  }
  const baseEnv = {
    ...world.config.env,
    BACKDRILL_WEBHOOK_URL: webhook.url,
    BACKUP_S3_ACCESS_KEY: "AKIAREPOHYGIENE",
    BACKUP_S3_SECRET_KEY: REPO_S3_SECRET,
  };

  const backdrill = async (
    name: string,
    args: string[],
    expected: readonly number[],
    options: { configDir?: string; env?: Record<string, string> } = {},
  ): Promise<Run> => {
    const argv = [
      ...args,
      "--config-dir",
      options.configDir ?? world.config.configDir,
      "--log-level",
      "debug",
    ];
    const child = await execa(process.execPath, [cliBin(), ...argv], {
      cwd: REPO_ROOT,
      env: { ...baseEnv, ...options.env },
      reject: false,
      timeout: 10 * 60_000,
    });
    const run: Run = {
      name,
      args: argv,
      code: child.exitCode ?? -1,
      expected,
      stdout: child.stdout,
      stderr: child.stderr,
    };
    // Kept as log files too: what an operator's cron mail or journal would hold.
    await writeFile(
      path.join(logs, `${String(runs.length).padStart(2, "0")}-${name}.log`),
      `${run.stdout}\n${run.stderr}`,
    );
    runs.push(run);
    return run;
  };

  const client = s3TestClient(s3);
  try {
    await client.send(new CreateBucketCommand({ Bucket: RESTORED_BUCKET }));
    await client.send(new CreateBucketCommand({ Bucket: "task-backups", ObjectLockEnabledForBucket: true }));
  } finally {
    client.destroy();
  }

  try {
    const id = world.keys.identityFile;
    const escrow = world.keys.escrowIdentityFile;
    // No database in the URL: each backed-up database is restored into its namesake.
    const pgTarget = (password: string, host = `${pg.host}:${pg.port}`) =>
      `postgres://${pg.user}:${encodeURIComponent(password)}@${host}`;
    // The postgres-base drill reads the WAL archive with $BACKDRILL_IDENTITY_FILE (the drill's
    // identityFile is not passed to it yet); a drill host sets it anyway.
    const drillEnv = { BACKDRILL_IDENTITY_FILE: id };

    // Happy paths on the demo config (local repository).
    await backdrill("validate", ["validate"], [0]);
    await backdrill("backup", ["backup", "--all"], [0]);
    await backdrill("backup-json", ["backup", "--all", "--json"], [0]);
    const walJob = world.included.find((item) => item.kind === "postgres-base")?.job;
    const spool = pg.walSpool;
    if (walJob !== undefined && spool !== undefined) {
      await writeAndArchiveWal(stack);
      const segment = (await readdir(spool)).find((name) => /^[0-9A-F]{24}$/.test(name));
      await backdrill("wal-ship", ["wal", "ship", walJob, spool, "--once"], [0]);
      if (segment !== undefined) {
        await mkdir(path.join(world.root, "restore-wal"));
        await backdrill(
          "wal-fetch",
          ["wal", "fetch", walJob, segment, path.join(world.root, "restore-wal", segment), "--identity", id],
          [0],
        );
      }
      await backdrill(
        "wal-fetch-wrong-identity",
        [
          "wal",
          "fetch",
          walJob,
          segment ?? "000000010000000000000001",
          path.join(world.root, "restore-wal", "wrong"),
          "--identity",
          escrow,
        ],
        [126],
      );
    }
    await backdrill("snapshots", ["snapshots"], [0]);
    await backdrill("snapshots-json", ["snapshots", "--json"], [0]);
    await backdrill("verify-read-data", ["verify", "--read-data", "--identity", id], [0]);
    await backdrill("drill", ["drill", "monthly"], [0], { env: drillEnv });
    await backdrill(
      "drill-json",
      ["drill", "monthly", "--json", "--job", JOB_NAMES["symfony-secrets"]],
      [0],
      { env: drillEnv },
    );
    await backdrill(
      "restore-db-dry-run",
      [
        "restore",
        JOB_NAMES["postgres-dump"],
        "--to",
        pgTarget(SECRETS.dbPassword),
        "--identity",
        id,
        "--dry-run",
      ],
      [0],
    );
    await backdrill(
      "restore-files-dry-run",
      [
        "restore",
        JOB_NAMES.files,
        "--to",
        path.join(world.root, "restore-files"),
        "--identity",
        id,
        "--dry-run",
      ],
      [0],
    );
    await backdrill(
      "restore-bucket-dry-run",
      ["restore", JOB_NAMES["s3-bucket"], "--to", `s3://${RESTORED_BUCKET}`, "--identity", id, "--dry-run"],
      [0],
    );
    await backdrill(
      "restore-rabbitmq-dry-run",
      [
        "restore",
        JOB_NAMES.rabbitmq,
        "--to",
        mq.url.replace("://", `://backup:${encodeURIComponent(SECRETS.rabbitmqPassword)}@`),
        "--identity",
        id,
        "--dry-run",
      ],
      [0],
    );
    await backdrill(
      "restore-secrets-dry-run",
      [
        "restore",
        JOB_NAMES["symfony-secrets"],
        "--to",
        path.join(world.root, "restore-secrets"),
        "--identity",
        id,
        "--escrow-identity",
        escrow,
        "--dry-run",
      ],
      [0],
    );
    await backdrill("status-json", ["status", "--json"], [0]);
    await backdrill("status", ["status"], [0]);
    await backdrill("prune-dry-run", ["prune", "--dry-run"], [0]);
    await backdrill(
      "keys-generate",
      ["keys", "generate", "--out", path.join(world.keysDir, "new-1.txt")],
      [0],
    );
    await backdrill(
      "keys-generate-json",
      ["keys", "generate", "--json", "--out", path.join(world.keysDir, "new-2.txt")],
      [0],
    );

    // Failures: wrong secrets, a wrong identity, restore targets that refuse or do not answer.
    await backdrill("backup-wrong-secrets", ["backup", "--all"], [1], {
      env: {
        [ENV.dbPassword]: WRONG.db,
        [ENV.rabbitmqPassword]: WRONG.mq,
        [ENV.s3SecretKey]: WRONG.s3,
        // A well-formed key that does not open the vault.
        [ENV.symfonyKey]: b64(createHash("sha512").update("not the vault key").digest()),
      },
    });
    await backdrill("verify-wrong-identity", ["verify", "--read-data", "--identity", escrow], [1]);
    await backdrill(
      "restore-db-wrong-dsn-password",
      ["restore", JOB_NAMES["postgres-dump"], "--to", pgTarget(DSN_PASSWORD), "--identity", id, "--force"],
      [1],
    );
    await backdrill(
      "restore-db-unreachable",
      [
        "restore",
        JOB_NAMES["postgres-dump"],
        "--to",
        pgTarget(DSN_PASSWORD, CLOSED),
        "--identity",
        id,
        "--force",
      ],
      [1],
    );
    await backdrill(
      "restore-rabbitmq-unreachable",
      [
        "restore",
        JOB_NAMES.rabbitmq,
        "--to",
        `http://backup:${encodeURIComponent(MQ_URL_PASSWORD)}@${CLOSED}`,
        "--identity",
        id,
      ],
      [1],
    );

    // Unreachable servers: every source on a closed port; the database through urlEnv (a DSN
    // with a password in an env var).
    const downSources = await variantConfig(world, "config-down-sources", {
      policy: {
        name: "nightly",
        repository: { type: "local", path: path.join(world.root, "repository-down") },
        encryption: { recipients: [world.keys.recipient] },
        retention: { keepLast: 3 },
        rpo: "26h",
      },
      edit: (job) => {
        if (job.kind === "postgres-dump" || job.kind === "postgres-base") {
          job.connection = { urlEnv: "TASK_DB_URL", sslmode: "disable" };
        }
        if (job.kind === "rabbitmq") job.url = `http://${CLOSED}`;
        if (job.kind === "s3-bucket") job.endpoint = `http://${CLOSED}`;
      },
    });
    await backdrill("backup-unreachable-sources", ["backup", "--all"], [1], {
      configDir: downSources,
      env: { TASK_DB_URL: `postgres://backup:${encodeURIComponent(URL_ENV_PASSWORD)}@${CLOSED}/task` },
    });

    // An S3 repository (Object Lock, versioning) on the stack's S3 server, then an unreachable one.
    const s3Policy = (endpoint: string) => ({
      name: "nightly",
      repository: {
        type: "s3",
        bucket: "task-backups",
        prefix: "hygiene",
        endpoint,
        region: s3.region,
        forcePathStyle: true,
        accessKeyIdEnv: "BACKUP_S3_ACCESS_KEY",
        secretAccessKeyEnv: "BACKUP_S3_SECRET_KEY",
        objectLock: { mode: "GOVERNANCE", days: 1 },
      },
      encryption: { recipients: [world.keys.recipient] },
      retention: { keepLast: 3 },
      rpo: "26h",
      metricsFile: path.join(world.root, "metrics-s3", "backdrill.prom"),
    });
    const jobs = [JOB_NAMES.rabbitmq, JOB_NAMES["symfony-secrets"]];
    const s3Repo = await variantConfig(world, "config-s3-repository", {
      policy: s3Policy(s3.endpoint),
      jobs,
    });
    await backdrill("s3-repository-backup", ["backup", "--all"], [0], { configDir: s3Repo });
    await backdrill("s3-repository-snapshots-json", ["snapshots", "--json"], [0], { configDir: s3Repo });
    await backdrill("s3-repository-verify-read-data", ["verify", "--read-data", "--identity", id], [0], {
      configDir: s3Repo,
    });
    await backdrill("s3-repository-prune-dry-run", ["prune", "--dry-run"], [0], { configDir: s3Repo });
    await backdrill("s3-repository-status-json", ["status", "--json"], [0], { configDir: s3Repo });
    const downRepo = await variantConfig(world, "config-down-repository", {
      policy: s3Policy(`http://${CLOSED}`),
      jobs,
    });
    await backdrill("s3-repository-unreachable", ["backup", JOB_NAMES["symfony-secrets"]], [1], {
      configDir: downRepo,
    });
  } finally {
    await new Promise<void>((resolve) => webhook.server.close(() => resolve()));
  }

  // The scan: every command's output, every webhook body, every file written under the run's dir.
  const secrets = await knownSecrets(world);
  const findings: Finding[] = [];
  const scan = (where: string, content: Buffer): void => {
    for (const secret of secrets) {
      if (content.includes(Buffer.from(secret.text))) findings.push({ secret: secret.label, where });
    }
  };
  for (const run of runs) {
    scan(`${run.name}: stdout`, Buffer.from(run.stdout));
    scan(`${run.name}: stderr`, Buffer.from(run.stderr));
  }
  bodies.forEach((body, index) => scan(`webhook body ${index}`, Buffer.from(body)));
  const scannedFiles = await filesUnder(world.root, ["keys", "stack"]);
  for (const file of scannedFiles) scan(path.relative(world.root, file), await readFile(file));
  return {
    runs,
    findings,
    scannedFiles: scannedFiles.map((file) => path.relative(world.root, file)),
    secretForms: secrets.length,
    webhookBodies: bodies.length,
  };
}

beforeAll(async () => {
  outcome = await withDemoWorld(
    { secrets: SECRETS, progress: () => undefined, handleSignals: false, smallFiles: 100 },
    hygiene,
  );
  if (outcome.value === undefined)
    throw outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error));
  result = outcome.value;
}, 30 * 60_000);

describe("secret hygiene", () => {
  it("ran every command with the expected exit code (so the failure paths really failed)", () => {
    const unexpected = result.runs
      .filter((run) => !run.expected.includes(run.code))
      .map(
        (run) =>
          `${run.name}: exit ${run.code}, expected ${run.expected.join(" or ")}\n${run.stderr.slice(-2000)}`,
      );
    expect(unexpected).toEqual([]);
    // The failing variants failed for the reason we meant, not for a typo in the test.
    const byName = new Map(result.runs.map((run) => [run.name, run]));
    expect(byName.get("backup-wrong-secrets")?.stdout).toMatch(/FAILED\s+task-db/);
    expect(byName.get("backup-wrong-secrets")?.stdout).toMatch(/FAILED\s+task-rabbitmq/);
    for (const job of ["task-db", "task-rabbitmq", "task-bucket"]) {
      expect(byName.get("backup-unreachable-sources")?.stdout).toMatch(new RegExp(`FAILED\\s+${job}\\s`));
    }
    if (byName.has("wal-ship")) {
      expect(byName.get("backup-unreachable-sources")?.stdout).toMatch(/FAILED\s+task-wal\s/);
      expect(byName.get("backup-wrong-secrets")?.stdout).toMatch(/FAILED\s+task-wal\s/);
    }
    expect(byName.get("backup-wrong-secrets")?.stdout).toMatch(/FAILED\s+task-secrets\s/);
  });

  it("wrote no secret to stdout or stderr of any command (logs at debug level)", () => {
    expect(result.findings.filter((f) => /: std(out|err)$/.test(f.where))).toEqual([]);
  });

  it("sent no secret in a webhook body", () => {
    expect(result.webhookBodies).toBeGreaterThan(0);
    expect(result.findings.filter((f) => f.where.startsWith("webhook"))).toEqual([]);
  });

  it("wrote no secret into any file: manifests, artifacts, reports, metrics, logs, config", () => {
    const kinds = (pattern: RegExp) => result.scannedFiles.filter((file) => pattern.test(file)).length;
    // The scan really covered each kind of file.
    expect(kinds(/^repository\/snapshots\/.+\.json$/)).toBeGreaterThan(0);
    expect(kinds(/^repository\/data\/.+\.age$/)).toBeGreaterThan(0);
    expect(kinds(/^reports\/.+\.json$/)).toBeGreaterThan(0);
    expect(kinds(/^reports\/.+\.md$/)).toBeGreaterThan(0);
    expect(kinds(/^reports\/.+\.junit\.xml$/)).toBeGreaterThan(0);
    expect(kinds(/^metrics\/.+\.prom$/)).toBeGreaterThan(0);
    expect(kinds(/^metrics-s3\/.+\.prom$/)).toBeGreaterThan(0);
    expect(kinds(/^logs\//)).toBe(result.runs.length);
    expect(
      result.findings.filter((f) => !/: std(out|err)$/.test(f.where) && !f.where.startsWith("webhook")),
    ).toEqual([]);
  });

  it("released the stack", () => {
    expect(outcome.cleanupFailures).toEqual([]);
    expect(outcome.sweptContainers).toBe(0);
  });
});
