/**
 * Backup of a `files` job:
 *
 *   1. list the destination; a leftover `<id>.partial` of an interrupted run is renamed to this
 *      run's `.partial` and reused (rsync then only sends what is missing), older ones removed;
 *   2. rsync source → `<id>.partial`, unchanged files hard-linked to the newest complete snapshot,
 *      while this thread scans the source; files rsync linked although their source inode changed
 *      with size and mtime kept are copied again (source-changes.ts);
 *   3. scan the new tree, hash each file not known unchanged from the previous snapshot's hash
 *      cache (local: node:crypto in parallel; remote: sha256sum on the destination host);
 *   4. store the per-file manifest as the encrypted `files.jsonl` artifact and, at the same time,
 *      write the hash cache;
 *   5. rename `<id>.partial` → `<id>`: the directory looks complete
 *      only once it is, and the manifest describes exactly what was stored, not the source.
 *
 * A failure anywhere leaves at most a `.partial` directory (never taken for a snapshot, reused by
 * the next run) and the runner commits no repository snapshot. Nothing complete is ever removed.
 */
import { Readable } from "node:stream";
import type { FilesJob } from "./job-schema.js";
import { OperationError } from "../../errors.js";
import type { BackupContext, BackupOutcome } from "../contract.js";
import { byPath, FILES_MANIFEST_ARTIFACT, toFileEntry, type FileEntry } from "./entries.js";
import { FILES_FACTS_FORMAT, type FilesFacts } from "./facts.js";
import { locateDestination } from "./destination.js";
import { buildHashCache, cachedHash, parseHashCache, storedCopy } from "./hash-cache.js";
import { scanLocalTree } from "./local-tree.js";
import { buildSourceRecords, filesToRecopy } from "./source-changes.js";
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
  const cache =
    previous === undefined
      ? undefined
      : parseHashCache(await place.readText(cacheFile(root, previous), signal));
  const rsyncStartedNs = BigInt(Date.now()) * 1_000_000n;
  // The source as it is now, scanned on this thread while rsync copies in its own processes.
  const [copied, sourceScan] = await Promise.allSettled([
    runRsync(args, { signal, description: `rsync of ${job.source} to ${where}`, allowVanished: true }),
    scanLocalTree(job.source, signal, { skipVanished: true }),
  ]);
  if (copied.status === "rejected") throw copied.reason;
  if (sourceScan.status === "rejected") throw sourceScan.reason;
  const rsync = copied.value;
  const source = sourceScan.value;

  // Files rsync took as unchanged (same size and mtime) whose source inode changed since the
  // previous snapshot: copied again, not linked.
  const recopy = filesToRecopy(source, cache?.source, (path) => storedCopy(cache, path));
  if (recopy.length > 0) {
    log.info({ files: recopy.length }, "files: re-copying files changed with their size and mtime kept");
    await runRsync(
      [
        ...baseRsyncArgs(),
        "-I",
        "--from0",
        "--files-from=-",
        ...job.exclude.map((pattern) => `--exclude=${pattern}`),
        ...place.rsyncArgs(),
        contentsOf(job.source),
        contentsOf(place.rsyncPath(partial)),
      ],
      {
        signal,
        description: `rsync of ${recopy.length} changed files of ${job.source} to ${where}`,
        allowVanished: true,
        input: recopy.map((path) => `${path}\0`).join(""),
      },
    );
  }
  if (rsync.exitCode === RSYNC_VANISHED) {
    log.warn(
      { job: job.name },
      "files: some source files vanished during rsync (exit 24); they are not in the snapshot",
    );
  }

  // Hash what rsync stored, reusing the previous snapshot's hashes for hard-linked files.
  const scanned = await place.scan(partial, signal);
  const hashes = new Map<string, string>();
  const toHash: Array<{ path: string; size: number }> = [];
  for (const entry of scanned) {
    if (entry.type !== "file") continue;
    const known = cachedHash(cache, entry);
    if (known === undefined) toHash.push({ path: entry.path, size: entry.size });
    else hashes.set(entry.path, known);
  }
  const fresh = await place.hash(partial, toHash, signal);
  for (const [path, sha] of fresh) hashes.set(path, sha);

  const entries: FileEntry[] = [];
  const counts = { files: 0, dirs: 0, symlinks: 0, other: 0, bytes: 0 };
  for (const entry of scanned.sort(byPath)) {
    const sha = entry.type === "file" ? hashes.get(entry.path) : undefined;
    if (entry.type === "file" && sha === undefined) {
      throw new OperationError(
        `job ${job.name}: no checksum for ${entry.path} in ${place.describe(partial)}`,
      );
    }
    entries.push(toFileEntry(entry, sha));
    if (entry.type === "file") {
      counts.files += 1;
      counts.bytes += entry.size;
    } else if (entry.type === "dir") counts.dirs += 1;
    else if (entry.type === "symlink") counts.symlinks += 1;
    else counts.other += 1;
  }
  // The manifest (encrypt, write, fsync) and the hash cache (write, fsync) side by side: each waits
  // on its own fsync. Both settle before anything is decided, so neither outlives the backup.
  const [manifest, cacheWrite] = await Promise.allSettled([
    context.snapshot.addArtifact(FILES_MANIFEST_ARTIFACT, Readable.from(jsonLines(entries)), { signal }),
    place.writeText(
      cacheFile(root, name),
      JSON.stringify(buildHashCache(scanned, hashes, buildSourceRecords(source, rsyncStartedNs))),
      signal,
    ),
  ]);
  if (manifest.status === "rejected") throw manifest.reason;
  if (cacheWrite.status === "rejected") throw cacheWrite.reason;
  signal.throwIfAborted();
  await place.rename(partial, final, signal);

  const hashedBytes = toHash.reduce((sum, file) => sum + file.size, 0);
  log.info(
    { snapshotDir: name, files: counts.files, bytes: counts.bytes, hashedFiles: toHash.length, hashedBytes },
    "files: snapshot complete",
  );
  const facts: FilesFacts = {
    format: FILES_FACTS_FORMAT,
    destination: job.destination,
    snapshotDir: name,
    linkDest: previous ?? null,
    ...counts,
    hashedFiles: toHash.length,
    hashedBytes,
    exclude: job.exclude,
    manifestArtifact: FILES_MANIFEST_ARTIFACT,
  };
  return {
    facts,
    meta: {
      snapshotDir: name,
      linkDest: previous ?? null,
      files: counts.files,
      bytes: counts.bytes,
      hashedFiles: toHash.length,
      transferredBytes: rsync.transferredBytes ?? null,
      resumed: resume !== undefined,
    },
  };
}

function* jsonLines(entries: readonly FileEntry[]): Generator<Buffer> {
  // Batches of lines: one Buffer per entry would make the encrypt stream do 10⁶ tiny writes.
  let batch: string[] = [];
  for (const entry of entries) {
    batch.push(JSON.stringify(entry));
    if (batch.length === 1000) {
      yield Buffer.from(`${batch.join("\n")}\n`);
      batch = [];
    }
  }
  if (batch.length > 0) yield Buffer.from(`${batch.join("\n")}\n`);
}
