/**
 * Per-job run locks kept IN the repository, so two hosts pointed at the same repository cannot
 * back up (or prune) the same job at once — an in-process guard would only protect one host.
 *
 * The lock is a log of generations, `locks/<job>/<generation>.json`; the highest generation is
 * the lock's state. Every change (acquire, refresh, take over, release) is the conditional create
 * of the next generation (`put` with `overwrite: false`: link(2) on disk, `If-None-Match: *` on
 * S3), so exactly one writer makes each change, and a writer whose change lost learns it from
 * the refusal. This is a compare-and-set on "the generation I read is still the newest" that
 * every backend of the storage contract provides; an `If-Match` replace of one object would not
 * be: S3-compatible servers that do not implement it (the moto test server, older MinIO and Ceph)
 * ignore the header silently, and the lock would quietly become last-writer-wins. After each
 * create the writer lists the generations once more (a generation cleaned away could be created
 * again by a writer far behind; one newer than ours means we lost), then removes the older ones.
 *
 *   - Acquire: read the newest generation; free (none, or released) or stale → create the next.
 *   - Refresh: every `refreshSeconds` the holder creates the next generation with a new
 *     `expiry`. If that generation exists already, someone took the lock over: the run's signal
 *     is aborted, since two writers must not continue side by side.
 *   - Confirm: the same, on demand, right before a commit or a deletion: a run whose lock was
 *     taken over must not commit its snapshot (or prune) beside the run that took it; after a
 *     successful confirm nobody can take the lock over for a whole TTL.
 *   - Stale: expired; or held on THIS machine (same machine id, boot id and host name, see
 *     machine-id.ts) by a pid that is gone, or by a boot of it that is over. A host name alone
 *     proves nothing (clones and containers share them), so any other holder is waited out.
 *   - Release: creates a `released` generation (never deletes the newest: generations must only
 *     grow, or a writer far behind could create a number that is "newest" again).
 *   - A live lock held by someone else: `LockHeldError` (exit 3) naming purpose, host, pid, start.
 *   - Locks of the previous format (`locks/<job>.json`, backdrill before 0.2) are honoured while
 *     live and otherwise ignored: upgrade every host that shares a repository together.
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
import { machineIdentity, type MachineIdentity } from "./machine-id.js";
import type { Repository } from "./repository.js";

/** Default lifetime of a lock without a refresh (restic uses 30 minutes as well). */
export const DEFAULT_LOCK_TTL_SECONDS = 30 * 60;
/** Generation numbers are zero-padded so keys sort like the numbers they hold. */
const GENERATION_DIGITS = 16;

export const lockRecordSchema = z.object({
  format: z.literal(2),
  /** Random token identifying this holding of the lock (the same across its refreshes). */
  id: z.string().min(1),
  job: z.string(),
  /** Which generation this record is; must match its key. */
  generation: z.number().int().positive(),
  state: z.enum(["held", "released"]),
  /** What the holder is doing: backup, prune, ... */
  purpose: z.string(),
  /** OS user of the holder. */
  owner: z.string(),
  host: z.string(),
  machineId: z.string(),
  bootId: z.string().nullable(),
  pid: z.number().int(),
  start: z.string(),
  refreshed: z.string(),
  expiry: z.string(),
});
export type LockRecord = z.infer<typeof lockRecordSchema>;

/** A lock of the previous format (`locks/<job>.json`), written by older versions. */
const legacyLockSchema = z.object({
  format: z.literal(1),
  id: z.string().min(1),
  purpose: z.string(),
  owner: z.string(),
  host: z.string(),
  pid: z.number().int(),
  start: z.string(),
  expiry: z.string(),
});

/** Who holds a lock, as far as messages need to know. */
export type LockHolder = Pick<LockRecord, "purpose" | "owner" | "host" | "pid" | "start" | "expiry">;

export type LockInspection =
  | { state: "free" }
  | { state: "held"; lock: LockHolder }
  | { state: "stale"; lock: LockHolder | null; reason: string };

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
  /** For tests: which machine this process is on (default: machine-id.ts). */
  machine?: MachineIdentity;
}

/** A refresh or confirm found the lock taken over. */
export class LockLostError extends LockHeldError {}

