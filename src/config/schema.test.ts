import { describe, expect, it } from "vitest";
import type * as z from "zod";
import { drillSchema } from "./drill-schema.js";
import { jobSchema } from "../kinds/registry.js";
import { policySchema } from "../schema/policy.js";
import { validateDocument } from "./validate.js";

const RECIPIENT = "age19nqh0my2qgm2sc2wfl357zecntg6dn7c89k6ntyemk8a2a8ptc6sthe8ls";

function valid<S extends z.ZodType>(
  schema: S,
  document: unknown,
  env: Record<string, string> = {},
): z.output<S> {
  const result = validateDocument(schema, document, env);
  if (!result.ok) throw new Error(result.issues.map((issue) => `${issue.path}: ${issue.message}`).join("\n"));
  return result.value;
}

function issues(schema: z.ZodType, document: unknown, env: Record<string, string> = {}): string[] {
  const result = validateDocument(schema, document, env);
  return result.ok ? [] : result.issues.map((issue) => `${issue.path}: ${issue.message}`);
}

const policy = {
  name: "nightly",
  repository: { type: "local", path: "/var/backups/task" },
  encryption: { recipients: [RECIPIENT] },
  retention: { keepDaily: 7 },
  rpo: "26h",
};

const base = { policy: "nightly" };
const connection = { host: "127.0.0.1", user: "backup", passwordEnv: "PGPASSWORD" };
const tools = { image: "pgvector/pgvector:pg17" };

describe("policy schema", () => {
  it("fills defaults for an s3 repository", () => {
    const parsed = valid(policySchema, {
      ...policy,
      repository: { type: "s3", bucket: "task-backups", endpoint: "" },
      schedule: "0 15 2 * * *",
      timezone: "Europe/Moscow",
    });
    expect(parsed.repository).toEqual({
      type: "s3",
      bucket: "task-backups",
      prefix: "",
      endpoint: undefined,
      region: "us-east-1",
      forcePathStyle: false,
    });
    expect(parsed.schedule).toBe("0 15 2 * * *");
  });

  it("accepts a recipients file instead of inline recipients", () => {
    const parsed = valid(policySchema, { ...policy, encryption: { recipientsFile: "/etc/backdrill/r.txt" } });
    expect(parsed.encryption).toEqual({ recipients: [], recipientsFile: "/etc/backdrill/r.txt" });
  });

  it("rejects object lock days below one and unknown modes", () => {
    const repository = { type: "s3", bucket: "b", objectLock: { mode: "governance", days: 0 } };
    expect(issues(policySchema, { ...policy, repository })).toEqual([
      'repository.objectLock.mode: expected one of GOVERNANCE, COMPLIANCE; got "governance"; did you mean "GOVERNANCE"?',
      "repository.objectLock.days: must be at least 1, got 0",
    ]);
  });

  it("reports presence rules together with type errors in sibling fields", () => {
    const repository = { type: "s3", bucket: "b", region: 5, accessKeyIdEnv: "KEY" };
    expect(issues(policySchema, { ...policy, repository })).toEqual([
      "repository.region: expected a string, got 5",
      "repository.secretAccessKeyEnv: set secretAccessKeyEnv too: accessKeyIdEnv and secretAccessKeyEnv go together (omit both to use the AWS default credential chain)",
    ]);
  });

  it("rejects credentials inside an endpoint URL without echoing them", () => {
    const repository = { type: "s3", bucket: "b", endpoint: "http://minio:topsecret@127.0.0.1:9000" };
    const found = issues(policySchema, { ...policy, repository });
    expect(found).toEqual([
      'repository.endpoint: secrets are not allowed in config files; remove "user:password@" from the URL and use accessKeyIdEnv and secretAccessKeyEnv',
    ]);
    expect(found.join()).not.toContain("topsecret");
  });
});

