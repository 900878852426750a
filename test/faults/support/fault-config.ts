/**
 * A throwaway config directory for one fault-test job: a policy with a LOCAL repository in a temp
 * dir, a freshly generated age key (the recipient in the policy, the identity kept by the test
 * for decrypt checks), and a retention that keeps everything (keepLast 100), so that prune only
 * removes leftovers. The job's YAML is the kind's own fields, as the integration tests write them.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import YAML from "yaml";
import { generateIdentity } from "../../../src/crypto/keys.js";

export const POLICY = "faults";
/** The env var the PostgreSQL fault jobs read their password from (set it in the CLI's env). */
export const PG_PASSWORD_ENV = "TASK_DB_PASSWORD";

/** A job's `connection` to a PostgreSQL test container on this host, password from PG_PASSWORD_ENV. */
export function pgConnection(source: { port: number; user: string }): Record<string, unknown> {
  return {
    host: "127.0.0.1",
    port: source.port,
    user: source.user,
    passwordEnv: PG_PASSWORD_ENV,
    sslmode: "disable",
  };
}

export interface FaultConfig {
  /** Temp root holding config/, repository/ and whatever the kind adds (work dir for sources). */
  root: string;
  configDir: string;
  repositoryDir: string;
  identity: string;
  recipient: string;
  /** Writes jobs/<name>.yaml (the policy field is added). */
  writeJob(job: Record<string, unknown> & { name: string; kind: string }): Promise<void>;
  remove(): Promise<void>;
}

export async function makeFaultConfig(prefix: string): Promise<FaultConfig> {
  const root = await mkdtemp(path.join(os.tmpdir(), `backdrill-${prefix}-`));
  const configDir = path.join(root, "config");
  const repositoryDir = path.join(root, "repository");
  for (const sub of ["policies", "jobs"])
    await mkdir(path.join(configDir, sub), { recursive: true, mode: 0o700 });
  const key = await generateIdentity();
  const policy = {
    name: POLICY,
    repository: { type: "local", path: repositoryDir },
    encryption: { recipients: [key.recipient] },
    retention: { keepLast: 100 },
    rpo: "26h",
  };
  await writeFile(path.join(configDir, "policies", `${POLICY}.yaml`), YAML.stringify(policy), {
    mode: 0o600,
  });
  return {
    root,
    configDir,
    repositoryDir,
    identity: key.identity,
    recipient: key.recipient,
    async writeJob(job) {
      await writeFile(
        path.join(configDir, "jobs", `${job.name}.yaml`),
        YAML.stringify({ ...job, policy: POLICY }),
        { mode: 0o600 },
      );
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}
