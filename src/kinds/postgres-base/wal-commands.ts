/**
 * The library behind `backdrill wal push | fetch | ship`: PostgreSQL's archive_command and
 * restore_command. Each call opens the configuration, checks that the job is a postgres-base job,
 * opens its policy's repository and does one thing.
 *
 * Contracts (PostgreSQL documentation, "Continuous Archiving"):
 *   - push resolves only once the file is durably stored (exit 0); any failure throws (non-zero),
 *     and PostgreSQL keeps the segment and retries. The same content twice succeeds; different
 *     content under an archived name fails and never overwrites.
 *   - fetch returns false when the archive has no such file (exit 1: "not available", which
 *     PostgreSQL asks for routinely, e.g. the next timeline's history file). Any other failure
 *     throws, and the CLI turns it into an exit status above 125, which makes PostgreSQL stop
 *     recovery with an error instead of treating the file as missing and ending recovery early.
 */
import { openConfig, jobByName, policyOf } from "../../app/config.js";
import { openRepository } from "../../repository/open.js";
import { readRecipients } from "../../config/secrets.js";
import type { LoadedPolicy } from "../../config/types.js";
import { readIdentityFile } from "../../crypto/keys.js";
import { UsageError } from "../../errors.js";
import type { Logger } from "../../log/logger.js";
import { drainSpool, shipSpool, type DrainResult } from "./spool.js";
import { WalArchive, type PushResult } from "./wal-archive.js";

export interface WalCommandOptions {
  configDir: string;
  job: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

interface OpenedArchive {
  archive: WalArchive;
  policy: LoadedPolicy;
  close(): Promise<void>;
}

async function openJobArchive(options: WalCommandOptions): Promise<OpenedArchive> {
  const env = options.env ?? process.env;
  const config = await openConfig(options.configDir, env);
  const loaded = jobByName(config, options.job);
  if (loaded.job.kind !== "postgres-base") {
    throw new UsageError(
      `job ${options.job} is a ${loaded.job.kind} job; wal push/fetch/ship work on postgres-base jobs only`,
    );
  }
  const policy = policyOf(config, loaded);
  const repository = await openRepository(policy, env);
  return {
    archive: new WalArchive(repository, loaded.job.name),
    policy,
    close: () => repository.backend.close(),
  };
}

/** archive_command: `backdrill wal push <job> %p`. */
export async function walPush(
  options: WalCommandOptions & { path: string },
): Promise<{ name: string; result: PushResult }> {
  const opened = await openJobArchive(options);
  try {
    const recipients = await readRecipients(opened.policy);
    // Archiving may start before the first base backup: make sure the repository exists.
    await opened.archive.repository.init();
    const result = await opened.archive.push(options.path, recipients, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const name = options.path.split("/").at(-1) ?? options.path;
    return { name, result };
  } finally {
    await opened.close();
  }
}

/** The identity for fetch: --identity, else $BACKDRILL_IDENTITY_FILE. */
async function fetchIdentities(identityFile: string | undefined, env: NodeJS.ProcessEnv): Promise<string[]> {
  const file = identityFile ?? env.BACKDRILL_IDENTITY_FILE;
  if (file === undefined || file === "") {
    throw new UsageError("wal fetch needs the age identity that opens the archive: pass --identity FILE", {
      hint: "or set BACKDRILL_IDENTITY_FILE in the environment PostgreSQL runs restore_command with",
    });
  }
  return readIdentityFile(file);
}

/** restore_command: `backdrill wal fetch <job> %f %p`. False: not in the archive. */
export async function walFetch(
  options: WalCommandOptions & { name: string; dest: string; identityFile?: string | undefined },
): Promise<boolean> {
  const identities = await fetchIdentities(options.identityFile, options.env ?? process.env);
  const opened = await openJobArchive(options);
  try {
    return await opened.archive.fetch(options.name, options.dest, identities, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } finally {
    await opened.close();
  }
}

/** `backdrill wal ship <job> <spool>`: drains once (`once`) or until the signal aborts. */
export async function walShip(
  options: WalCommandOptions & { spool: string; once: boolean; intervalMs: number; log: Logger },
): Promise<{ once: DrainResult } | { shipped: number; failedRounds: number }> {
  const opened = await openJobArchive(options);
  try {
    const recipients = await readRecipients(opened.policy);
    await opened.archive.repository.init();
    const signal = options.signal ?? new AbortController().signal;
    if (options.once) {
      return {
        once: await drainSpool(opened.archive, recipients, options.spool, { signal, log: options.log }),
      };
    }
    return await shipSpool(opened.archive, recipients, options.spool, {
      signal,
      log: options.log,
      intervalMs: options.intervalMs,
    });
  } finally {
    await opened.close();
  }
}
