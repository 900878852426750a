import { mkdtemp, readdir, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AlreadyExistsError, ExitCode, LockHeldError, exitCodeOf } from "../errors.js";
import { Repository } from "./repository.js";
import { LocalBackend } from "../storage/local/local-backend.js";
import { isPidAlive } from "../lifecycle/pid.js";
import { machineIdentity } from "./machine-id.js";
import { acquireJobLock, inspectLock, LockLostError, withJobLock, type LockRecord } from "./locks.js";

let dir: string;
let repository: Repository;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-locks-"));
  repository = new Repository(new LocalBackend({ path: dir }));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function generations(job: string): Promise<string[]> {
  return (await readdir(join(dir, "locks", job)).catch(() => [])).sort();
}

/** The newest generation's record, or null when there is none. */
async function newest(job: string): Promise<LockRecord | null> {
  const names = await generations(job);
  const last = names.at(-1);
  if (last === undefined) return null;
  return JSON.parse(await text(await repository.backend.get(`locks/${job}/${last}`))) as LockRecord;
}

/** The lock as a run would see it: the newest generation unless it is a release. */
async function lockFile(job: string): Promise<LockRecord | null> {
  const record = await newest(job);
  return record === null || record.state === "released" ? null : record;
}

/** Writes the next generation as another run would (another machine unless told otherwise). */
async function plantLock(job: string, fields: Partial<LockRecord>): Promise<void> {
  const now = Date.now();
  const generation = ((await newest(job))?.generation ?? 0) + 1;
  const record: LockRecord = {
    format: 2,
    id: "planted",
    job,
    generation,
    state: "held",
    purpose: "backup",
    owner: "backdrill",
    host: "other-host",
    machineId: "0123456789abcdef0123456789abcdef",
    bootId: null,
    pid: 4242,
    start: new Date(now - 60_000).toISOString(),
    refreshed: new Date(now - 60_000).toISOString(),
    expiry: new Date(now + 3_600_000).toISOString(),
    ...fields,
  };
  const key = `locks/${job}/${String(record.generation).padStart(16, "0")}.json`;
  await repository.backend.put(key, Readable.from([JSON.stringify(record)]), { overwrite: false });
}

const deadPid = 2 ** 22 + 17; // above pid_max on default kernels: never alive

