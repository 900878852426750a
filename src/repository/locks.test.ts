import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ExitCode, LockHeldError, exitCodeOf } from "../errors.js";
import { Repository } from "./repository.js";
import { LocalBackend } from "../storage/local/local-backend.js";
import { isPidAlive } from "../lifecycle/pid.js";
import { acquireJobLock, inspectLock, withJobLock, type LockRecord } from "./locks.js";

let dir: string;
let repository: Repository;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-locks-"));
  repository = new Repository(new LocalBackend({ path: dir }));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function lockFile(job: string): Promise<LockRecord | null> {
  try {
    return JSON.parse(await readFile(join(dir, "locks", `${job}.json`), "utf8")) as LockRecord;
  } catch {
    return null;
  }
}

async function plantLock(job: string, fields: Partial<LockRecord>): Promise<void> {
  const now = Date.now();
  const record: LockRecord = {
    format: 1,
    id: "planted",
    job,
    purpose: "backup",
    owner: "backdrill",
    host: "other-host",
    pid: 4242,
    start: new Date(now - 60_000).toISOString(),
    refreshed: new Date(now - 60_000).toISOString(),
    expiry: new Date(now + 3_600_000).toISOString(),
    ...fields,
  };
  await repository.backend.put(`locks/${job}.json`, Readable.from([JSON.stringify(record)]), {
    overwrite: true,
  });
}

describe("job locks in the repository", () => {
  it("records owner, host, pid, start and expiry, and releases at the end", async () => {
    const seen = await withJobLock(repository, "task-db", async () => lockFile("task-db"), {
      ttlSeconds: 600,
    });
    expect(seen).toMatchObject({ job: "task-db", purpose: "backup", host: hostname(), pid: process.pid });
    expect(Date.parse(seen?.expiry ?? "") - Date.parse(seen?.start ?? "")).toBe(600_000);
    expect(await lockFile("task-db")).toBeNull();
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
    // No takeover marker is left behind.
    expect(await readdir(join(dir, "locks")).catch(() => [])).toEqual([]);
  });

  it("takes over a lock of a dead process on this host at once", async () => {
    const deadPid = 2 ** 22 + 17; // above pid_max on default kernels: never alive
    expect(isPidAlive(deadPid)).toBe(false);
    await plantLock("task-db", { host: hostname(), pid: deadPid });
    const inspection = await inspectLock(repository, "task-db");
    expect(inspection).toMatchObject({ state: "stale", reason: expect.stringContaining(`pid ${deadPid}`) });
    const lock = await acquireJobLock(repository, "task-db");
    await lock.release();
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
    await lock.release();
  });

  it("aborts the run's signal when a refresh finds the lock taken over", async () => {
    await withJobLock(repository, "task-db", async (lock, signal) => {
      await plantLock("task-db", { id: "intruder" });
      await lock.refresh();
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBeInstanceOf(LockHeldError);
    });
    // Release did not delete the other run's lock.
    expect((await lockFile("task-db"))?.id).toBe("intruder");
  });

  it("treats an unreadable lock as held until it is older than the TTL", async () => {
    await repository.backend.put("locks/task-db.json", Readable.from(["{not json"]));
    await expect(acquireJobLock(repository, "task-db")).rejects.toThrow(/unreadable lock file/);
    const later = new Date(Date.now() + 3_600_000);
    expect((await inspectLock(repository, "task-db", { now: () => later })).state).toBe("stale");
  });
});
