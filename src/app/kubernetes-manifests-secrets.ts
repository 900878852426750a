/**
 * What one pod of `cron --kubernetes` needs from the Kubernetes Secret: environment variables by
 * name and files by path, never values. Which pod gets what follows check-secrets.ts's scopes:
 * a backup pod gets its policy's and its job's secrets (the kind's `secrets`, as for `validate
 * --strict`) and the public recipient files; a drill pod the policies' repository credentials
 * and the drill's identities. The age identity (a private key) and the signing key never meet:
 * the identity only in drill pods, the signing key only where backups and WAL are written.
 */
import { basename, isAbsolute } from "node:path";
import type { Config, LoadedDrill, LoadedJob, LoadedPolicy } from "../config/types.js";
import { UsageError } from "../errors.js";
import { kindOf } from "../kinds/registry.js";

/** An env var from the Secret; `optional` for `${VAR}` references, which may have defaults. */
export interface EnvNeed {
  name: string;
  optional: boolean;
}

/** A file the config names, mounted from the Secret's `key` at `path`. */
export interface FileNeed {
  path: string;
  key: string;
  /** `file: field`, for messages. */
  where: string;
}

export interface PodSecrets {
  env: EnvNeed[];
  files: FileNeed[];
}

/** Secret keys Kubernetes accepts (the Secret's data keys). */
const SECRET_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
/** `${NAME` or `${NAME:-…}` in the raw text; `$${` is an escaped dollar (config/env.ts). */
const VARIABLE = /(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)/g;
/** Output files, not secrets: they are never taken from the Secret. */
const OUTPUT_FIELDS = new Set(["metricsFile"]);

interface Reference {
  kind: "env" | "file";
  value: string;
  /** Dotted field path in the file. */
  path: string;
}

/** Every `…Env` (variable name) and `…File` (path) string in a parsed config object. */
function references(value: unknown, path = ""): Reference[] {
  if (Array.isArray(value)) return value.flatMap((item, index) => references(item, join(path, index)));
  if (value === null || typeof value !== "object") return [];
  const out: Reference[] = [];
  for (const [key, child] of Object.entries(value)) {
    const field = join(path, key);
    if (typeof child === "string" && key.endsWith("Env"))
      out.push({ kind: "env", value: child, path: field });
    else if (typeof child === "string" && key.endsWith("File") && !OUTPUT_FIELDS.has(key))
      out.push({ kind: "file", value: child, path: field });
    else out.push(...references(child, field));
  }
  return out;
}

function join(path: string, key: string | number): string {
  return path === "" ? String(key) : `${path}.${key}`;
}

/** Collects one pod's needs; the same path twice is one mount, two paths on one key an error. */
class Needs {
  private readonly env = new Map<string, EnvNeed>();
  private readonly files = new Map<string, FileNeed>();

  addEnv(name: string, optional: boolean): void {
    const known = this.env.get(name);
    // A variable one field requires stays required when a `${VAR}` also names it.
    this.env.set(name, { name, optional: optional && (known?.optional ?? true) });
  }

  addFile(path: string, where: string, keys: FileKeys): void {
    if (this.files.has(path)) return;
    this.files.set(path, { path, key: keys.keyFor(path, where), where });
  }

  addReferences(refs: Reference[], file: string, keys: FileKeys, skip: (path: string) => boolean): void {
    for (const ref of refs) {
      if (skip(ref.path)) continue;
      if (ref.kind === "env") this.addEnv(ref.value, false);
      else this.addFile(ref.value, `${file}: ${ref.path}`, keys);
    }
  }

  result(): PodSecrets {
    const byName = <T>(map: Map<string, T>) => [...map.entries()].sort(([a], [b]) => a.localeCompare(b));
    return {
      env: byName(this.env).map(([, need]) => need),
      files: byName(this.files).map(([, need]) => need),
    };
  }
}

/**
 * The Secret key of each file: its base name, which the operator uses in `kubectl create secret
 * --from-file=NAME=...`. Two different paths with one base name cannot share a key: refused.
 */
export class FileKeys {
  private readonly byKey = new Map<string, { path: string; where: string }>();

  keyFor(path: string, where: string): string {
    if (!isAbsolute(path)) {
      throw new UsageError(`${where}: ${path} is not an absolute path, which a pod cannot mount`);
    }
    const key = basename(path);
    if (!SECRET_KEY.test(key)) {
      throw new UsageError(
        `${where}: the file name ${JSON.stringify(key)} cannot be a Kubernetes Secret key (letters, digits, ".", "_", "-")`,
        { hint: "rename the file; the manifests mount it from the Secret key of its base name" },
      );
    }
    const known = this.byKey.get(key);
    if (known !== undefined && known.path !== path) {
      throw new UsageError(
        `${where}: ${path} and ${known.path} (${known.where}) share the base name ${key}, their Secret key`,
        { hint: "give the files different names" },
      );
    }
    this.byKey.set(key, { path, where });
    return key;
  }
}

/** `${VAR}` names in the config files' raw text: every pod loads every file, so all get them. */
export function variableNames(texts: readonly { text: string }[]): string[] {
  const names = new Set<string>();
  for (const { text } of texts) for (const match of text.matchAll(VARIABLE)) names.add(match[1] ?? "");
  names.delete("");
  return [...names].sort();
}

function policyOfJob(config: Config, job: LoadedJob): LoadedPolicy | undefined {
  return config.policies.get(job.job.policy);
}

/** Fields of a policy a drill pod must not get: the signing private key and what only encrypts. */
function writerOnly(path: string): boolean {
  return path === "signing.keyFile" || path === "encryption.recipientsFile";
}

export function backupPodSecrets(
  config: Config,
  job: LoadedJob,
  variables: string[],
  keys: FileKeys,
  options: { jobSecrets: boolean },
): PodSecrets {
  const needs = new Needs();
  for (const name of variables) needs.addEnv(name, true);
  const policy = policyOfJob(config, job);
  if (policy !== undefined) needs.addReferences(references(policy.policy), policy.file, keys, () => false);
  const spec = kindOf(job.job.kind).secrets(job);
  if (options.jobSecrets) {
    for (const { ref, where } of spec.secrets) {
      if (ref.env !== undefined) needs.addEnv(ref.env, false);
      if (ref.file !== undefined) needs.addFile(ref.file, `${where.file}: ${where.path}`, keys);
    }
  }
  for (const list of spec.recipients) {
    if (list.file !== undefined) needs.addFile(list.file, `${job.file}: ${list.filePath}`, keys);
  }
  return needs.result();
}

export function drillPodSecrets(
  config: Config,
  drill: LoadedDrill,
  variables: string[],
  keys: FileKeys,
): PodSecrets {
  const needs = new Needs();
  for (const name of variables) needs.addEnv(name, true);
  // Identities (identityFile, targets' escrowIdentityFile) and any credential the drill names.
  needs.addReferences(references(drill.drill), drill.file, keys, () => false);
  const policies = new Set<string>();
  for (const target of drill.drill.targets) {
    const job = config.jobs.get(target.job);
    if (job !== undefined) policies.add(job.job.policy);
  }
  for (const name of [...policies].sort()) {
    const policy = config.policies.get(name);
    if (policy !== undefined) needs.addReferences(references(policy.policy), policy.file, keys, writerOnly);
  }
  return needs.result();
}
