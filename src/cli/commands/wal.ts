/**
 * `backdrill wal push|fetch|ship`: PostgreSQL's archive_command and restore_command (with
 * `--prefetch`, the fallback of the restore_command line in restore-command.ts), and the
 * drainer of a spool directory. Thin: argv → the job's repository (app layer) → the
 * postgres-base kind's wal-commands.ts.
 *
 * Exit statuses follow PostgreSQL's contracts rather than only backdrill's usual codes:
 *   push   0 only once durably stored (or already archived with the same content); else 1/2.
 *   fetch  0 restored; 1 not in the archive (PostgreSQL asks for such files routinely);
 *          126 any other failure (storage, decryption, config): PostgreSQL treats a status above
 *          125 as fatal and stops recovery, instead of ending recovery early at the "missing" file.
 *   ship   0 / 1 (with --once: 1 when a file could not be shipped).
 */
import { redact } from "../../log/redact.js";
import { UsageError } from "../../errors.js";
import { requireIdentities } from "../../app/identity.js";
import { openJobRepository } from "../../app/job-repository.js";
import {
  walFetch,
  walPush,
  walShip,
  type PrefetchRequest,
  type WalJob,
} from "../../kinds/postgres-base/wal-commands.js";
import { PREFETCH_DIR } from "../../kinds/postgres-base/restore-command.js";
import { MAX_PREFETCH } from "../../kinds/postgres-base/prefetch.js";
import type { Logger } from "../../log/logger.js";
import { DURATION_HELP, isDuration, parseDurationSeconds } from "../../schema/duration.js";
import { defineCommand } from "../command.js";

/** Exit status that PostgreSQL's restore_command handling treats as fatal (see above). */
const FETCH_FAILED_FATAL = 126;

/**
 * `--prefetch N --prefetch-dir D` of fetch. Bad values are errors like any other of fetch (exit
 * 126, see above): a restore_command that exits 2 would read as "not archived" and end recovery.
 */
function prefetchOptions(
  count: string | undefined,
  dir: string | undefined,
  log: Logger,
): PrefetchRequest | undefined {
  if (count === undefined || count === "") {
    if (dir !== undefined) throw new UsageError("--prefetch-dir goes with --prefetch N");
    return undefined;
  }
  if (!/^\d+$/.test(count) || Number(count) > MAX_PREFETCH) {
    throw new UsageError(
      `--prefetch ${JSON.stringify(count)}: give a whole number of segments from 0 to ${MAX_PREFETCH}`,
    );
  }
  if (Number(count) === 0) return undefined;
  if (dir === undefined || dir.trim() === "" || /[\0\n\r]/.test(dir)) {
    throw new UsageError(`--prefetch ${count} needs --prefetch-dir (e.g. ${PREFETCH_DIR})`);
  }
  return { count: Number(count), dir, log };
}

function expectArgs(action: string, args: string[], names: string[]): string[] {
  if (args.length !== names.length) {
    throw new UsageError(
      `wal ${action} takes ${names.map((name) => `<${name}>`).join(" ")} after the job; got ${args.length} argument(s)`,
    );
  }
  return args;
}

