/**
 * Secrets are resolved lazily, when a job actually runs, so `backdrill validate` works on a laptop
 * without production credentials. Every value read is registered for redaction before it is
 * returned, and every failure names the config file and field that asked for it.
 */
import { readFile } from "node:fs/promises";
import { ConfigError, type ConfigIssue } from "../errors.js";
import { registerSecret } from "../log/redact.js";
import { recipientProblem } from "../schema/age-recipient.js";
import type { Policy } from "../schema/policy.js";

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

export function fsReason(error: unknown, path: string): string {
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
