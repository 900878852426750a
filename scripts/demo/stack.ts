/**
 * A throwaway TasK-like stack for the demo and the secret-hygiene test: PostgreSQL 17 + pgvector
 * seeded like TasK, RabbitMQ with definitions, an S3 server with the application bucket, a files
 * directory and a Symfony vault. Only the services some selected job kind needs are started.
 *
 * Every container carries the label `backdrill.demo.run=<runId>` (plus the test bed's labels), so
 * a cleanup that lost track of a handle, or a second Ctrl-C, can still find and remove it.
 */
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { chmod, mkdir } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import type { JobKind } from "../../src/kinds/registry.js";
import { PostgresContainer } from "../../test/support/containers/postgres.js";
import { RabbitMQContainer, type StartedRabbitMQContainer } from "../../test/support/containers/rabbitmq.js";
import { S3Container, type StartedS3Container } from "../../test/support/containers/s3.js";
import { makeFileTree } from "../../test/support/file-tree.js";
import { seedTaskDb } from "../../test/support/seed-task-db.js";
import { generateVault, sealSecret } from "../../test/support/symfony-vault.js";
import type { Cleanup } from "./cleanup.js";

/** Label on every stack container; its value is the demo run's id. */
export const DEMO_RUN_LABEL = "backdrill.demo.run";

/** Credentials the stack is started with; the secret-hygiene test picks distinctive ones. */
export interface StackSecrets {
  dbPassword: string;
  rabbitmqPassword: string;
  s3AccessKeyId: string;
  s3SecretKey: string;
  /** A value sealed into the Symfony vault (must never leave it in plaintext). */
  vaultValue: string;
}

export interface TaskStack {
  postgres?: {
    host: string;
    port: number;
    user: string;
    password: string;
    database: string;
    uri: string;
    /** postgres-base: the directory archive_command copies finished WAL segments into. */
    walSpool?: string;
  };
  rabbitmq?: { url: string; user: string; password: string; definitions: number };
  s3?: {
    endpoint: string;
    region: string;
    bucket: string;
    accessKeyId: string;
    secretKey: string;
    objects: number;
  };
  files?: { source: string; destination: string; files: number; bytes: number };
  vault?: { dir: string; decryptionSecret: string; secrets: string[] };
}

export interface StackOptions {
  runId: string;
  /** Directory for the files tree, its snapshot destination and the vault. */
  workDir: string;
  kinds: ReadonlySet<JobKind>;
  secrets: StackSecrets;
  cleanup: Cleanup;
  progress: (line: string) => void;
  signal: AbortSignal;
  /** Number of small files in the files tree. */
  smallFiles?: number;
}

export const DB_USER = "backup";
export const DB_NAME = "task";
export const RABBITMQ_USER = "backup";
export const S3_BUCKET = "task-files";
export const S3_REGION = "us-east-1";
export const VAULT_SECRETS = ["APP_SECRET", "DATABASE_URL", "MAILER_DSN", "S3_SECRET"] as const;
// The README's durable spool command: the copy and its name are fsynced before PostgreSQL hears "archived".
const ARCHIVE_COMMAND =
  "test ! -f /spool/%f && cp %p /spool/.%f.tmp && sync /spool/.%f.tmp && mv /spool/.%f.tmp /spool/%f && sync /spool";

