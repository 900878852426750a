import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import { clearRegisteredSecrets, redact } from "../log/redact.js";
import { loadConfig } from "./load.js";
import { checkSecrets } from "./check-secrets.js";
import { readRecipients, resolveSecret, secretField } from "../secrets/resolve.js";

const R1 = "age19nqh0my2qgm2sc2wfl357zecntg6dn7c89k6ntyemk8a2a8ptc6sthe8ls";
const R2 = "age1lm53l9cv569qqce37jeahw4z4p4dhmm8kk8s4n6l9zahqa2djflqrdw55z";
const where = { file: "jobs/task-db.yaml", path: "connection.passwordEnv" };

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-secrets-"));
  clearRegisteredSecrets();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  clearRegisteredSecrets();
});

async function failure(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).exitCode).toBe(2);
  return error as ConfigError;
}

describe("resolveSecret", () => {
  it("reads an env var and registers it for redaction", async () => {
    const value = await resolveSecret({ env: "TASK_DB_PASSWORD" }, where, {
      TASK_DB_PASSWORD: "s3cr3t-value",
    });
    expect(value).toBe("s3cr3t-value");
    expect(redact("pg_dump failed: password s3cr3t-value rejected")).not.toContain("s3cr3t-value");
  });

  it("names the config file and field when the env var is missing or empty", async () => {
    expect((await failure(resolveSecret({ env: "TASK_DB_PASSWORD" }, where, {}))).message).toBe(
      "jobs/task-db.yaml: connection.passwordEnv: environment variable TASK_DB_PASSWORD is not set; export it in the environment backdrill runs in",
    );
    expect((await failure(resolveSecret({ env: "X" }, where, { X: "" }))).message).toBe(
      "jobs/task-db.yaml: connection.passwordEnv: environment variable X is set but empty",
    );
  });

  it("reads a file, dropping exactly one trailing newline", async () => {
    const file = join(dir, "password");
    await writeFile(file, "from-a-file\n\n");
    expect(await resolveSecret({ file }, { ...where, path: "connection.passwordFile" }, {})).toBe(
      "from-a-file\n",
    );
    await writeFile(file, "crlf-secret\r\n");
    expect(await resolveSecret({ file }, where, {})).toBe("crlf-secret");
    expect(redact("x crlf-secret y")).toBe("x *** y");
  });

  it("reports a missing or empty file", async () => {
    const file = join(dir, "nope");
    const at = { file: "jobs/x.yaml", path: "passwordFile" };
    expect((await failure(resolveSecret({ file }, at, {}))).message).toBe(
      `jobs/x.yaml: passwordFile: file ${file} does not exist`,
    );
    await writeFile(file, "\n");
    expect((await failure(resolveSecret({ file }, at, {}))).message).toBe(
      `jobs/x.yaml: passwordFile: file ${file} is empty`,
    );
    expect((await failure(resolveSecret({ file: dir }, at, {}))).message).toBe(
      `jobs/x.yaml: passwordFile: ${dir} is a directory; point it at the file`,
    );
  });

  it("secretField picks whichever of the pair is set and builds its path", () => {
    const at = { file: "jobs/a.yaml", path: "connection" };
    expect(secretField({ passwordEnv: "PW" }, "password", at)).toEqual({
      ref: { env: "PW" },
      where: { file: "jobs/a.yaml", path: "connection.passwordEnv" },
    });
    expect(secretField({ passwordFile: "/pw" }, "password", { file: "jobs/a.yaml", path: "" })).toEqual({
      ref: { file: "/pw" },
      where: { file: "jobs/a.yaml", path: "passwordFile" },
    });
    expect(secretField({}, "password", at)).toBeUndefined();
  });
});

describe("readRecipients", () => {
  const policy = (encryption: { recipients: string[]; recipientsFile?: string }) => ({
    file: "policies/nightly.yaml",
    policy: {
      name: "nightly",
      repository: { type: "local" as const, path: "/r" },
      encryption,
      retention: { keepDaily: 1 },
      rpo: "1d",
    },
  });

  it("merges inline recipients with a file, skipping comments and duplicates", async () => {
    const file = join(dir, "recipients.txt");
    await writeFile(file, `# ops team\n${R2}\n\n  ${R1}  \n# old: ${R1}\n`);
    expect(await readRecipients(policy({ recipients: [R1], recipientsFile: file }))).toEqual([R1, R2]);
  });

  it("reports a bad line with its number", async () => {
    const file = join(dir, "recipients.txt");
    await writeFile(file, `${R1}\nage1typo\n`);
    expect((await failure(readRecipients(policy({ recipients: [], recipientsFile: file })))).message).toBe(
      `policies/nightly.yaml: encryption.recipientsFile: ${file} line 2: not a valid age recipient: "age1typo" (bad checksum, length or type; copy it again from age-keygen -y)`,
    );
  });

  it("requires at least one recipient in total", async () => {
    const file = join(dir, "recipients.txt");
    await writeFile(file, "# nobody yet\n");
    expect((await failure(readRecipients(policy({ recipients: [], recipientsFile: file })))).message).toBe(
      `policies/nightly.yaml: encryption.recipients: no recipients: the list is empty and ${file} holds none; add at least one age public key (age1...)`,
    );
  });
});