interface Head {
  generation: number;
  key: string;
  modified: Date;
  lock: LockRecord | null;
  problem?: string;
}

function generationKey(job: string, generation: number): string {
  return `${layout.lockPrefix(job)}${String(generation).padStart(GENERATION_DIGITS, "0")}.json`;
}

/** Every generation of the job's lock, as numbers with their keys. */
async function listGenerations(
  repository: Repository,
  job: string,
): Promise<Array<{ generation: number; key: string; modified: Date }>> {
  const prefix = layout.lockPrefix(job);
  const found: Array<{ generation: number; key: string; modified: Date }> = [];
  for await (const info of repository.backend.list(prefix)) {
    const match = /^(\d+)\.json$/.exec(info.key.slice(prefix.length));
    if (match?.[1] === undefined) continue;
    found.push({ generation: Number(match[1]), key: info.key, modified: info.modified });
  }
  return found.sort((a, b) => a.generation - b.generation);
}

/** The newest generation, read; null when the job has none. */
async function readHead(repository: Repository, job: string): Promise<Head | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const newest = (await listGenerations(repository, job)).at(-1);
    if (newest === undefined) return null;
    let raw: string;
    try {
      raw = await text(await repository.backend.get(newest.key));
    } catch (error) {
      if (error instanceof NotFoundError) continue; // cleaned up after a newer one was written
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return { ...newest, lock: null, problem: "not JSON" };
    }
    const parsed = lockRecordSchema.safeParse(json);
    if (!parsed.success)
      return { ...newest, lock: null, problem: parsed.error.issues[0]?.message ?? "malformed" };
    if (parsed.data.generation !== newest.generation || parsed.data.job !== job) {
      return { ...newest, lock: null, problem: "its job or generation is not the one its key names" };
    }
    return { ...newest, lock: parsed.data };
  }
  throw new OperationError(`the lock of job ${job} keeps changing while it is read; try again`);
}

function classify(
  lock: LockRecord,
  now: Date,
  here: MachineIdentity,
  isAlive: (pid: number) => boolean,
): LockInspection {
  if (lock.state === "released") return { state: "free" };
  if (Date.parse(lock.expiry) <= now.getTime()) {
    return { state: "stale", lock, reason: `expired at ${lock.expiry} (holder stopped refreshing it)` };
  }
  if (lock.machineId === here.machineId && lock.host === hostname()) {
    if (lock.bootId !== null && here.bootId !== null && lock.bootId !== here.bootId) {
      return { state: "stale", lock, reason: "this machine has rebooted since the holder took it" };
    }
    if (!isAlive(lock.pid)) {
      return { state: "stale", lock, reason: `holder pid ${lock.pid} on this machine is no longer running` };
    }
  }
  return { state: "held", lock };
}

/** The newest generation classified; an unreadable one is honoured for a TTL from its mtime. */
function inspectHead(
  head: Head | null,
  job: string,
  repository: Repository,
  now: Date,
  here: MachineIdentity,
  options: Pick<LockOptions, "isAlive" | "ttlSeconds">,
): LockInspection {
  if (head === null) return { state: "free" };
  if (head.lock === null) {
    // A newer format, or damage. Honour it for a TTL, then treat it as stale: a damaged file
    // must not block nightly backups forever.
    const ttl = (options.ttlSeconds ?? DEFAULT_LOCK_TTL_SECONDS) * 1000;
    if (now.getTime() - head.modified.getTime() > ttl) {
      return {
        state: "stale",
        lock: null,
        reason: `unreadable lock file older than the TTL (${head.problem})`,
      };
    }
    throw new LockHeldError(`job ${job} has an unreadable lock file ${head.key} (${head.problem})`, {
      hint: `it is treated as held until it is older than the lock TTL; remove ${layout.lockPrefix(job)} from ${repository.location} if no run is active`,
    });
  }
  return classify(head.lock, now, here, options.isAlive ?? isPidAlive);
}

/** A live lock of the previous format, or null. */
async function legacyHolder(repository: Repository, job: string, now: Date): Promise<LockHolder | null> {
  let raw: string;
  try {
    raw = await text(await repository.backend.get(layout.lock(job)));
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return null;
  }
  const parsed = legacyLockSchema.safeParse(json);
  if (!parsed.success || Date.parse(parsed.data.expiry) <= now.getTime()) return null;
  return parsed.data;
}

