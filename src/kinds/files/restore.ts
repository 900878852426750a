/**
 * Disaster restore of a `files` snapshot: `--to /path` or `--to user@host:/path`.
 *
 *   - the snapshot directory is taken from the destination recorded in the facts;
 *   - a non-empty target is refused without --force; with --force files of the snapshot are
 *     written over, and files in the target that are not in the snapshot are KEPT (a restore
 *     never deletes data it did not bring);
 *   - after the copy every file is checked (size, mode, mtime, sha256) against the manifest in
 *     the repository, on the target host itself; any difference fails the restore.
 *
 * SSH to a remote target: key from extra.sshKey (--ssh-key) or BACKDRILL_RESTORE_SSH_KEY,
 * known_hosts from extra.knownHosts (--known-hosts) or BACKDRILL_RESTORE_KNOWN_HOSTS (default:
 * ssh's own), port from extra.sshPort (--ssh-port). Host keys are always verified.
 */
import type { FilesJob } from "./job-schema.js";
import { OperationError, UsageError } from "../../errors.js";
import type { RestoreContext, RestorePlan } from "../engine.js";
import { locateDestination, locateTarget, type Located } from "./destination.js";
import { readFilesFacts, type FilesFacts } from "./facts.js";
import { joinRemote } from "./snapshot-dirs.js";
import { copyTree, needsStaging } from "./transfer.js";
import { formatBytes, readManifestEntries, verifyTree } from "./verify.js";

interface Resolved {
  facts: FilesFacts;
  source: Located;
  snapshotDir: string;
  target: Located;
}

function resolve(context: RestoreContext<FilesJob>): Resolved {
  const { job, options, env } = context;
  const facts = readFilesFacts(context.facts, job.name);
  const source = locateDestination({ ...job, destination: facts.destination });
  const portText = options.extra.sshPort ?? env.BACKDRILL_RESTORE_SSH_PORT;
  const port = portText === undefined || portText === "" ? undefined : Number(portText);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new UsageError(`--ssh-port: expected a port number 1-65535, got "${portText}"`);
  }
  const target = locateTarget(options.to, {
    keyFile: nonEmpty(options.extra.sshKey) ?? nonEmpty(env.BACKDRILL_RESTORE_SSH_KEY),
    knownHostsFile: nonEmpty(options.extra.knownHosts) ?? nonEmpty(env.BACKDRILL_RESTORE_KNOWN_HOSTS),
    port,
  });
  return { facts, source, snapshotDir: joinRemote(source.root, facts.snapshotDir), target };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

export async function planFilesRestore(context: RestoreContext<FilesJob>): Promise<RestorePlan> {
  const { facts, source, snapshotDir, target } = resolve(context);
  const from = source.place.describe(snapshotDir);
  const to = target.place.describe(target.root);
  const warnings: string[] = [];
  // Read-only look-ups, so --dry-run already tells the operator what would stop the restore.
  if ((await source.place.list(snapshotDir, context.signal)) === null) {
    warnings.push(`the snapshot directory ${from} does not exist (pruned or moved?); the restore will fail`);
  }
  const existing = await target.place.list(target.root, context.signal);
  if (existing !== null && existing.length > 0) {
    warnings.push(
      context.options.force
        ? `${to} is not empty (${existing.length} entries): files of the snapshot are overwritten, other files are kept`
        : `${to} is not empty (${existing.length} entries): the restore refuses without --force`,
    );
  }
  if (needsStaging({ ...source, dir: snapshotDir }, { ...target, dir: target.root })) {
    warnings.push(
      `both ends are remote: the snapshot is staged in a temp dir on this machine (${formatBytes(facts.bytes)})`,
    );
  }
  return {
    steps: [
      `copy snapshot directory ${from} to ${to} with rsync -aH --numeric-ids (${facts.files} files, ${formatBytes(facts.bytes)}, ${facts.dirs} directories, ${facts.symlinks} symlinks)`,
      `check every file's size, mode, mtime and sha256 on ${to} against the snapshot's manifest`,
    ],
    warnings,
  };
}

export async function restoreFiles(context: RestoreContext<FilesJob>, _plan: RestorePlan): Promise<void> {
  const { job, scope, signal, log, options } = context;
  const { facts, source, snapshotDir, target } = resolve(context);
  const to = target.place.describe(target.root);
  const existing = await target.place.list(target.root, signal);
  if (existing !== null && existing.length > 0 && !options.force) {
    throw new UsageError(
      `--to ${to} is not empty (${existing.length} entries); refusing to restore over it`,
      {
        hint: "restore into an empty directory, or pass --force to write the snapshot's files over it (other files are kept)",
      },
    );
  }
  if ((await source.place.list(snapshotDir, signal)) === null) {
    throw new OperationError(
      `job ${job.name}: snapshot directory ${source.place.describe(snapshotDir)} does not exist`,
    );
  }
  const expected = await readManifestEntries(context.artifacts, facts.manifestArtifact, signal);
  await target.place.mkdirp(target.root, signal);
  log.info({ from: source.place.describe(snapshotDir), to }, "files restore: copying");
  await copyTree(
    { place: source.place, dir: snapshotDir, remote: source.remote },
    { place: target.place, dir: target.root, remote: target.remote },
    { scope, signal, log },
  );
  const owners = target.remote ? /^root@/.test(to) : process.getuid?.() === 0;
  const verified = await verifyTree(target.place, target.root, expected, { owners, signal });
  // Extra files are expected with --force (they were kept on purpose); everything else must match.
  const failed = verified.checks.filter(
    (check) => !check.ok && !(check.name === "file list" && verified.details.missing === 0),
  );
  if (failed.length > 0) {
    throw new OperationError(
      `restore of ${job.name} to ${to} finished but does not match the snapshot: ${failed.map((check) => `${check.name}: ${check.detail}`).join("; ")}`,
    );
  }
  log.info({ to, files: verified.details.files, bytes: verified.details.bytes }, "files restore: verified");
}