/** Starts what the kinds need, in parallel; every started container is registered with cleanup. */
export async function startStack(options: StackOptions): Promise<TaskStack> {
  const { kinds, cleanup, progress } = options;
  const labels = { [DEMO_RUN_LABEL]: options.runId };
  const stack: TaskStack = {};
  const tasks: Array<Promise<void>> = [];

  if (kinds.has("postgres-dump") || kinds.has("postgres-base")) {
    tasks.push(
      (async () => {
        const builder = new PostgresContainer()
          .withDatabase(DB_NAME)
          .withUsername(DB_USER)
          .withPassword(options.secrets.dbPassword);
        builder.container.withLabels(labels);
        let walSpool: string | undefined;
        if (kinds.has("postgres-base")) {
          // TasK's WAL archiving as the postgres-base engine expects it: archive_command only
          // copies each finished segment into a spool directory (a rename makes it appear whole),
          // and `backdrill wal ship` encrypts and stores it. The spool is bind-mounted, and
          // world-writable because the server runs as the image's postgres user, not as us.
          walSpool = path.join(options.workDir, "wal-spool");
          await mkdir(walSpool, { recursive: true });
          await chmod(walSpool, 0o777);
          builder.withServerArgs(
            "-c",
            "wal_level=replica",
            "-c",
            "archive_mode=on",
            "-c",
            `archive_command=${ARCHIVE_COMMAND}`,
          );
          builder.container.withBindMounts([{ source: walSpool, target: "/spool", mode: "rw" }]);
        }
        const started = await track(cleanup, "PostgreSQL", builder.start());
        options.signal.throwIfAborted();
        await seedTaskDb(started.connectionUri);
        // The application's role logs in with the password its vault holds (DATABASE_URL), as in
        // production: the stack drill's smoke test proves the restored vault and database agree.
        await setRolePassword(started.connectionUri, "task_app", options.secrets.vaultValue);
        stack.postgres = {
          host: started.host,
          port: started.port,
          user: DB_USER,
          password: options.secrets.dbPassword,
          database: DB_NAME,
          uri: started.connectionUri,
          ...(walSpool === undefined ? {} : { walSpool }),
        };
        progress(
          `PostgreSQL 17 + pgvector on 127.0.0.1:${started.port}, database ${DB_NAME} seeded like TasK` +
            (walSpool === undefined ? "" : `, WAL archived into ${walSpool}`),
        );
      })(),
    );
  }

  if (kinds.has("rabbitmq")) {
    tasks.push(
      (async () => {
        const builder = new RabbitMQContainer()
          .withCredentials(RABBITMQ_USER, options.secrets.rabbitmqPassword)
          .withLabels(labels);
        const mq = await track(cleanup, "RabbitMQ", builder.start());
        options.signal.throwIfAborted();
        const definitions = await populateRabbitmq(mq);
        stack.rabbitmq = {
          url: mq.managementUrl,
          user: RABBITMQ_USER,
          password: options.secrets.rabbitmqPassword,
          definitions,
        };
        progress(`RabbitMQ 4 on ${mq.managementUrl} with ${definitions} definitions`);
      })(),
    );
  }

  if (kinds.has("s3-bucket")) {
    tasks.push(
      (async () => {
        const builder = new S3Container()
          .withCredentials(options.secrets.s3AccessKeyId, options.secrets.s3SecretKey)
          .withRegion(S3_REGION)
          .withLabels(labels);
        const s3 = await track(cleanup, "S3 server", builder.start());
        options.signal.throwIfAborted();
        const objects = await populateBucket(s3);
        stack.s3 = {
          endpoint: s3.endpoint,
          region: S3_REGION,
          bucket: S3_BUCKET,
          accessKeyId: options.secrets.s3AccessKeyId,
          secretKey: options.secrets.s3SecretKey,
          objects,
        };
        progress(`S3 server on ${s3.endpoint}, bucket ${S3_BUCKET} with ${objects} objects`);
      })(),
    );
  }

  if (kinds.has("files")) {
    tasks.push(
      (async () => {
        const source = path.join(options.workDir, "task-files");
        const destination = path.join(options.workDir, "task-files-snapshots");
        const tree = await makeFileTree(source, {
          smallFiles: options.smallFiles ?? 400,
          largeFiles: [3 * 1024 * 1024],
        });
        await mkdir(destination, { recursive: true, mode: 0o700 });
        stack.files = { source, destination, files: tree.files.length, bytes: tree.bytes };
        progress(`files directory ${source}: ${tree.files.length} files`);
      })(),
    );
  }

  if (kinds.has("symfony-secrets")) {
    tasks.push(
      (async () => {
        const vault = await generateVault(
          path.join(options.workDir, "task-app", "config", "secrets", "prod"),
        );
        const values: Record<(typeof VAULT_SECRETS)[number], string> = {
          APP_SECRET: options.secrets.vaultValue,
          DATABASE_URL: `postgresql://task_app:${encodeURIComponent(options.secrets.vaultValue)}@db:5432/${DB_NAME}`,
          MAILER_DSN: "smtp://mailer:2525",
          S3_SECRET: `${options.secrets.vaultValue}-s3`,
        };
        for (const name of VAULT_SECRETS) await sealSecret(vault, name, values[name]);
        stack.vault = {
          dir: vault.dir,
          decryptionSecret: vault.decryptionSecret,
          secrets: [...VAULT_SECRETS],
        };
        progress(`Symfony vault ${vault.dir} with ${VAULT_SECRETS.length} secrets`);
      })(),
    );
  }

  // allSettled, not all: when one service fails the others must still finish starting (and be
  // registered for cleanup) before the error propagates, or a late container would outlive us.
  const settled = await Promise.allSettled(tasks);
  const failed = settled.find((result): result is PromiseRejectedResult => result.status === "rejected");
  if (failed !== undefined) throw failed.reason;
  return stack;
}

/** ALTER ROLE ... PASSWORD (no bind parameters there: the literal is quoted). */
async function setRolePassword(uri: string, role: string, password: string): Promise<void> {
  const client = new pg.Client({ connectionString: uri });
  await client.connect();
  try {
    await client.query(`ALTER ROLE ${role} PASSWORD '${password.replace(/'/g, "''")}'`);
  } finally {
    await client.end();
  }
}

