/**
 * Backup of a `files` job:
 *
 *   1. list the destination; a leftover `<id>.partial` of an interrupted run is renamed to this
 *      run's `.partial` and reused (rsync then only sends what is missing), older ones removed;
 *   2. rsync source → `<id>.partial`, unchanged files hard-linked to the newest complete snapshot,
 *      while this thread walks the source beside the previous hash cache; files rsync linked
 *      although their source inode changed with size and mtime kept are copied again
 *      (source-changes.ts);
 *   3. walk the new tree, hash each file not known unchanged from the previous snapshot's hash
 *      cache (local: node:crypto; remote: sha256sum on the destination host), and stream the
 *      per-file manifest out as the encrypted `files.jsonl` artifact while the new hash cache
 *      goes to a temp file (snapshot-manifest.ts); then put the cache beside the snapshots;
 *
 * Both walks are in tree order and merged with the sorted cache, so memory does not grow with the
 * number of files (issue 19).
 *   5. rename `<id>.partial` → `<id>`: the directory looks complete
 *      only once it is, and the manifest describes exactly what was stored, not the source.
 *
 * A failure anywhere leaves at most a `.partial` directory (never taken for a snapshot, reused by
 * the next run) and the runner commits no repository snapshot. Nothing complete is ever removed.
 */
import path from "node:path";
import { Readable } from "node:stream";
import type { FilesJob } from "./job-schema.js";
import { OperationError } from "../../errors.js";
import type { BackupContext, BackupOutcome } from "../contract.js";
import { FILES_MANIFEST_ARTIFACT } from "./entries.js";
import { FILES_FACTS_FORMAT, type FilesFacts } from "./facts.js";
import { locateDestination } from "./destination.js";
import { cacheHeader, HashCacheReader } from "./hash-cache.js";
import { LineCursor, LocalLineWriter, readLocalLines } from "./line-files.js";
import { walkLocalTree } from "./local-tree.js";
import type { Place } from "./place.js";
import { emptyTotals, snapshotManifest } from "./snapshot-manifest.js";
import { recordSource } from "./source-changes.js";
import { privateTempDir } from "./transfer.js";
import { baseRsyncArgs, contentsOf, runRsync, RSYNC_VANISHED } from "./rsync.js";
import {
  cacheFile,
  classifyDestination,
  joinRemote,
  PARTIAL_SUFFIX,
  snapshotDirName,
  STATE_DIR,
} from "./snapshot-dirs.js";