describe("checkSecrets", () => {
  async function config() {
    const files: Record<string, string> = {
      "policies/nightly.yaml": `name: nightly
repository: { type: s3, bucket: b, accessKeyIdEnv: S3_KEY, secretAccessKeyEnv: S3_SECRET }
encryption: { recipients: [${R1}], recipientsFile: ${join(dir, "missing-recipients.txt")} }
retention: { keepDaily: 7 }
rpo: 26h
`,
      "jobs/db.yaml": `name: db
kind: postgres-dump
policy: nightly
connection: { host: h, user: u, passwordFile: ${join(dir, "pw")} }
tools: { image: pg }
`,
      "jobs/files.yaml": `name: files
kind: files
policy: nightly
source: /src
destination: backup@host:/dst
sshKeyFile: ${join(dir, "id_ed25519")}
`,
      "jobs/secrets.yaml": `name: secrets
kind: symfony-secrets
policy: nightly
vault: ${join(dir, "vault", "prod")}
escrowRecipients: [${R2}]
`,
      "drills/monthly.yaml": `name: monthly
identityFile: ${join(dir, "identity.txt")}
targets: [{ job: db }]
`,
    };
    for (const [file, text] of Object.entries(files)) {
      await mkdir(join(dir, "config", file, ".."), { recursive: true });
      await writeFile(join(dir, "config", file), text);
    }
    return loadConfig({ dir: join(dir, "config"), env: {} });
  }

  it("lists every missing secret and key file, without reading values into messages", async () => {
    const loaded = await config();
    const issues = await checkSecrets(loaded, { env: { S3_KEY: "AKIAEXAMPLE" } });
    expect(issues).toEqual([
      {
        file: "policies/nightly.yaml",
        path: "encryption.recipientsFile",
        message: `file ${join(dir, "missing-recipients.txt")} does not exist`,
      },
      {
        file: "policies/nightly.yaml",
        path: "repository.secretAccessKeyEnv",
        message: "environment variable S3_SECRET is not set",
      },
      {
        file: "jobs/db.yaml",
        path: "connection.passwordFile",
        message: `file ${join(dir, "pw")} does not exist`,
      },
      {
        file: "jobs/files.yaml",
        path: "sshKeyFile",
        message: `file ${join(dir, "id_ed25519")} does not exist`,
      },
      {
        file: "jobs/secrets.yaml",
        path: "vault",
        message: `file ${join(dir, "vault", "prod", "prod.decrypt.private.php")} does not exist`,
      },
      {
        file: "drills/monthly.yaml",
        path: "identityFile",
        message: `file ${join(dir, "identity.txt")} does not exist`,
      },
    ]);
  });

  it("limits the check to what a backup host or a drill host needs", async () => {
    const loaded = await config();
    const env = { S3_KEY: "k", S3_SECRET: "s" };
    const backup = await checkSecrets(loaded, { env, scope: "backup" });
    expect(backup.map((issue) => issue.file)).not.toContain("drills/monthly.yaml");
    const drill = await checkSecrets(loaded, { env, scope: "drill" });
    expect(drill.map((issue) => `${issue.file}: ${issue.path}`)).toEqual([
      "drills/monthly.yaml: identityFile",
    ]);
  });

  it("is empty when everything is in place", async () => {
    const loaded = await config();
    await writeFile(join(dir, "missing-recipients.txt"), `${R2}\n`);
    await writeFile(join(dir, "pw"), "pw\n");
    await writeFile(join(dir, "id_ed25519"), "key");
    await writeFile(join(dir, "identity.txt"), "AGE-SECRET-KEY-1...");
    await mkdir(join(dir, "vault", "prod"), { recursive: true });
    await writeFile(join(dir, "vault", "prod", "prod.decrypt.private.php"), "<?php");
    expect(await checkSecrets(loaded, { env: { S3_KEY: "k", S3_SECRET: "s" } })).toEqual([]);
  });
});