/** Registers a started container with cleanup as soon as it exists, then returns it. */
async function track<T extends { stop(): Promise<unknown> }>(
  cleanup: Cleanup,
  what: string,
  starting: Promise<T>,
): Promise<T> {
  const started = await starting;
  cleanup.defer(`stop ${what} container`, async () => {
    await started.stop();
  });
  return started;
}

/** A small TasK-like broker setup: a vhost, an application user, queues, exchanges, bindings, a policy. */
async function populateRabbitmq(mq: StartedRabbitMQContainer): Promise<number> {
  const calls: Array<[string, string, unknown]> = [
    ["PUT", "/vhosts/task", { description: "TasK application" }],
    ["PUT", `/permissions/task/${RABBITMQ_USER}`, { configure: ".*", write: ".*", read: ".*" }],
    ["PUT", "/users/task_app", { password: "task-app-amqp-pw", tags: "" }],
    ["PUT", "/permissions/task/task_app", { configure: "^task\\.", write: ".*", read: ".*" }],
    ["PUT", "/exchanges/task/task.events", { type: "topic", durable: true }],
    ["PUT", "/exchanges/task/task.dlx", { type: "fanout", durable: true }],
    ["PUT", "/queues/task/task.notifications", { durable: true, arguments: { "x-queue-type": "quorum" } }],
    ["PUT", "/queues/task/task.embeddings", { durable: true, arguments: { "x-queue-type": "quorum" } }],
    [
      "PUT",
      "/queues/task/task.failed",
      { durable: true, arguments: { "x-queue-type": "classic", "x-max-length": 10000 } },
    ],
    ["POST", "/bindings/task/e/task.events/q/task.notifications", { routing_key: "task.*.notify" }],
    ["POST", "/bindings/task/e/task.events/q/task.embeddings", { routing_key: "task.*.embed" }],
    ["POST", "/bindings/task/e/task.dlx/q/task.failed", { routing_key: "" }],
    [
      "PUT",
      "/policies/task/dead-letter",
      {
        pattern: "^task\\.(notifications|embeddings)$",
        definition: { "dead-letter-exchange": "task.dlx" },
        "apply-to": "queues",
      },
    ],
  ];
  for (const [method, pathname, body] of calls) {
    const response = await fetch(`${mq.managementUrl}/api${pathname}`, {
      method,
      headers: { authorization: mq.authorization, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      throw new Error(
        `RabbitMQ setup ${method} ${pathname}: HTTP ${response.status} ${await response.text()}`,
      );
    }
  }
  return calls.length;
}

/** The application bucket: uploads, avatars and exports, a few of them overwritten once. */
async function populateBucket(s3: StartedS3Container): Promise<number> {
  const client = s3.client();
  try {
    await client.send(new CreateBucketCommand({ Bucket: S3_BUCKET }));
    const keys: string[] = [];
    for (let i = 0; i < 60; i += 1) keys.push(`uploads/${String(i).padStart(4, "0")}/attachment-${i}.txt`);
    for (let i = 0; i < 15; i += 1) keys.push(`avatars/user-${i}.png`);
    keys.push("exports/2026-11/tasks.csv", "exports/2026-11/Überweisungen März.pdf");
    for (const [index, key] of keys.entries()) {
      const body = `${key}\n${"TasK demo object ".repeat(1 + (index % 40))}\n`;
      await client.send(new PutObjectCommand({ Bucket: S3_BUCKET, Key: key, Body: body }));
    }
    return keys.length;
  } finally {
    client.destroy();
  }
}

/**
 * Some writes after the base backup, then a WAL switch, waiting until PostgreSQL reports the
 * segment archived into the spool: what the point-in-time drill then has to replay. Returns the
 * number of rows written.
 */
export async function writeAndArchiveWal(stack: TaskStack, timeoutMs = 60_000): Promise<number> {
  const target = stack.postgres;
  if (target === undefined) throw new Error("internal: the stack has no PostgreSQL");
  const client = new pg.Client({ connectionString: target.uri });
  await client.connect();
  try {
    const rows = 250;
    await client.query(
      `INSERT INTO audit.events (created_at, actor, action, payload)
       SELECT now(), 1, 'after-base-backup', jsonb_build_object('n', g) FROM generate_series(1, ${rows}) AS g`,
    );
    const switched = await client.query<{ name: string }>("SELECT pg_walfile_name(pg_switch_wal()) AS name");
    const name = switched.rows[0]?.name ?? "";
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stat = await client.query<{ last: string | null }>(
        "SELECT last_archived_wal AS last FROM pg_stat_archiver",
      );
      const last = stat.rows[0]?.last;
      if (last !== null && last !== undefined && last >= name) return rows;
      if (Date.now() > deadline)
        throw new Error(`WAL segment ${name} was not archived within ${timeoutMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await client.end();
  }
}
