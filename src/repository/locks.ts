/**
 * Per-job run locks kept IN the repository (`locks/<job>.json`), so two hosts pointed at the same
 * repository cannot back up (or prune) the same job at once — an in-process guard would only
 * protect one host.
 *
 * Protocol:
 *   - Acquire: conditional create of `locks/<job>.json` (`put` with `overwrite: false`, atomic on
 *     local disk and S3): exactly one contender wins.
 *   - The holder refreshes the lock (new `expiry`) every `refreshSeconds` while it runs; a run
 *     that dies stops refreshing and its lock expires after `ttlSeconds`.
 *   - Stale: expired, or taken on THIS host by a pid that is no longer alive (a crash or kill -9
 *     here is detected at once instead of after the TTL). A stale lock is reported and taken over.
 *   - Takeover is itself a conditional create of `locks/<job>.json.takeover-<staleLockId>`, so
 *     when two runs find the same stale lock only one replaces it (a plain delete-and-create would
 *     let the slower one delete the faster one's fresh lock). A takeover marker left by a crash is
 *     ignored after `TAKEOVER_MARKER_SECONDS`.
 *   - A live lock held by someone else: `LockHeldError` (exit 3) naming purpose, host, pid, start.
 *   - Release deletes the lock only if it is still ours.
 *   - If a refresh finds the lock gone or replaced (we were presumed dead and taken over), the
 *     run's signal is aborted: two writers must not continue side by side.
 */
import { randomUUID } from "node:crypto";
import { hostname, userInfo } from "node:os";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { z } from "zod";
import { AlreadyExistsError, LockHeldError, NotFoundError, OperationError } from "../errors.js";
import { isPidAlive } from "../lifecycle/pid.js";
import type { Logger } from "../log/logger.js";
import { layout } from "./layout.js";
import type { Repository } from "./repository.js";

/** Default lifetime of a lock without a refresh (restic uses 30 minutes as well). */
export const DEFAULT_LOCK_TTL_SECONDS = 30 * 60;
/** How long a takeover marker is honoured before it is considered left behind by a crash. */
export const TAKEOVER_MARKER_SECONDS = 60;

export const lockRecordSchema = z.object({
  format: z.literal(1),
  /** Random token identifying this lock instance; release/refresh compare it. */
  id: z.string().min(1),
  job: z.string(),
  /** What the holder is doing: backup, prune, ... */
  purpose: z.string(),
  /** OS user of the holder. */
  owner: z.string(),
  host: z.string(),
  pid: z.number().int(),
  start: z.string(),
  refreshed: z.string(),
  expiry: z.string(),
});
export type LockRecord = z.infer<typeof lockRecordSchema>;

export type LockInspection =
  | { state: "free" }
  | { state: "held"; lock: LockRecord }
  | { state: "stale"; lock: LockRecord | null; reason: string };

export interface LockOptions {
  /** What the run does, recorded in the lock and shown to whoever is refused. Default "backup". */
  purpose?: string;
  ttlSeconds?: number;
  /** Default: a sixth of the TTL (5 minutes for the default 30). */
  refreshSeconds?: number;
  log?: Logger;
  /** For tests: the clock. */
  now?: () => Date;
  /** For tests: pid liveness. */
  isAlive?: (pid: number) => boolean;
}

/** Reads the job's lock and classifies it; never changes anything. */
export async function inspectLock(
  repository: Repository,
  job: string,
  options: Pick<LockOptions, "now" | "isAlive" | "ttlSeconds"> = {},
): Promise<LockInspection> {
  const read = await readLock(repository, layout.lock(job));
  if (read === null) return { state: "free" };
  const now = (options.now ?? (() => new Date()))();
  if (read.lock === null) {
    // Unparseable (a newer format, or damage). Honour it for a TTL from its mtime, then treat it
    // as stale: a damaged file must not block nightly backups forever.
    const ttl = (options.ttlSeconds ?? DEFAULT_LOCK_TTL_SECONDS) * 1000;
    if (now.getTime() - read.modified.getTime() > ttl) {
      return {
        state: "stale",
        lock: null,
        reason: `unreadable lock file older than the TTL (${read.problem})`,
      };
    }
    throw new LockHeldError(`job ${job} has an unreadable lock file ${layout.lock(job)} (${read.problem})`, {
      hint: `it is treated as held until it is older than the lock TTL; remove ${layout.lock(job)} from ${repository.location} if no run is active`,
    });
  }
  return classify(read.lock, now, options.isAlive ?? isPidAlive);
}

