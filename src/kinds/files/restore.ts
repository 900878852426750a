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
 * SSH to a remote target: key from --ssh-key or BACKDRILL_RESTORE_SSH_KEY, known_hosts from
 * --known-hosts or BACKDRILL_RESTORE_KNOWN_HOSTS (default: ssh's own), port from --ssh-port
 * (restore-options.ts). Host keys are always verified.
 */
import type { FilesJob } from "./job-schema.js";
import { OperationError, UsageError } from "../../errors.js";
import type { RestoreContext, RestorePlan } from "../contract.js";
import { locateDestination, locateTarget, type Located } from "./destination.js";
import { checkFilesFacts, type FilesFacts } from "./facts.js";
import type { FilesRestoreOptions } from "./restore-options.js";
import { joinRemote } from "./snapshot-dirs.js";
import { copyTree, needsStaging } from "./transfer.js";
import { formatBytes } from "../../util/format-bytes.js";
import { readManifestEntries, verifyTree } from "./verify.js";

type FilesRestoreContext = RestoreContext<FilesJob, FilesFacts, FilesRestoreOptions>;

/** What apply executes: where the snapshot directory is, and where it goes. */
export interface FilesRestorePlan {
  source: Located;
  snapshotDir: string;
  target: Located;
}

export async function planFilesRestore(context: FilesRestoreContext): Promise<RestorePlan<FilesRestorePlan>> {
  const { job, facts, options, signal } = context;
  checkFilesFacts(facts, context.artifacts, job);
  const source = locateDestination({ ...job, destination: facts.destination });
  const snapshotDir = joinRemote(source.root, facts.snapshotDir);
  const target = locateTarget(context.to, {
    keyFile: options.sshKey,
    knownHostsFile: options.knownHosts,
    port: options.sshPort,
  });
  const from = source.place.describe(snapshotDir);
  const to = target.place.describe(target.root);
  const warnings: string[] = [];
  // Read-only look-ups, so --dry-run already tells the operator what would stop the restore.
  if ((await source.place.list(snapshotDir, signal)) === null) {
    warnings.push(`the snapshot directory ${from} does not exist (pruned or moved?); the restore will fail`);
  }
  const existing = await target.place.list(target.root, signal);
  if (existing !== null && existing.length > 0) {
    warnings.push(
      context.force
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
    data: { source, snapshotDir, target },
  };
}

export async function applyFilesRestore(
  context: FilesRestoreContext,
  plan: RestorePlan<FilesRestorePlan>,
): Promise<void> {
  const { job, scope, signal, log, facts } = context;
  const { source, snapshotDir, target } = plan.data;
  const to = target.place.describe(target.root);
  const existing = await target.place.list(target.root, signal);
  if (existing !== null && existing.length > 0 && !context.force) {
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
