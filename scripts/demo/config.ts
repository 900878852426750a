/**
 * The demo's config directory, in the same shape as the repository's TasK configuration
 * (policies/, jobs/, drills/), pointed at the throwaway stack: one local-repository policy, one job
 * per included kind, a `monthly` drill with one target per job restoring into the locally built
 * test images, and a `stack` drill restoring all of them together into one isolated network where
 * TasK's application (the task-app test image) must boot against them. Secrets stay out of the files: they are named by *Env fields and handed to
 * backdrill through the environment, as on a production host.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import YAML from "yaml";
import type { JobKind } from "../../src/kinds/registry.js";
import { postgresImage, rabbitmqImage, s3Image, sshdImage, taskAppImage } from "../../test/support/images.js";
import { DB_NAME, type TaskStack } from "./stack.js";

export const POLICY = "nightly";
export const DRILL = "monthly";
export const STACK_DRILL = "stack";

/** Each job's service name in the stack drill: the names TasK's application knows them by. */
export const SERVICE_NAMES: Readonly<Record<JobKind, string>> = {
  "postgres-dump": "postgres",
  "postgres-base": "postgres-pitr",
  files: "files",
  "s3-bucket": "s3",
  rabbitmq: "rabbitmq",
  "symfony-secrets": "secrets",
};

/** Job name per kind: the names of the TasK configuration in jobs/. */
export const JOB_NAMES: Readonly<Record<JobKind, string>> = {
  "postgres-dump": "task-db",
  "postgres-base": "task-wal",
  files: "task-files",
  "s3-bucket": "task-bucket",
  rabbitmq: "task-rabbitmq",
  "symfony-secrets": "task-secrets",
};

/** Environment variable names the config refers to (the same as TasK's). */
export const ENV = {
  dbPassword: "TASK_DB_PASSWORD",
  s3AccessKey: "TASK_S3_ACCESS_KEY",
  s3SecretKey: "TASK_S3_SECRET_KEY",
  rabbitmqPassword: "RABBITMQ_BACKUP_PASSWORD",
  symfonyKey: "SYMFONY_DECRYPTION_SECRET",
} as const;

export interface Keys {
  identityFile: string;
  recipient: string;
  escrowIdentityFile: string;
  escrowRecipient: string;
}

export interface DemoConfig {
  configDir: string;
  repositoryDir: string;
  reportDir: string;
  metricsFile: string;
  /** Values for the *Env fields: what an operator puts in /etc/backdrill/backdrill.env. */
  env: Record<string, string>;
  jobs: Array<{ name: string; kind: JobKind }>;
}

export interface ConfigOptions {
  root: string;
  stack: TaskStack;
  kinds: readonly JobKind[];
  keys: Keys;
}

type Yaml = Record<string, unknown>;

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`internal: the stack has no ${what}`);
  return value;
}

function jobConfig(kind: JobKind, stack: TaskStack, keys: Keys): Yaml {
  const base = { name: JOB_NAMES[kind], kind, policy: POLICY };
  switch (kind) {
    case "postgres-dump": {
      const pg = need(stack.postgres, "PostgreSQL");
      return {
        ...base,
        connection: {
          host: pg.host,
          port: pg.port,
          user: pg.user,
          passwordEnv: ENV.dbPassword,
          sslmode: "disable",
        },
        databases: [DB_NAME],
        format: "custom",
        globals: true,
        // PostgreSQL 17 client tools do not run on a bookworm host: run them in the server's image.
        tools: { image: postgresImage() },
        facts: { checksumMaxRows: 100_000 },
      };
    }
    case "postgres-base": {
      const pg = need(stack.postgres, "PostgreSQL");
      return {
        ...base,
        connection: {
          host: pg.host,
          port: pg.port,
          user: pg.user,
          passwordEnv: ENV.dbPassword,
          sslmode: "disable",
        },
        tools: { image: postgresImage() },
      };
    }
    case "files": {
      const files = need(stack.files, "files directory");
      return { ...base, source: files.source, destination: files.destination, exclude: ["*.tmp", "cache/"] };
    }
    case "s3-bucket": {
      const s3 = need(stack.s3, "S3 server");
      return {
        ...base,
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
        accessKeyIdEnv: ENV.s3AccessKey,
        secretAccessKeyEnv: ENV.s3SecretKey,
        lifecycle: { noncurrentVersionExpirationDays: 400, abortIncompleteMultipartUploadDays: 7 },
        copy: false,
        modify: true,
      };
    }
    case "rabbitmq": {
      const mq = need(stack.rabbitmq, "RabbitMQ");
      return { ...base, url: mq.url, user: mq.user, passwordEnv: ENV.rabbitmqPassword };
    }
    case "symfony-secrets": {
      const vault = need(stack.vault, "Symfony vault");
      return {
        ...base,
        vault: vault.dir,
        decryptionKeyEnv: ENV.symfonyKey,
        escrowRecipients: [keys.escrowRecipient],
      };
    }
  }
}