function classify(lock: LockRecord, now: Date, isAlive: (pid: number) => boolean): LockInspection {
  if (Date.parse(lock.expiry) <= now.getTime()) {
    return { state: "stale", lock, reason: `expired at ${lock.expiry} (holder stopped refreshing it)` };
  }
  if (lock.host === hostname() && !isAlive(lock.pid)) {
    return { state: "stale", lock, reason: `holder pid ${lock.pid} on this host is no longer running` };
  }
  return { state: "held", lock };
}

/** A held lock. `signal` aborts if the lock is lost; `release()` is idempotent. */
export class JobLock {
  private readonly lost = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private released = false;

  constructor(
    private readonly repository: Repository,
    readonly record: LockRecord,
    private readonly options: Required<Pick<LockOptions, "ttlSeconds" | "refreshSeconds" | "now">> & {
      log: Logger | undefined;
    },
  ) {}

  /** Aborted (with an error saying why) when a refresh finds the lock taken over or cannot renew it in time. */
  get signal(): AbortSignal {
    return this.lost.signal;
  }

  get key(): string {
    return layout.lock(this.record.job);
  }

  startRefreshing(): void {
    this.timer = setInterval(() => void this.refresh(), this.options.refreshSeconds * 1000);
    this.timer.unref();
  }

  /** Pushes the expiry forward; aborts `signal` when the lock is no longer ours. */
  async refresh(): Promise<void> {
    if (this.released || this.lost.signal.aborted) return;
    try {
      const current = await readLock(this.repository, this.key);
      if (current?.lock?.id !== this.record.id) {
        const by = current?.lock ? ` by ${describeHolder(current.lock)}` : "";
        this.lose(new LockHeldError(`lock of job ${this.record.job} was taken over${by}; stopping this run`));
        return;
      }
      const now = this.options.now();
      this.record.refreshed = now.toISOString();
      this.record.expiry = new Date(now.getTime() + this.options.ttlSeconds * 1000).toISOString();
      await writeLock(this.repository, this.key, this.record, true);
    } catch (error) {
      // A transient storage error: keep the run going while the lock is still valid.
      const left = Date.parse(this.record.expiry) - this.options.now().getTime();
      this.options.log?.warn({ err: error, job: this.record.job }, "could not refresh the job lock");
      if (left < this.options.refreshSeconds * 1000) {
        this.lose(
          new OperationError(`could not refresh the lock of job ${this.record.job} before it expires`),
        );
      }
    }
  }

  private lose(reason: Error): void {
    this.options.log?.error({ job: this.record.job, error: reason.message }, "job lock lost");
    this.stopTimer();
    this.lost.abort(reason);
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Deletes the lock if it is still ours. Never throws: a leftover lock expires on its own. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stopTimer();
    try {
      const current = await readLock(this.repository, this.key);
      if (current?.lock?.id === this.record.id) await this.repository.backend.delete(this.key);
    } catch (error) {
      this.options.log?.warn(
        { err: error, job: this.record.job },
        "could not release the job lock; it expires on its own",
      );
    }
  }
}

/**
 * Takes the job's lock or throws `LockHeldError` (exit 3). Stale locks are logged and taken over.
 * The caller must `release()` (see `withJobLock`).
 */
export async function acquireJobLock(
  repository: Repository,
  job: string,
  options: LockOptions = {},
): Promise<JobLock> {
  const now = options.now ?? (() => new Date());
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_LOCK_TTL_SECONDS;
  const refreshSeconds = options.refreshSeconds ?? ttlSeconds / 6;
  if (!(ttlSeconds > 0) || !(refreshSeconds > 0) || refreshSeconds >= ttlSeconds) {
    throw new OperationError(`invalid lock timing: ttl ${ttlSeconds}s, refresh ${refreshSeconds}s`);
  }
  const key = layout.lock(job);
  const start = now();
  const record: LockRecord = {
    format: 1,
    id: randomUUID(),
    job,
    purpose: options.purpose ?? "backup",
    owner: currentUser(),
    host: hostname(),
    pid: process.pid,
    start: start.toISOString(),
    refreshed: start.toISOString(),
    expiry: new Date(start.getTime() + ttlSeconds * 1000).toISOString(),
  };
  const settings = { ttlSeconds, refreshSeconds, now, log: options.log };

  for (let attempt = 1; attempt <= 5; attempt++) {
    try {
      await writeLock(repository, key, record, false);
      const lock = new JobLock(repository, record, settings);
      lock.startRefreshing();
      return lock;
    } catch (error) {
      if (!(error instanceof AlreadyExistsError)) throw error;
    }
    const inspection = await inspectLock(repository, job, options);
    if (inspection.state === "free") continue; // released between our create and our read
    if (inspection.state === "held") throw heldError(job, inspection.lock);
    options.log?.warn(
      {
        job,
        holder: inspection.lock === null ? null : describeHolder(inspection.lock),
        reason: inspection.reason,
      },
      "taking over a stale job lock",
    );
    if (await takeOver(repository, job, inspection.lock, record, now)) {
      const lock = new JobLock(repository, record, settings);
      lock.startRefreshing();
      return lock;
    }
  }
  throw new LockHeldError(`could not take the lock of job ${job}: other runs keep competing for it`);
}

