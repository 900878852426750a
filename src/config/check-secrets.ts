/**
 * `validate --strict` and `doctor`: every secret and key file the configuration refers to that is
 * missing or unreadable right now. The jobs' requirements come from their kinds
 * (`Kind.secrets`); policies and drills are checked here. Nothing is returned but issues, and an
 * env secret is only checked for presence: its value is not read into this process.
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { ConfigError, type ConfigIssue } from "../errors.js";
import type { SecretRequirement } from "../kinds/contract.js";
import { kindOf } from "../kinds/registry.js";
import {
  fsReason,
  readRecipientList,
  readRecipients,
  resolveSecret,
  secretField,
} from "../secrets/resolve.js";
import type { Config, LoadedPolicy } from "./types.js";

export type SecretScope = "all" | "backup" | "drill";

export interface CheckSecretsOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * `backup`: what a backup host needs (policies + jobs); `drill`: what a drill host needs
   * (policies + drill identities); `all` (default): both. A backup host never holds the identity.
   */
  scope?: SecretScope;
  /** Also read and check the recipient lists (default true; doctor checks them on their own). */
  recipients?: boolean;
}

function policyRequirements(loaded: LoadedPolicy): SecretRequirement[] {
  const repository = loaded.policy.repository;
  if (repository.type !== "s3") return [];
  const out: SecretRequirement[] = [];
  for (const stem of ["accessKeyId", "secretAccessKey"] as const) {
    const field = secretField(repository, stem, { file: loaded.file, path: "repository" });
    if (field !== undefined) out.push(field);
  }
  return out;
}

async function checkRequirement(
  requirement: SecretRequirement,
  env: NodeJS.ProcessEnv,
): Promise<ConfigIssue | undefined> {
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
 * Every secret and key file the config refers to that is missing or unreadable right now.
 * Returns the issues instead of throwing so callers can combine them.
 */
export async function checkSecrets(
  config: Config,
  options: CheckSecretsOptions = {},
): Promise<ConfigIssue[]> {
  const env = options.env ?? process.env;
  const scope = options.scope ?? "all";
  const recipients = options.recipients ?? true;
  const requirements: SecretRequirement[] = [];
  const issues: ConfigIssue[] = [];
  for (const loaded of config.policies.values()) requirements.push(...policyRequirements(loaded));
  if (scope !== "drill") {
    if (recipients) {
      for (const loaded of config.policies.values())
        issues.push(...(await recipientIssues(() => readRecipients(loaded))));
    }
    for (const loaded of config.jobs.values()) {
      const spec = kindOf(loaded.job.kind).secrets(loaded);
      requirements.push(...spec.secrets);
      for (const list of recipients ? spec.recipients : []) {
        issues.push(
          ...(await recipientIssues(() =>
            readRecipientList(list.inline, list.file, {
              file: loaded.file,
              listPath: list.listPath,
              filePath: list.filePath,
            }),
          )),
        );
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
        for (const [field, value] of Object.entries(target)) {
          // Identity files a target names besides the drill's (escrowIdentityFile): readable.
          if (!field.endsWith("IdentityFile") || typeof value !== "string") continue;
          requirements.push({
            where: { file, path: `targets.${index}.${field}` },
            ref: { file: value },
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