/** Reads the job's lock and classifies it; never changes anything. */
export async function inspectLock(
  repository: Repository,
  job: string,
  options: Pick<LockOptions, "now" | "isAlive" | "ttlSeconds" | "machine"> = {},
): Promise<LockInspection> {
  const now = (options.now ?? (() => new Date()))();
  const here = options.machine ?? (await machineIdentity());
  const inspection = inspectHead(await readHead(repository, job), job, repository, now, here, options);
  if (inspection.state === "held") return inspection;
  const legacy = await legacyHolder(repository, job, now);
  return legacy === null ? inspection : { state: "held", lock: legacy };
}

/** Creates generation `record.generation`; false when it exists or a newer one appeared. */
async function writeGeneration(repository: Repository, record: LockRecord): Promise<boolean> {
  const body = Buffer.from(JSON.stringify(record, null, 2) + "\n");
  try {
    await repository.backend.put(generationKey(record.job, record.generation), Readable.from([body]), {
      overwrite: false,
      contentLength: body.length,
    });
  } catch (error) {
    if (error instanceof AlreadyExistsError) return false;
    throw error;
  }
  const newest = (await listGenerations(repository, record.job)).at(-1);
  return newest?.generation === record.generation;
}

/** Removes generations older than `generation`. Best effort: leftovers are only clutter. */
async function removeOlder(
  repository: Repository,
  job: string,
  generation: number,
  log?: Logger,
): Promise<void> {
  try {
    for (const entry of await listGenerations(repository, job)) {
      if (entry.generation < generation) await repository.backend.delete(entry.key);
    }
  } catch (error) {
    log?.debug({ err: error, job }, "could not remove old lock generations");
  }
}

/** A held lock. `signal` aborts if the lock is lost; `release()` is idempotent. */
export class JobLock {
  private readonly lost = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  /** Refresh, confirm and release each write the next generation: one at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly repository: Repository,
    private current: LockRecord,
    private readonly options: Required<Pick<LockOptions, "ttlSeconds" | "refreshSeconds" | "now">> & {
      log: Logger | undefined;
    },
  ) {}

  /** The lock as last written by this holder. */
  get record(): LockRecord {
    return this.current;
  }

  /** Aborted (with an error saying why) when a refresh finds the lock taken over or cannot renew it in time. */
  get signal(): AbortSignal {
    return this.lost.signal;
  }

  get key(): string {
    return generationKey(this.current.job, this.current.generation);
  }

