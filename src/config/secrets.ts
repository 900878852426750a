/**
 * Secrets are resolved lazily, when a job actually runs, so `backdrill validate` works on a laptop
 * without production credentials. Every value read is registered for redaction before it is
 * returned, and every failure names the config file and field that asked for it.
 */
import { constants } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError, type ConfigIssue } from "../errors.js";
import { registerSecret } from "../log/redact.js";
import { recipientProblem } from "../schema/age-recipient.js";
import type { Job } from "../kinds/registry-jobs.js";
import type { Policy } from "../schema/policy.js";
import type { Config, LoadedJob, LoadedPolicy } from "./types.js";

export interface SecretRef {
  /** Name of an environment variable holding the secret. */
  env?: string | undefined;
  /** Absolute path of a file holding the secret. */
  file?: string | undefined;
}

export interface FieldLocation {
  /** Config file relative to the config dir, e.g. `jobs/task-db.yaml`. */
  file: string;
  /** The field that names the secret, e.g. `connection.passwordEnv`; used verbatim in messages. */
  path: string;
}

type Env = Record<string, string | undefined>;

function fail(where: FieldLocation, message: string): never {
  throw new ConfigError([{ file: where.file, path: where.path, message }]);
}

function fsReason(error: unknown, path: string): string {
  const code = error instanceof Error && "code" in error ? String(error.code) : "";
  if (code === "ENOENT") return `file ${path} does not exist`;
  if (code === "EACCES" || code === "EPERM") {
    const uid = typeof process.getuid === "function" ? ` (uid ${process.getuid()})` : "";
    return `cannot read ${path}: permission denied; make it readable by the user backdrill runs as${uid}`;
  }
  if (code === "EISDIR") return `${path} is a directory; point it at the file`;
  return `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`;
}

/** Secret files conventionally end with one newline (`echo x > file`); it is not part of the secret. */
function stripOneNewline(text: string): string {
  if (text.endsWith("\r\n")) return text.slice(0, -2);
  if (text.endsWith("\n")) return text.slice(0, -1);
  return text;
}

/** Reads the env var or the file; registers the value for redaction; ConfigError (exit 2) on failure. */
export async function resolveSecret(
  ref: SecretRef,
  where: FieldLocation,
  env: Env = process.env,
): Promise<string> {
  if (ref.env !== undefined) {
    const value = env[ref.env];
    if (value === undefined) {
      fail(
        where,
        `environment variable ${ref.env} is not set; export it in the environment backdrill runs in`,
      );
    }
    if (value === "") fail(where, `environment variable ${ref.env} is set but empty`);
    registerSecret(value);
    return value;
  }
  if (ref.file !== undefined) {
    let text: string;
    try {
      text = await readFile(ref.file, "utf8");
    } catch (error) {
      fail(where, fsReason(error, ref.file));
    }
    const value = stripOneNewline(text);
    if (value.trim() === "") fail(where, `file ${ref.file} is empty`);
    registerSecret(value);
    return value;
  }
  return fail(where, "no secret configured; set the ...Env or ...File field");
}

/**
 * The `<stem>Env` / `<stem>File` pair of an object as a ref plus the location of whichever is set,
 * e.g. `secretField(job.connection, "password", { file, path: "connection" })`. Undefined if neither.
 */
export function secretField(
  holder: object,
  stem: string,
  parent: FieldLocation,
): { ref: SecretRef; where: FieldLocation } | undefined {
  const record = holder as Record<string, unknown>;
  const prefix = parent.path === "" ? "" : `${parent.path}.`;
  const envName = record[`${stem}Env`];
  if (typeof envName === "string") {
    return { ref: { env: envName }, where: { file: parent.file, path: `${prefix}${stem}Env` } };
  }
  const file = record[`${stem}File`];
  if (typeof file === "string") {
    return { ref: { file }, where: { file: parent.file, path: `${prefix}${stem}File` } };
  }
  return undefined;
}

/** Inline recipients plus a recipients file (one per line, `#` comments), validated and de-duplicated. */
export async function readRecipientList(
  inline: readonly string[],
  listFile: string | undefined,
  where: { file: string; listPath: string; filePath: string },
): Promise<string[]> {
  const out = new Set(inline);
  if (listFile !== undefined) {
    const location = { file: where.file, path: where.filePath };
    let text: string;
    try {
      text = await readFile(listFile, "utf8");
    } catch (error) {
      fail(location, fsReason(error, listFile));
    }
    const issues: ConfigIssue[] = [];
    text.split(/\r?\n/).forEach((raw, index) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      const problem = recipientProblem(line);
      if (problem === undefined) out.add(line);
      else issues.push({ ...location, message: `${listFile} line ${index + 1}: ${problem}` });
    });
    if (issues.length > 0) throw new ConfigError(issues);
  }
  if (out.size === 0) {
    fail(
      { file: where.file, path: where.listPath },
      `no recipients: the list is empty${listFile === undefined ? "" : ` and ${listFile} holds none`}; add at least one age public key (age1...)`,
    );
  }
  return [...out];
}

/** The policy's encryption recipients (inline + recipientsFile). */
export async function readRecipients(source: { file: string; policy: Policy }): Promise<string[]> {
  const { recipients, recipientsFile } = source.policy.encryption;
  return readRecipientList(recipients, recipientsFile, {
    file: source.file,
    listPath: "encryption.recipients",
    filePath: "encryption.recipientsFile",
  });
}