describe("job schemas", () => {
  it("postgres-dump: defaults and the connection as a host union member", () => {
    const job = valid(jobSchema, { ...base, name: "task-db", kind: "postgres-dump", connection, tools });
    expect(job).toEqual({
      ...base,
      name: "task-db",
      kind: "postgres-dump",
      connection: { ...connection, port: 5432 },
      format: "custom",
      globals: true,
      tools,
      facts: { checksumMaxRows: 100_000 },
    });
  });

  it("postgres-dump: urlEnv instead of host, user and password", () => {
    const job = valid(jobSchema, {
      ...base,
      name: "task-db",
      kind: "postgres-dump",
      connection: { urlEnv: "TASK_DB_URL", sslmode: "require" },
      tools: { binDir: "/usr/lib/postgresql/17/bin" },
      format: "directory",
      parallel: 4,
    });
    expect(job.kind === "postgres-dump" && job.connection).toEqual({
      urlEnv: "TASK_DB_URL",
      sslmode: "require",
    });
    expect(job.kind === "postgres-dump" && job.tools).toEqual({ binDir: "/usr/lib/postgresql/17/bin" });
  });

  it("postgres-dump: urlEnv mixed with host fields, and a missing host", () => {
    const kind = "postgres-dump";
    expect(
      issues(jobSchema, { ...base, name: "a", kind, connection: { urlEnv: "URL", host: "h" }, tools }),
    ).toEqual([
      "connection.host: not used with urlEnv (the URL in URL says where to connect); remove host or urlEnv",
    ]);
    expect(issues(jobSchema, { ...base, name: "a", kind, connection: { user: "u" }, tools })).toEqual([
      "connection.host: required field is missing (or set urlEnv to the name of an env var holding a postgres:// URL)",
    ]);
  });

  it("postgres-dump: duplicate databases and compress bounds", () => {
    const job = { ...base, name: "a", kind: "postgres-dump", connection, tools };
    expect(issues(jobSchema, { ...job, databases: ["task", "task"], compress: 10 })).toEqual([
      'databases.1: database "task" is listed twice',
      "compress: must be at most 9, got 10",
    ]);
  });

  it("postgres-base", () => {
    const job = valid(jobSchema, { ...base, name: "task-wal", kind: "postgres-base", connection, tools });
    expect(job.kind).toBe("postgres-base");
  });

  it("files: local and remote destinations", () => {
    const files = { ...base, name: "f", kind: "files", source: "/mnt/task/files" };
    expect(valid(jobSchema, { ...files, destination: "/srv/f" })).toMatchObject({ exclude: [] });
    expect(
      valid(jobSchema, {
        ...files,
        destination: "backup@backup-host:/srv/f",
        sshKeyFile: "/etc/backdrill/id_ed25519",
        sshPort: 2222,
      }),
    ).toMatchObject({ sshPort: 2222 });
    expect(issues(jobSchema, { ...files, destination: "backup-host:srv" })).toEqual([
      'destination: expected an absolute path (/srv/backup) or user@host:/absolute/path, got "backup-host:srv"',
    ]);
    expect(issues(jobSchema, { ...files, destination: "/mnt/task/files/backups" })).toEqual([
      "destination: destination is inside source; each backup would copy the previous ones. Choose a directory outside source",
    ]);
  });

  it("s3-bucket: defaults", () => {
    const job = valid(jobSchema, { ...base, name: "b", kind: "s3-bucket", bucket: "task-files" });
    expect(job).toMatchObject({ region: "us-east-1", forcePathStyle: false, copy: false, modify: true });
  });

  it("rabbitmq: password reference is required, tls needs https", () => {
    const job = { ...base, name: "r", kind: "rabbitmq", url: "http://127.0.0.1:15672", user: "backup" };
    expect(issues(jobSchema, job)).toEqual([
      ": set one of passwordEnv or passwordFile (the management user's password)",
    ]);
    expect(issues(jobSchema, { ...job, passwordEnv: "RMQ", tls: { insecure: true } })).toEqual([
      "tls: tls settings need an https:// url; change url to https:// or remove tls",
    ]);
    expect(
      valid(jobSchema, { ...job, url: "https://mq:15671", passwordFile: "/etc/rmq.pw", tls: {} }),
    ).toMatchObject({ tls: { insecure: false } });
  });

  it("symfony-secrets: environment defaults to the vault directory's name", () => {
    const job = valid(jobSchema, {
      ...base,
      name: "s",
      kind: "symfony-secrets",
      vault: "/var/www/task/current/config/secrets/prod/",
      escrowRecipients: [RECIPIENT],
    });
    expect(job).toMatchObject({ environment: "prod" });
    const staging = valid(jobSchema, {
      ...base,
      name: "s",
      kind: "symfony-secrets",
      vault: "/srv/secrets/prod",
      environment: "staging",
      escrowRecipientsFile: "/etc/backdrill/escrow.txt",
    });
    expect(staging).toMatchObject({ environment: "staging" });
  });
});