  startRefreshing(): void {
    this.timer = setInterval(() => void this.refresh(), this.options.refreshSeconds * 1000);
    this.timer.unref();
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Writes the next generation; LockLostError when someone else wrote it (or a newer one). */
  private async advance(state: LockRecord["state"]): Promise<void> {
    const now = this.options.now();
    const next: LockRecord = {
      ...this.current,
      generation: this.current.generation + 1,
      state,
      refreshed: now.toISOString(),
      expiry: new Date(now.getTime() + (state === "held" ? this.options.ttlSeconds * 1000 : 0)).toISOString(),
    };
    if (!(await writeGeneration(this.repository, next))) {
      const head = await readHead(this.repository, this.current.job).catch(() => null);
      // Our own write, reported as failed after it landed (a lost response, retried: 412).
      if (
        head?.lock?.id === next.id &&
        head.lock.generation === next.generation &&
        head.lock.state === state
      ) {
        this.current = head.lock;
        return;
      }
      const by =
        head?.lock != null && head.lock.id !== this.current.id ? ` by ${describeHolder(head.lock)}` : "";
      throw new LockLostError(`lock of job ${this.current.job} was taken over${by}; stopping this run`);
    }
    this.current = next;
    await removeOlder(this.repository, next.job, next.generation, this.options.log);
  }

  /** Pushes the expiry forward; aborts `signal` when the lock is no longer ours. */
  async refresh(): Promise<void> {
    await this.serial(async () => {
      if (this.released || this.lost.signal.aborted) return;
      try {
        await this.advance("held");
      } catch (error) {
        if (error instanceof LockLostError) {
          this.lose(error);
          return;
        }
        // A transient storage error: keep the run going while the lock is still valid.
        const left = Date.parse(this.current.expiry) - this.options.now().getTime();
        this.options.log?.warn({ err: error, job: this.current.job }, "could not refresh the job lock");
        if (left < this.options.refreshSeconds * 1000) {
          this.lose(
            new OperationError(`could not refresh the lock of job ${this.current.job} before it expires`),
          );
        }
      }
    });
  }

  /**
   * Proves the lock is still ours by renewing it, right before an irreversible step (a commit,
   * a deletion): throws (LockLostError, or the storage error) instead of letting the step run.
   * Afterwards nobody can take the lock over for a whole TTL.
   */
  async confirm(): Promise<void> {
    await this.serial(async () => {
      if (this.lost.signal.aborted) throw this.lost.signal.reason;
      if (this.released) throw new OperationError(`lock of job ${this.current.job} was already released`);
      try {
        await this.advance("held");
      } catch (error) {
        if (error instanceof LockLostError) this.lose(error);
        throw error;
      }
    });
  }

  private lose(reason: Error): void {
    this.options.log?.error({ job: this.current.job, error: reason.message }, "job lock lost");
    this.stopTimer();
    this.lost.abort(reason);
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Marks the lock released if it is still ours. Never throws: a leftover lock expires on its own. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stopTimer();
    await this.serial(async () => {
      if (this.lost.signal.aborted) return;
      try {
        await this.advance("released");
      } catch (error) {
        this.options.log?.warn(
          { err: error, job: this.current.job },
          "could not release the job lock; it expires on its own",
        );
      }
    });
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
  const here = options.machine ?? (await machineIdentity());
  const id = randomUUID();
  const settings = { ttlSeconds, refreshSeconds, now, log: options.log };

  for (let attempt = 1; attempt <= 8; attempt++) {
    const head = await readHead(repository, job);
    if (head?.lock?.id === id) {
      // Our create landed although it was reported as failed (a lost response, retried): ours.
      const lock = new JobLock(repository, head.lock, settings);
      lock.startRefreshing();
      return lock;
    }
    const inspection = inspectHead(head, job, repository, now(), here, options);
    if (inspection.state === "held") throw heldError(job, inspection.lock);
    const legacy = await legacyHolder(repository, job, now());
    if (legacy !== null) throw heldError(job, legacy);
    if (inspection.state === "stale") {
      options.log?.warn(
        {
          job,
          holder: inspection.lock === null ? null : describeHolder(inspection.lock),
          reason: inspection.reason,
        },
        "taking over a stale job lock",
      );
    }
    const start = now();
    const record: LockRecord = {
      format: 2,
      id,
      job,
      generation: (head?.generation ?? 0) + 1,
      state: "held",
      purpose: options.purpose ?? "backup",
      owner: currentUser(),
      host: hostname(),
      machineId: here.machineId,
      bootId: here.bootId,
      pid: process.pid,
      start: start.toISOString(),
      refreshed: start.toISOString(),
      expiry: new Date(start.getTime() + ttlSeconds * 1000).toISOString(),
    };
    // Lost to another contender (or the holder refreshed in between): look again.
    if (!(await writeGeneration(repository, record))) continue;
    await removeOlder(repository, job, record.generation, options.log);
    const lock = new JobLock(repository, record, settings);
    lock.startRefreshing();
    return lock;
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

function heldError(job: string, lock: LockHolder): LockHeldError {
  return new LockHeldError(`job ${job} is locked: ${describeHolder(lock)}`, {
    hint:
      `another run is in progress. If it is not, the lock goes stale at ${lock.expiry} ` +
      `(at once if the holder ran on this machine and has exited); remove ${layout.lockPrefix(job)} from the repository to force`,
  });
}

/** "backup by backdrill@host1 (pid 4242) since 2026-11-28T02:15:00.000Z, expires ..." */
export function describeHolder(lock: LockHolder): string {
  return `${lock.purpose} by ${lock.owner}@${lock.host} (pid ${lock.pid}) since ${lock.start}, expires ${lock.expiry}`;
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? "unknown");
  }
}