export async function backupFiles(context: BackupContext<FilesJob>): Promise<BackupOutcome<FilesFacts>> {
  const { job, log, signal } = context;
  const { place, root } = locateDestination(job);
  const name = snapshotDirName(context.snapshot);
  const partial = joinRemote(root, `${name}${PARTIAL_SUFFIX}`);
  const final = joinRemote(root, name);
  const where = place.describe(root);

  await place.mkdirp(joinRemote(root, STATE_DIR), signal);
  const listing = classifyDestination((await place.list(root, signal)) ?? []);
  if (listing.complete.includes(name)) {
    throw new OperationError(
      `job ${job.name}: ${place.describe(final)} already exists; refusing to overwrite a snapshot`,
    );
  }
  const previous = listing.complete.at(-1);

  // Resume: the newest leftover becomes our .partial (what it holds is reused); older ones go.
  const leftovers = [...listing.partial];
  const resume = leftovers.pop();
  for (const stale of leftovers) {
    log.warn(
      { dir: place.describe(joinRemote(root, stale)) },
      "files: removing an older interrupted snapshot",
    );
    await place.removeTree(joinRemote(root, stale), signal);
  }
  if (resume !== undefined) {
    log.warn({ dir: place.describe(joinRemote(root, resume)) }, "files: resuming an interrupted snapshot");
    await place.rename(joinRemote(root, resume), partial, signal);
  }

  const args = [
    ...baseRsyncArgs(),
    "--delete",
    "--delete-excluded",
    ...job.exclude.map((pattern) => `--exclude=${pattern}`),
    ...(previous === undefined ? [] : [`--link-dest=${joinRemote(root, previous)}`]),
    ...place.rsyncArgs(),
    contentsOf(job.source),
    contentsOf(place.rsyncPath(partial)),
  ];
  log.info(
    { source: job.source, destination: place.describe(partial), linkDest: previous ?? null },
    "files: rsync",
  );
  const previousCache = (): Promise<HashCacheReader | undefined> =>
    previous === undefined ? Promise.resolve(undefined) : openCache(place, cacheFile(root, previous), signal);
  // Three local temp files, streamed through: this run's source records, the paths to copy again,
  // and the new hash cache.
  const temp = await privateTempDir(context.scope, "backdrill-files-backup-");
  const records = new LocalLineWriter(path.join(temp, "source.jsonl"));
  const recopy = new LocalLineWriter(path.join(temp, "recopy.list"));
  const cache = new LocalLineWriter(path.join(temp, "cache.jsonl"));
  try {
    const forSource = await previousCache();
    const rsyncStartedNs = BigInt(Date.now()) * 1_000_000n;
    // The source as it is now, walked on this thread while rsync copies in its own processes.
    const [copied, sourceWalk] = await Promise.allSettled([
      runRsync(args, { signal, description: `rsync of ${job.source} to ${where}`, allowVanished: true }),
      recordSource({
        walk: walkLocalTree(job.source, signal, { skipVanished: true }),
        previous: forSource,
        rsyncStartedNs,
        records,
        recopy,
      }).finally(() => forSource?.close()),
    ]);
    if (copied.status === "rejected") throw copied.reason;
    if (sourceWalk.status === "rejected") throw sourceWalk.reason;
    const rsync = copied.value;
    records.close();
    recopy.close();

    // Files rsync took as unchanged (same size and mtime) whose source inode changed since the
    // previous snapshot: copied again, not linked.
    if (recopy.count > 0) {
      log.info({ files: recopy.count }, "files: re-copying files changed with their size and mtime kept");
      await runRsync(
        [
          ...baseRsyncArgs(),
          "-I",
          "--from0",
          `--files-from=${recopy.file}`,
          ...job.exclude.map((pattern) => `--exclude=${pattern}`),
          ...place.rsyncArgs(),
          contentsOf(job.source),
          contentsOf(place.rsyncPath(partial)),
        ],
        {
          signal,
          description: `rsync of ${recopy.count} changed files of ${job.source} to ${where}`,
          allowVanished: true,
        },
      );
    }
    if (rsync.exitCode === RSYNC_VANISHED) {
      log.warn(
        { job: job.name },
        "files: some source files vanished during rsync (exit 24); they are not in the snapshot",
      );
    }

    // Hash what rsync stored (reusing the previous snapshot's hashes for hard-linked files) and
    // stream the manifest into the repository; the new cache's lines go to the temp file.
    const totals = emptyTotals();
    cache.write(cacheHeader());
    const forHash = await previousCache();
    const sourceRecords = LineCursor.of(readLocalLines(records.file, signal));
    try {
      await context.snapshot.addArtifact(
        FILES_MANIFEST_ARTIFACT,
        Readable.from(
          snapshotManifest({
            place,
            dir: partial,
            signal,
            previous: forHash,
            sourceRecords,
            cache,
            totals,
            job: job.name,
          }),
          // Two batches ahead of the encryption at most: the manifest never piles up in memory.
          { objectMode: true, highWaterMark: 2 },
        ),
        { signal },
      );
    } finally {
      await forHash?.close();
      await sourceRecords.close();
    }
    cache.close();
    await place.putFile(cache.file, cacheFile(root, name), signal);
    signal.throwIfAborted();
    await place.rename(partial, final, signal);
    log.info(
      {
        snapshotDir: name,
        files: totals.files,
        bytes: totals.bytes,
        hashedFiles: totals.hashedFiles,
        hashedBytes: totals.hashedBytes,
      },
      "files: snapshot complete",
    );
    const { hashedFiles, hashedBytes, ...counts } = totals;
    const facts: FilesFacts = {
      format: FILES_FACTS_FORMAT,
      destination: job.destination,
      snapshotDir: name,
      linkDest: previous ?? null,
      ...counts,
      hashedFiles,
      hashedBytes,
      exclude: job.exclude,
      manifestArtifact: FILES_MANIFEST_ARTIFACT,
    };
    return {
      facts,
      meta: {
        snapshotDir: name,
        linkDest: previous ?? null,
        files: totals.files,
        bytes: totals.bytes,
        hashedFiles,
        transferredBytes: rsync.transferredBytes ?? null,
        resumed: resume !== undefined,
      },
    };
  } finally {
    records.close();
    recopy.close();
    cache.close();
  }
}

async function openCache(
  place: Place,
  file: string,
  signal: AbortSignal,
): Promise<HashCacheReader | undefined> {
  return HashCacheReader.open(await place.readLines(file, signal));
}