export const walCommand = defineCommand({
  builder: (yargs) =>
    yargs
      .positional("action", { type: "string", choices: ["push", "fetch", "ship"], demandOption: true })
      .positional("job", { type: "string", demandOption: true, describe: "a postgres-base job" })
      .positional("args", { type: "string", array: true, default: [] as string[] })
      .option("identity", {
        type: "string",
        describe: "fetch: age identity file (default $BACKDRILL_IDENTITY_FILE)",
      })
      .option("allow-unsigned", {
        type: "boolean",
        default: false,
        describe:
          "fetch: accept WAL files archived before signing was set up (no signed record); a bad signature is still refused",
      })
      .option("prefetch", {
        type: "string",
        describe: `fetch: after the file, fetch, decrypt and verify the next N segments into --prefetch-dir (0 to ${MAX_PREFETCH}; default 0)`,
      })
      .option("prefetch-dir", {
        type: "string",
        describe: `fetch: where prefetched segments wait for the restore_command line (${PREFETCH_DIR} in the data directory)`,
      })
      .option("once", { type: "boolean", default: false, describe: "ship: drain the spool once and exit" })
      .option("interval", { type: "string", default: "1s", describe: "ship: how often to look at the spool" })
      .example("$0 wal push task-wal %p", "archive_command")
      .example("$0 wal fetch task-wal %f %p", "restore_command")
      .example(
        `$0 wal fetch task-wal %f %p --prefetch 8 --prefetch-dir ${PREFETCH_DIR}`,
        "restore_command's fallback with prefetch (restore --to writes the whole line)",
      )
      .example(
        "$0 wal ship task-wal /var/spool/backdrill/task-wal",
        "drain a spool directory (long-running)",
      ),
  run: async (context, args) => {
    const rest = (args.args ?? []).map(String);
    const open = async (): Promise<{ job: WalJob; close: () => Promise<void> }> => {
      const opened = await openJobRepository({
        configDir: context.configDir,
        job: args.job,
        env: process.env,
        kind: "postgres-base",
        command: "wal push/fetch/ship",
        // push and ship write records: signed with the policy's key (a fetch only reads them).
        sign: args.action !== "fetch",
        allowUnsigned: args["allow-unsigned"],
      });
      const loaded = opened.loaded.job;
      const job: WalJob = {
        name: loaded.name,
        archiveRpo: loaded.kind === "postgres-base" ? loaded.archiveRpo : undefined,
        compression: loaded.kind === "postgres-base" ? loaded.compression : "none",
        repository: opened.repository,
        policy: opened.policy,
      };
      return { job, close: opened.close };
    };
    const withJob = async <T>(work: (job: WalJob) => Promise<T>): Promise<T> => {
      const { job, close } = await open();
      try {
        return await work(job);
      } finally {
        await close();
      }
    };
    switch (args.action) {
      case "push": {
        const [file = ""] = expectArgs("push", rest, ["path"]);
        const started = Date.now();
        const outcome = await withJob((job) =>
          walPush(job, file, context.signal, { log: context.log, env: process.env }),
        );
        context.log.info(
          { wal: outcome.name, result: outcome.result, ms: Date.now() - started },
          "WAL archived",
        );
        if (context.json) context.printJson(outcome);
        return 0;
      }
      case "fetch": {
        const [name = "", dest = ""] = expectArgs("fetch", rest, ["name", "dest"]);
        let found: boolean;
        try {
          const prefetch = prefetchOptions(args.prefetch, args["prefetch-dir"], context.log);
          const { identities } = await requireIdentities(
            args.identity,
            process.env,
            "wal fetch",
            "or set BACKDRILL_IDENTITY_FILE in the environment PostgreSQL runs restore_command with",
          );
          const fetched = await withJob((job) =>
            walFetch(job, name, dest, identities, context.signal, prefetch),
          );
          found = fetched.found;
          if (fetched.prefetch !== null) {
            const { fetched: ahead, present, missing, error } = fetched.prefetch;
            context.log.info(
              { wal: name, prefetched: ahead.length, present: present.length, missing, error },
              "WAL prefetched",
            );
          }
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          process.stderr.write(`backdrill: wal fetch ${name} failed: ${redact(message)}\n`);
          return FETCH_FAILED_FATAL;
        }
        if (!found) {
          // PostgreSQL asks for files past the end of the archive on purpose: not an error.
          context.log.info({ wal: name }, "not in the archive");
          return 1;
        }
        context.log.info({ wal: name }, "WAL restored");
        return 0;
      }
      default: {
        const [spool = ""] = expectArgs("ship", rest, ["spool"]);
        if (!isDuration(args.interval)) {
          throw new UsageError(`--interval: expected ${DURATION_HELP}, got ${JSON.stringify(args.interval)}`);
        }
        const intervalMs = parseDurationSeconds(args.interval) * 1000;
        const outcome = await withJob((job) =>
          walShip(job, { spool, once: args.once, intervalMs, log: context.log, signal: context.signal }),
        );
        if (context.json) context.printJson(outcome);
        if ("once" in outcome) {
          const { stored, alreadyArchived, failed, ignored } = outcome.once;
          context.print(
            `shipped ${stored.length}, already archived ${alreadyArchived.length}, failed ${failed.length}, ignored ${ignored.length}`,
          );
          for (const failure of failed) context.print(`  FAILED ${failure.name}: ${failure.error}`);
          return failed.length > 0 ? 1 : 0;
        }
        context.print(`shipped ${outcome.shipped} file(s); ${outcome.failedRounds} round(s) with failures`);
        return 0;
      }
    }
  },
});
