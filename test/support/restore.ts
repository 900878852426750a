/** Restores a snapshot through the restore runner, as `backdrill restore` does, without a config dir. */
import type { JobLike, RestoreFlagValues } from "../../src/kinds/contract.js";
import type { Logger } from "../../src/log/logger.js";
import type { Repository } from "../../src/repository/repository.js";
import { restoreSnapshot, type RestoreInput, type RestoreOutcome } from "../../src/runner/restore.js";

export interface TestRestore {
  kind: RestoreInput["kind"];
  job: JobLike;
  repository: Repository;
  identity: string;
  /** `latest` (default) or a snapshot id. */
  snapshot?: string;
  to: string;
  force?: boolean;
  dryRun?: boolean;
  flags?: RestoreFlagValues;
  identityFile?: string;
  log: Logger;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  configDir?: string;
}

export function restoreWith(options: TestRestore): Promise<RestoreOutcome> {
  return restoreSnapshot(
    {
      job: options.job,
      kind: options.kind,
      repository: options.repository,
      snapshot: options.snapshot ?? "latest",
      identities: [options.identity],
      identityFile: options.identityFile ?? "/secure/identity.txt",
      to: options.to,
      force: options.force ?? false,
      flags: options.flags ?? {},
      dryRun: options.dryRun ?? false,
    },
    {
      log: options.log,
      signal: options.signal ?? new AbortController().signal,
      env: options.env ?? {},
      configDir: options.configDir ?? process.cwd(),
    },
  );
}