/** A symfony-secrets job's escrow recipients (escrowRecipients + escrowRecipientsFile). */
export async function readEscrowRecipients(source: {
  file: string;
  job: Extract<Job, { kind: "symfony-secrets" }>;
}): Promise<string[]> {
  return readRecipientList(source.job.escrowRecipients, source.job.escrowRecipientsFile, {
    file: source.file,
    listPath: "escrowRecipients",
    filePath: "escrowRecipientsFile",
  });
}

/** Default Symfony decryption key location when neither decryptionKeyEnv nor decryptionKeyFile is set. */
export function defaultDecryptionKeyFile(job: { vault: string; environment: string }): string {
  return join(job.vault, `${job.environment}.decrypt.private.php`);
}

export type SecretScope = "all" | "backup" | "drill";

export interface CheckSecretsOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * `backup`: what a backup host needs (policies + jobs); `drill`: what a drill host needs
   * (policies + drill identities); `all` (default): both. A backup host never holds the identity.
   */
  scope?: SecretScope;
}

interface Requirement {
  where: FieldLocation;
  ref: SecretRef;
  /** Only check that a file is readable (keys handed to ssh/age), without reading it here. */
  readableOnly?: boolean;
}

function policyRequirements(loaded: LoadedPolicy): Requirement[] {
  const repository = loaded.policy.repository;
  if (repository.type !== "s3") return [];
  const out: Requirement[] = [];
  for (const stem of ["accessKeyId", "secretAccessKey"] as const) {
    const field = secretField(repository, stem, { file: loaded.file, path: "repository" });
    if (field !== undefined) out.push(field);
  }
  return out;
}

function jobRequirements(loaded: LoadedJob): Requirement[] {
  const { file, job } = loaded;
  const out: Requirement[] = [];
  const add = (holder: object, stem: string, path: string): void => {
    const field = secretField(holder, stem, { file, path });
    if (field !== undefined) out.push(field);
  };
  const readable = (path: string, value: string | undefined): void => {
    if (value !== undefined) out.push({ where: { file, path }, ref: { file: value }, readableOnly: true });
  };
  switch (job.kind) {
    case "postgres-dump":
    case "postgres-base":
      if ("urlEnv" in job.connection) {
        out.push({ where: { file, path: "connection.urlEnv" }, ref: { env: job.connection.urlEnv } });
      } else {
        add(job.connection, "password", "connection");
      }
      break;
    case "files":
      readable("sshKeyFile", job.sshKeyFile);
      readable("knownHostsFile", job.knownHostsFile);
      break;
    case "s3-bucket":
      add(job, "accessKeyId", "");
      add(job, "secretAccessKey", "");
      break;
    case "rabbitmq":
      add(job, "password", "");
      readable("tls.caFile", job.tls?.caFile);
      break;
    case "symfony-secrets": {
      const field = secretField(job, "decryptionKey", { file, path: "" });
      if (field !== undefined) out.push(field);
      else readable("vault", defaultDecryptionKeyFile(job));
      break;
    }
  }
  return out;
}

async function checkRequirement(requirement: Requirement, env: Env): Promise<ConfigIssue | undefined> {
  const { ref, where } = requirement;
  if (requirement.readableOnly === true && ref.file !== undefined) {
    try {
      await access(ref.file, constants.R_OK);
      return undefined;
    } catch (error) {
      return { ...where, message: fsReason(error, ref.file) };
    }
  }
  if (ref.env !== undefined) {
    // Presence only: the value is not needed, so it is not read into this process's logs' reach.
    const value = env[ref.env];
    if (value === undefined) return { ...where, message: `environment variable ${ref.env} is not set` };
    if (value === "") return { ...where, message: `environment variable ${ref.env} is set but empty` };
    return undefined;
  }
  try {
    await resolveSecret(ref, where, env);
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error.issues[0];
    throw error;
  }
}

async function recipientIssues(read: () => Promise<string[]>): Promise<ConfigIssue[]> {
  try {
    await read();
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
}

/**
 * Every secret and key file the config refers to that is missing or unreadable right now, for
 * `validate --strict` and `doctor`. Returns the issues instead of throwing so callers can combine them.
 */
export async function checkSecrets(
  config: Config,
  options: CheckSecretsOptions = {},
): Promise<ConfigIssue[]> {
  const env = options.env ?? process.env;
  const scope = options.scope ?? "all";
  const requirements: Requirement[] = [];
  const issues: ConfigIssue[] = [];
  for (const loaded of config.policies.values()) {
    requirements.push(...policyRequirements(loaded));
  }
  if (scope !== "drill") {
    for (const loaded of config.policies.values())
      issues.push(...(await recipientIssues(() => readRecipients(loaded))));
    for (const loaded of config.jobs.values()) {
      requirements.push(...jobRequirements(loaded));
      const { job, file } = loaded;
      if (job.kind === "symfony-secrets") {
        issues.push(...(await recipientIssues(() => readEscrowRecipients({ file, job }))));
      }
    }
  }
  if (scope !== "backup") {
    for (const { file, drill } of config.drills.values()) {
      requirements.push({
        where: { file, path: "identityFile" },
        ref: { file: drill.identityFile },
        readableOnly: true,
      });
      drill.targets.forEach((target, index) => {
        if (target.escrowIdentityFile !== undefined) {
          requirements.push({
            where: { file, path: `targets.${index}.escrowIdentityFile` },
            ref: { file: target.escrowIdentityFile },
            readableOnly: true,
          });
        }
      });
    }
  }
  for (const requirement of requirements) {
    const issue = await checkRequirement(requirement, env);
    if (issue !== undefined) issues.push(issue);
  }
  return issues;
}