function drillTarget(kind: JobKind, stack: TaskStack, keys: Keys): Yaml {
  const job = JOB_NAMES[kind];
  switch (kind) {
    case "postgres-dump":
      return {
        job,
        image: postgresImage(),
        rto: "10m",
        checks: {
          rowCounts: true,
          checksums: true,
          amcheck: true,
          extensions: ["vector"],
          sql: [
            { name: "users present", database: DB_NAME, query: "select count(*) > 0 from app.users" },
            {
              name: "embeddings searchable",
              database: DB_NAME,
              query:
                "select count(*) = 5 from (select id from app.tasks order by embedding <=> (select embedding from app.tasks where id = 1) limit 5) t",
            },
          ],
        },
      };
    case "postgres-base":
      return {
        job,
        image: postgresImage(),
        pitr: "latest",
        rto: "15m",
        checks: {
          amcheck: true,
          extensions: ["vector"],
          sql: [
            {
              name: "writes after the base backup replayed",
              database: DB_NAME,
              query: "select count(*) > 0 from audit.events where action = 'after-base-backup'",
            },
          ],
        },
      };
    case "files":
      return { job, image: sshdImage(), rto: "5m" };
    case "s3-bucket":
      return { job, image: s3Image(), rto: "5m" };
    case "rabbitmq":
      return { job, image: rabbitmqImage(), rto: "5m" };
    case "symfony-secrets":
      return {
        job,
        rto: "1m",
        escrowIdentityFile: keys.escrowIdentityFile,
        checks: { secrets: need(stack.vault, "Symfony vault").secrets },
      };
  }
}

function header(what: string): string {
  return `# backdrill demo ${what} (generated by scripts/demo.ts; a throwaway stack)\n`;
}

/** Writes policies/, jobs/ and drills/ under `<root>/config`; returns where everything goes. */
export async function writeDemoConfig(options: ConfigOptions): Promise<DemoConfig> {
  const { root, stack, kinds, keys } = options;
  const configDir = path.join(root, "config");
  const repositoryDir = path.join(root, "repository");
  const reportDir = path.join(root, "reports");
  const metricsFile = path.join(root, "metrics", "backdrill.prom");
  for (const sub of ["policies", "jobs", "drills"])
    await mkdir(path.join(configDir, sub), { recursive: true });
  await mkdir(path.dirname(metricsFile), { recursive: true, mode: 0o700 });

  const policy = {
    name: POLICY,
    description: "demo: TasK-like nightly policy on a local repository",
    repository: { type: "local", path: repositoryDir },
    // Only the recipient: the identity stays with the drill, as it would stay off a backup host.
    encryption: { recipients: [keys.recipient] },
    retention: { keepLast: 3, keepDaily: 7, keepWeekly: 5, keepMonthly: 12 },
    schedule: "15 2 * * *",
    timezone: "UTC",
    rpo: "26h",
    metricsFile,
  };
  await writeFile(
    path.join(configDir, "policies", `${POLICY}.yaml`),
    header("policy") + YAML.stringify(policy),
  );

  const jobs = kinds.map((kind) => ({ name: JOB_NAMES[kind], kind }));
  for (const kind of kinds) {
    await writeFile(
      path.join(configDir, "jobs", `${JOB_NAMES[kind]}.yaml`),
      header("job") + YAML.stringify(jobConfig(kind, stack, keys)),
    );
  }

  const drill = {
    name: DRILL,
    description: "demo: every job's latest snapshot restored into a throwaway container, checked, timed",
    schedule: "0 4 1 * *",
    timezone: "UTC",
    identityFile: keys.identityFile,
    reportDir,
    metricsFile,
    targets: kinds.map((kind) => drillTarget(kind, stack, keys)),
  };
  await writeFile(path.join(configDir, "drills", `${DRILL}.yaml`), header("drill") + YAML.stringify(drill));

  const stackDrill = {
    name: STACK_DRILL,
    description:
      "demo: TasK's whole stack restored together into one isolated network, then the application must boot against it",
    timezone: "UTC",
    identityFile: keys.identityFile,
    reportDir,
    metricsFile,
    targets: kinds.map((kind) => ({ ...drillTarget(kind, stack, keys), service: SERVICE_NAMES[kind] })),
    stack: {
      rto: "20m",
      smokeTest: { image: taskAppImage(), command: ["php", "/app/smoke.php"], timeout: "2m" },
    },
  };
  await writeFile(
    path.join(configDir, "drills", `${STACK_DRILL}.yaml`),
    header("stack drill") + YAML.stringify(stackDrill),
  );

  const env: Record<string, string> = {};
  if (stack.postgres !== undefined) env[ENV.dbPassword] = stack.postgres.password;
  if (stack.s3 !== undefined) {
    env[ENV.s3AccessKey] = stack.s3.accessKeyId;
    env[ENV.s3SecretKey] = stack.s3.secretKey;
  }
  if (stack.rabbitmq !== undefined) env[ENV.rabbitmqPassword] = stack.rabbitmq.password;
  if (stack.vault !== undefined) env[ENV.symfonyKey] = stack.vault.decryptionSecret;
  return { configDir, repositoryDir, reportDir, metricsFile, env, jobs };
}
