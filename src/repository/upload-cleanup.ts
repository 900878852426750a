/**
 * Incomplete uploads: the two moments backdrill removes them for a job, through the backend's
 * `abortIncompleteUploads` capability (S3: storage/s3/incomplete-uploads.ts; local: temp files).
 *
 * Why: a failed `put` aborts its own upload, but when the server is unreachable at that moment
 * (the very failure that broke the upload) the AbortMultipartUpload cannot be sent, and a
 * SIGKILLed run never sends it. Such uploads are invisible to ListObjects, yet their parts are
 * stored and billed until the bucket's AbortIncompleteMultipartUpload lifecycle rule (7 days,
 * `open-repository.ts`) removes them. So backdrill removes them itself as soon as it is safe:
 *
 *   - at the start of a backup, while the job's lock is held: every upload under `data/<job>/`
 *     (only a run of this job writes there, and the lock says no other run is alive);
 *   - during `prune` of a job: under `data/<job>/` and `snapshots/<job>/` every upload when
 *     prune holds the job's lock, or only those older than the running holder's start (minus
 *     clock skew) when another run holds it; under `wal/<job>/`, written by `wal push` without
 *     any lock, only uploads older than `WAL_UPLOAD_MAX_AGE_MS` (a 16 MiB segment takes seconds,
 *     so an upload an hour old belongs to a dead archiver).
 *
 * Failures here never fail the backup or prune: they are logged, and the lifecycle rule remains
 * the backstop.
 */
import type { Logger } from "../log/logger.js";
import type { Backend } from "../storage/backend.js";

/** WAL uploads older than this are leftovers of a dead `wal push` (see the file comment). */
export const WAL_UPLOAD_MAX_AGE_MS = 60 * 60 * 1000;

/**
 * Lock generations (`locks/<job>/<n>.json`) are a few hundred bytes written and synced in
 * milliseconds, by the lock holder and by contenders alike, and a contender may be writing one
 * while we hold the lock. A temporary file there older than this is the leftover of a killed run;
 * a younger one may still be a contender's (removing it would only fail that contender's attempt,
 * which could not have won, but there is no need to).
 */
export const LOCK_UPLOAD_MAX_AGE_MS = 2_000;

/** The lock-log scope of a job's cleanup: temporary files of killed lock writes, judged by age. */
function lockScope(job: string, now: Date): { prefix: string; olderThan: Date } {
  return { prefix: `locks/${job}/`, olderThan: new Date(now.getTime() - LOCK_UPLOAD_MAX_AGE_MS) };
}

export interface JobCleanupOptions {
  log: Logger;
  signal?: AbortSignal;
}

/**
 * At the start of a backup, with the job's lock held: aborts every incomplete upload under
 * `data/<job>/` (S3 multipart uploads, local temporary files) and the dead temporary files of lock
 * writes under `locks/<job>/`. Never throws (but an abort of
 * `signal` still stops it).
 */
export async function abortDeadBackupUploads(
  backend: Backend,
  job: string,
  options: JobCleanupOptions,
): Promise<number> {
  return cleanup(backend, [{ prefix: `data/${job}/` }, lockScope(job, new Date())], options);
}

/**
 * During `prune` of a job. `olderThan`: undefined when prune holds the job's lock (every upload
 * under data/ and snapshots/ is dead); otherwise the moment before which uploads cannot belong to
 * the run holding it. WAL uploads are judged by age alone.
 */
export async function abortDeadPruneUploads(
  backend: Backend,
  job: string,
  options: JobCleanupOptions & { olderThan?: Date | undefined; now?: Date },
): Promise<number> {
  const now = options.now ?? new Date();
  const lockScoped = options.olderThan === undefined ? {} : { olderThan: options.olderThan };
  return cleanup(
    backend,
    [
      { prefix: `data/${job}/`, ...lockScoped },
      { prefix: `snapshots/${job}/`, ...lockScoped },
      { prefix: `wal/${job}/`, olderThan: new Date(now.getTime() - WAL_UPLOAD_MAX_AGE_MS) },
      lockScope(job, now),
    ],
    options,
  );
}

async function cleanup(
  backend: Backend,
  scopes: Array<{ prefix: string; olderThan?: Date }>,
  options: JobCleanupOptions,
): Promise<number> {
  if (backend.abortIncompleteUploads === undefined) return 0;
  let aborted = 0;
  for (const scope of scopes) {
    options.signal?.throwIfAborted();
    try {
      const result = await backend.abortIncompleteUploads(scope.prefix, {
        ...(scope.olderThan === undefined ? {} : { olderThan: scope.olderThan }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      aborted += result.aborted.length;
      for (const upload of result.aborted) {
        options.log.info(
          { key: upload.key, initiated: upload.initiated.toISOString() },
          "removed an incomplete upload left by a failed run",
        );
      }
      for (const upload of result.failed) {
        options.log.warn(
          { key: upload.key, error: upload.error },
          "could not remove an incomplete upload (on S3 the bucket's lifecycle rule will)",
        );
      }
    } catch (error) {
      if (options.signal?.aborted) throw error;
      options.log.warn(
        { prefix: scope.prefix, error: error instanceof Error ? error.message : String(error) },
        "could not list incomplete uploads (on S3 the bucket's lifecycle rule will remove them)",
      );
    }
  }
  return aborted;
}
