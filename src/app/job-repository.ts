/**
 * One job's repository, opened from the config directory: for the commands that act on a single
 * job's repository outside a backup or drill run (`wal push | fetch | ship`). The caller closes it.
 */
import type { LoadedJob, LoadedPolicy } from "../config/types.js";
import { UsageError } from "../errors.js";
import { openRepository } from "../repository/open.js";
import type { Repository } from "../repository/repository.js";
import { jobByName, openConfig, policyOf } from "./config.js";

export interface OpenedJob {
  loaded: LoadedJob;
  policy: LoadedPolicy;
  repository: Repository;
  close(): Promise<void>;
}

export async function openJobRepository(options: {
  configDir: string;
  job: string;
  env: NodeJS.ProcessEnv;
  /** The kind the command works on, and the command's name for the message when it is another. */
  kind: string;
  command: string;
  /** The command writes (wal push, ship): sign with the policy's signing key. */
  sign?: boolean;
  /** The command reads and may accept unsigned records (wal fetch --allow-unsigned). */
  allowUnsigned?: boolean;
}): Promise<OpenedJob> {
  const config = await openConfig(options.configDir, options.env);
  const loaded = jobByName(config, options.job);
  if (loaded.job.kind !== options.kind) {
    throw new UsageError(
      `job ${options.job} is a ${loaded.job.kind} job; ${options.command} work on ${options.kind} jobs only`,
    );
  }
  const policy = policyOf(config, loaded);
  const repository = await openRepository(policy, options.env, {
    sign: options.sign === true,
    allowUnsigned: options.allowUnsigned === true,
  });
  return { loaded, policy, repository, close: () => repository.backend.close() };
}