describe("drill schema", () => {
  it("fills snapshot and reportDir defaults", () => {
    const drill = valid(drillSchema, {
      name: "monthly",
      identityFile: "/etc/backdrill/identity.txt",
      targets: [{ job: "task-db" }, { job: "task-wal", pitr: "2026-11-28T02:15:00+03:00", rto: "1h30m" }],
    });
    expect(drill.reportDir).toBe("reports");
    expect(drill.targets.map((target) => target.snapshot)).toEqual(["latest", "latest"]);
  });

  it("accepts snapshot ids and rejects other words", () => {
    const drill = { name: "d", identityFile: "/id" };
    expect(
      valid(drillSchema, { ...drill, targets: [{ job: "j", snapshot: "20261128T021500Z-3f9a1c" }] })
        .targets[0],
    ).toMatchObject({ snapshot: "20261128T021500Z-3f9a1c" });
    expect(issues(drillSchema, { ...drill, targets: [{ job: "j", pitr: "yesterday" }] })).toEqual([
      'targets.0.pitr: expected latest, random or an ISO time with a zone like 2026-11-28T02:15:00Z, got "yesterday"',
    ]);
  });
});

describe("values from environment variables", () => {
  const job = { ...base, name: "task-db", kind: "postgres-dump", tools };

  it("coerce to numbers and booleans where the schema wants them", () => {
    const parsed = valid(
      jobSchema,
      {
        ...job,
        connection: { ...connection, port: "${PGPORT:-5432}" },
        globals: "${GLOBALS}",
        parallel: "${P:-}",
      },
      { PGPORT: "6543", GLOBALS: "false" },
    );
    expect(parsed).toMatchObject({ connection: { port: 6543 }, globals: false });
    expect(parsed.kind === "postgres-dump" && parsed.parallel).toBeUndefined();
  });

  it("stay strings where the schema wants strings", () => {
    const parsed = valid(
      policySchema,
      {
        ...policy,
        repository: { type: "s3", bucket: "b", prefix: "${PREFIX}" },
      },
      { PREFIX: "2024" },
    );
    expect(parsed.repository).toMatchObject({ prefix: "2024" });
  });

  it("are not coerced when written literally in YAML as strings", () => {
    expect(issues(jobSchema, { ...job, connection: { ...connection, port: "5432" } })).toEqual([
      'connection.port: expected a number, got "5432"',
    ]);
  });

  it("report an empty required value with its source", () => {
    expect(issues(policySchema, { ...policy, rpo: "${RPO:-}" })).toEqual([
      'rpo: expected a duration like 90s, 30m, 26h, 7d or 1h30m (units: s, m, h, d, w), got ""',
    ]);
  });

  it("are not validated again when the expansion itself failed", () => {
    expect(issues(jobSchema, { ...job, connection: { ...connection, port: "${PGPORT}" } })).toEqual([
      "connection.port: environment variable PGPORT is not set; export it, or give a default in the file: ${PGPORT:-value}",
    ]);
  });
});