/**
 * Runs `fn` holding the job's lock and releases it afterwards, whatever happens. `fn` receives the
 * lock; its `signal` combines the caller's signal with "lock lost".
 */
export async function withJobLock<T>(
  repository: Repository,
  job: string,
  fn: (lock: JobLock, signal: AbortSignal) => Promise<T>,
  options: LockOptions & { signal?: AbortSignal } = {},
): Promise<T> {
  options.signal?.throwIfAborted();
  const lock = await acquireJobLock(repository, job, options);
  try {
    const signal =
      options.signal === undefined ? lock.signal : AbortSignal.any([options.signal, lock.signal]);
    return await fn(lock, signal);
  } finally {
    await lock.release();
  }
}

/** Replaces a stale lock with `record`; false when another run won the takeover race. */
async function takeOver(
  repository: Repository,
  job: string,
  stale: LockRecord | null,
  record: LockRecord,
  now: () => Date,
): Promise<boolean> {
  const key = layout.lock(job);
  const marker = `${key}.takeover-${stale?.id ?? "unreadable"}`;
  try {
    await repository.backend.put(marker, Readable.from([Buffer.from(record.id)]), { overwrite: false });
  } catch (error) {
    if (!(error instanceof AlreadyExistsError)) throw error;
    const info = await repository.backend.stat(marker);
    if (info !== null && now().getTime() - info.modified.getTime() > TAKEOVER_MARKER_SECONDS * 1000) {
      // Left behind by a run that crashed mid-takeover: clear it; the next attempt retries.
      await repository.backend.delete(marker);
    }
    return false;
  }
  try {
    const current = await readLock(repository, key);
    if (current === null) {
      await writeLock(repository, key, record, false);
      return true;
    }
    const currentId = current.lock?.id ?? null;
    if (currentId !== (stale?.id ?? null)) return false; // someone else replaced it already
    await writeLock(repository, key, record, true);
    return true;
  } catch (error) {
    if (error instanceof AlreadyExistsError) return false;
    throw error;
  } finally {
    await repository.backend.delete(marker).catch(() => undefined);
  }
}

function heldError(job: string, lock: LockRecord): LockHeldError {
  return new LockHeldError(`job ${job} is locked: ${describeHolder(lock)}`, {
    hint:
      `another run is in progress. If it is not, the lock goes stale at ${lock.expiry} ` +
      `(at once if the holder ran on this host and has exited); remove ${layout.lock(job)} from the repository to force`,
  });
}

/** "backup by backdrill@host1 (pid 4242) since 2026-11-28T02:15:00.000Z, expires ..." */
export function describeHolder(lock: LockRecord): string {
  return `${lock.purpose} by ${lock.owner}@${lock.host} (pid ${lock.pid}) since ${lock.start}, expires ${lock.expiry}`;
}

type ReadLock =
  { lock: LockRecord; modified: Date; problem?: undefined } | { lock: null; modified: Date; problem: string };

async function readLock(repository: Repository, key: string): Promise<ReadLock | null> {
  const info = await repository.backend.stat(key);
  let raw: string;
  try {
    raw = await text(await repository.backend.get(key));
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
  const modified = info?.modified ?? new Date(0);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { lock: null, modified, problem: "not JSON" };
  }
  const parsed = lockRecordSchema.safeParse(json);
  if (!parsed.success)
    return { lock: null, modified, problem: parsed.error.issues[0]?.message ?? "malformed" };
  return { lock: parsed.data, modified };
}

async function writeLock(
  repository: Repository,
  key: string,
  record: LockRecord,
  overwrite: boolean,
): Promise<void> {
  const body = Buffer.from(JSON.stringify(record, null, 2) + "\n");
  await repository.backend.put(key, Readable.from([body]), { overwrite, contentLength: body.length });
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? "unknown");
  }
}