describe("job locks in the repository", () => {
  it("records owner, host, machine, pid, start and expiry, and releases at the end", async () => {
    const here = await machineIdentity();
    const seen = await withJobLock(repository, "task-db", async () => lockFile("task-db"), {
      ttlSeconds: 600,
    });
    expect(seen).toMatchObject({
      job: "task-db",
      purpose: "backup",
      host: hostname(),
      machineId: here.machineId,
      bootId: here.bootId,
      pid: process.pid,
    });
    expect(here.machineId).toMatch(/^[0-9a-f]{32}$/);
    expect(Date.parse(seen?.expiry ?? "") - Date.parse(seen?.start ?? "")).toBe(600_000);
    expect(await lockFile("task-db")).toBeNull();
    // Only the release generation is left: older ones are cleaned up.
    expect(await generations("task-db")).toHaveLength(1);
    expect(await newest("task-db")).toMatchObject({ state: "released" });
  });

  it("refuses a second run of the same job with LockHeldError (exit 3) naming the holder", async () => {
    const first = await acquireJobLock(repository, "task-db");
    try {
      const second = acquireJobLock(repository, "task-db");
      await expect(second).rejects.toBeInstanceOf(LockHeldError);
      const error = await second.catch((caught: unknown) => caught);
      expect(exitCodeOf(error)).toBe(ExitCode.locked);
      expect((error as Error).message).toContain(
        `${hostname()} (pid ${process.pid}) since ${first.record.start}`,
      );
      // Another job is independent.
      await withJobLock(repository, "task-files", async () => undefined);
    } finally {
      await first.release();
    }
    await withJobLock(repository, "task-db", async () => undefined);
  });

  it("lets exactly one of many concurrent contenders win", async () => {
    const attempts = await Promise.allSettled(
      Array.from({ length: 8 }, () => acquireJobLock(repository, "task-db")),
    );
    const won = attempts.filter((attempt) => attempt.status === "fulfilled");
    expect(won).toHaveLength(1);
    for (const attempt of attempts) {
      if (attempt.status === "rejected") expect(attempt.reason).toBeInstanceOf(LockHeldError);
      else await attempt.value.release();
    }
  });

  it("releases the lock when the work fails", async () => {
    await expect(
      withJobLock(repository, "task-db", async () => {
        throw new Error("pg_dump failed");
      }),
    ).rejects.toThrow("pg_dump failed");
    expect(await lockFile("task-db")).toBeNull();
  });

  it("reports a held lock of another host and leaves it alone", async () => {
    await plantLock("task-db", {});
    const inspection = await inspectLock(repository, "task-db");
    expect(inspection.state).toBe("held");
    await expect(acquireJobLock(repository, "task-db")).rejects.toThrow(
      /backup by backdrill@other-host \(pid 4242\)/,
    );
    expect((await lockFile("task-db"))?.id).toBe("planted");
  });

  it("takes over an expired lock", async () => {
    await plantLock("task-db", { expiry: new Date(Date.now() - 1000).toISOString() });
    expect((await inspectLock(repository, "task-db")).state).toBe("stale");
    const lock = await acquireJobLock(repository, "task-db");
    expect((await lockFile("task-db"))?.id).toBe(lock.record.id);
    await lock.release();
    expect(await generations("task-db")).toHaveLength(1);
  });

  it("takes over a lock of a dead process on this machine at once", async () => {
    expect(isPidAlive(deadPid)).toBe(false);
    const here = await machineIdentity();
    await plantLock("task-db", {
      host: hostname(),
      machineId: here.machineId,
      bootId: here.bootId,
      pid: deadPid,
    });
    const inspection = await inspectLock(repository, "task-db");
    expect(inspection).toMatchObject({ state: "stale", reason: expect.stringContaining(`pid ${deadPid}`) });
    const lock = await acquireJobLock(repository, "task-db");
    await lock.release();
  });

  it("does not judge a holder dead by its host name alone: another machine of the same name is waited out", async () => {
    // A clone or a container from the same image: same host name, pid not visible from here.
    await plantLock("task-db", { host: hostname(), pid: deadPid });
    expect(await inspectLock(repository, "task-db")).toMatchObject({ state: "held" });
    await expect(acquireJobLock(repository, "task-db")).rejects.toBeInstanceOf(LockHeldError);
    expect((await lockFile("task-db"))?.id).toBe("planted");
  });

  it("takes over the lock of an earlier boot of this machine, whatever its pid", async () => {
    const here = await machineIdentity();
    await plantLock("task-db", {
      host: hostname(),
      machineId: here.machineId,
      bootId: "ffffffffffffffffffffffffffffffff",
      pid: process.pid, // alive now, but not the process that took it
    });
    const inspection = await inspectLock(repository, "task-db", {
      machine: { machineId: here.machineId, bootId: "00000000000000000000000000000000" },
    });
    expect(inspection).toMatchObject({ state: "stale", reason: expect.stringContaining("rebooted") });
  });

  it("lets only one of two contenders take over the same stale lock", async () => {
    await plantLock("task-db", { expiry: new Date(Date.now() - 1000).toISOString() });
    const attempts = await Promise.allSettled([
      acquireJobLock(repository, "task-db"),
      acquireJobLock(repository, "task-db"),
    ]);
    expect(attempts.filter((attempt) => attempt.status === "fulfilled")).toHaveLength(1);
    for (const attempt of attempts) if (attempt.status === "fulfilled") await attempt.value.release();
  });

  it("refreshes the expiry while the run goes on", async () => {
    let clock = Date.now();
    const lock = await acquireJobLock(repository, "task-db", { ttlSeconds: 60, now: () => new Date(clock) });
    const before = (await lockFile("task-db"))?.expiry;
    clock += 30_000;
    await lock.refresh();
    const after = (await lockFile("task-db"))?.expiry;
    expect(Date.parse(after ?? "") - Date.parse(before ?? "")).toBe(30_000);
    expect(lock.signal.aborted).toBe(false);
    await lock.release();
  });

  it("aborts the run's signal when a refresh finds the lock taken over", async () => {
    await withJobLock(repository, "task-db", async (lock, signal) => {
      await plantLock("task-db", { id: "intruder" });
      await lock.refresh();
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBeInstanceOf(LockHeldError);
      await expect(lock.confirm()).rejects.toBeInstanceOf(LockLostError);
    });
    // Release did not touch the other run's lock.
    expect((await lockFile("task-db"))?.id).toBe("intruder");
  });

  it("a refresh racing a takeover of the expired lock: exactly one of them wins, and the loser knows", async () => {
    for (let round = 0; round < 10; round++) {
      const job = `race-${round}`;
      let clock = Date.now();
      const holder = await acquireJobLock(repository, job, { ttlSeconds: 60, now: () => new Date(clock) });
      clock += 120_000; // the holder stalled past its TTL: the lock is stale for everybody
      const later = (): Date => new Date(clock);
      const [refresh, takeover] = await Promise.allSettled([
        holder.confirm(),
        acquireJobLock(repository, job, { ttlSeconds: 60, now: later }),
      ]);
      const holderWon = refresh.status === "fulfilled";
      const takerWon = takeover.status === "fulfilled";
      expect(holderWon !== takerWon).toBe(true);
      if (takerWon) {
        expect(holder.signal.aborted).toBe(true);
        expect(refresh.status === "rejected" && refresh.reason).toBeInstanceOf(LockLostError);
        expect((await lockFile(job))?.id).toBe(takeover.value.record.id);
        await takeover.value.release();
      } else {
        expect(takeover.status === "rejected" && takeover.reason).toBeInstanceOf(LockHeldError);
        expect((await lockFile(job))?.id).toBe(holder.record.id);
      }
      await holder.release();
    }
  });

  it("a confirm proves the lock for a whole TTL: a takeover after it finds the lock held", async () => {
    let clock = Date.now();
    const holder = await acquireJobLock(repository, "task-db", {
      ttlSeconds: 60,
      now: () => new Date(clock),
    });
    clock += 50_000;
    await holder.confirm();
    clock += 50_000; // 100 s after the start, 50 s after the confirm
    await expect(
      acquireJobLock(repository, "task-db", { now: () => new Date(clock) }),
    ).rejects.toBeInstanceOf(LockHeldError);
    await holder.release();
  });

  it("a generation cleaned away and created again by a writer far behind does not count", async () => {
    const lock = await acquireJobLock(repository, "task-db");
    await lock.refresh();
    await lock.refresh();
    const generation = lock.record.generation;
    expect(await generations("task-db")).toHaveLength(1);
    // A writer that read generation 1 long ago creates generation 2 now: it exists no more, so
    // the create succeeds, but the listing after it shows a newer one.
    await plantLock("task-db", { id: "far-behind", generation: generation - 1 }).catch((error: unknown) => {
      expect(error).toBeInstanceOf(AlreadyExistsError);
    });
    expect((await lockFile("task-db"))?.id).toBe(lock.record.id);
    await lock.confirm();
    await lock.release();
  });

  it("honours a live lock of the previous format, ignores an expired one", async () => {
    const legacy = (expiry: number) =>
      JSON.stringify({
        format: 1,
        id: "old",
        job: "task-db",
        purpose: "backup",
        owner: "backdrill",
        host: "old-host",
        pid: 1,
        start: new Date().toISOString(),
        refreshed: new Date().toISOString(),
        expiry: new Date(expiry).toISOString(),
      });
    await repository.backend.put("locks/task-db.json", Readable.from([legacy(Date.now() + 600_000)]));
    await expect(acquireJobLock(repository, "task-db")).rejects.toThrow(/backup by backdrill@old-host/);
    await repository.backend.put("locks/task-db.json", Readable.from([legacy(Date.now() - 1000)]), {
      overwrite: true,
    });
    await withJobLock(repository, "task-db", async () => undefined);
  });

  it("treats an unreadable newest generation as held until it is older than the TTL", async () => {
    await repository.backend.put(`locks/task-db/${"1".padStart(16, "0")}.json`, Readable.from(["{not json"]));
    await expect(acquireJobLock(repository, "task-db")).rejects.toThrow(/unreadable lock file/);
    const later = new Date(Date.now() + 3_600_000);
    expect((await inspectLock(repository, "task-db", { now: () => later })).state).toBe("stale");
    const lock = await acquireJobLock(repository, "task-db", { now: () => later });
    expect(lock.record.generation).toBe(2);
    await lock.release();
  });
});
