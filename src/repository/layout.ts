/**
 * Key layout of a repository, identical on local disk and S3 (docs/architecture.md, "Repository format"):
 *   backdrill.json                           format marker
 *   snapshots/<job>/<snapshotId>.json        manifest, written last: the commit point
 *   data/<job>/<snapshotId>/<artifact>.age   encrypted artifacts
 *   data/<job>/<snapshotId>/manifest.json    copy of the manifest (same bytes, not an artifact),
 *                                            written right after the manifest (pgBackRest's
 *                                            backup.manifest.copy). The order makes the states
 *                                            tell apart: copy without manifest = a committed
 *                                            snapshot whose manifest was deleted (damage);
 *                                            manifest without copy = a run killed between the
 *                                            two writes, or a snapshot older than the copy
 *                                            (warning); neither = an interrupted run (leftover).
 *                                            Deletion runs in reverse: copy, manifest, artifacts.
 *   wal/<job>/<segment>.age                  WAL archive
 *   wal/<job>/<segment>.sha256               sha256 of the plaintext segment: lets `wal push` tell
 *                                            "same content again" (ok) from "different" (refused)
 *                                            without a private key
 *   locks/<job>/<generation>.json            run locks: the newest generation is the lock's state
 *                                            (locks.ts); every change creates the next one
 *   history/<job>/drills/<stamp>-<drill>.json  drill history: the job's part of each drill report,
 *                                            encrypted, signed with the policy's key when it signs
 *                                            (drill-history.ts); what `status` and `report` read
 */
export const MARKER_KEY = "backdrill.json";
/** File name of the manifest copy inside a snapshot's data directory (artifacts end in `.age`). */
export const MANIFEST_COPY_FILE = "manifest.json";

export const layout = {
  marker: MARKER_KEY,
  manifestsPrefix: (job?: string) => (job === undefined ? "snapshots/" : `snapshots/${job}/`),
  manifest: (job: string, id: string) => `snapshots/${job}/${id}.json`,
  dataPrefix: (job?: string, id?: string) =>
    job === undefined ? "data/" : id === undefined ? `data/${job}/` : `data/${job}/${id}/`,
  artifact: (job: string, id: string, name: string) => `data/${job}/${id}/${name}.age`,
  manifestCopy: (job: string, id: string) => `data/${job}/${id}/${MANIFEST_COPY_FILE}`,
  walPrefix: (job: string) => `wal/${job}/`,
  wal: (job: string, segment: string) => `wal/${job}/${segment}.age`,
  /** The previous lock format (one object per job), still honoured while live. */
  lock: (job: string) => `locks/${job}.json`,
  lockPrefix: (job: string) => `locks/${job}/`,
  historyPrefix: (job?: string) => (job === undefined ? "history/" : `history/${job}/`),
  drillHistoryPrefix: (job: string) => `history/${job}/drills/`,
  /** `stamp`: `20261128T040000Z`, the drill's start. */
  drillRecord: (job: string, stamp: string, drill: string) => `history/${job}/drills/${stamp}-${drill}.json`,
};

/** Splits `history/<job>/drills/<stamp>-<drill>.json`, or null. */
export function parseDrillHistoryKey(key: string): { job: string; stamp: string; drill: string } | null {
  const match = /^history\/([^/]+)\/drills\/(\d{8}T\d{6}Z)-([^/]+)\.json$/.exec(key);
  if (match === null) return null;
  const [, job, stamp, drill] = match;
  if (job === undefined || stamp === undefined || drill === undefined) return null;
  return { job, stamp, drill };
}

/** Splits `data/<job>/<id>/<file>` into its parts, or null for any other key. */
export function parseDataKey(key: string): { job: string; id: string; file: string } | null {
  const match = /^data\/([^/]+)\/([^/]+)\/(.+)$/.exec(key);
  if (match === null) return null;
  const [, job, id, file] = match;
  if (job === undefined || id === undefined || file === undefined) return null;
  return { job, id, file };
}

/** Splits `snapshots/<job>/<id>.json`, or null. */
export function parseManifestKey(key: string): { job: string; id: string } | null {
  const match = /^snapshots\/([^/]+)\/([^/]+)\.json$/.exec(key);
  if (match === null) return null;
  const [, job, id] = match;
  if (job === undefined || id === undefined) return null;
  return { job, id };
}
