import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateIdentity } from "../crypto/keys.js";
import { createLogger } from "../log/logger.js";
import { Repository } from "../repository/repository.js";
import { LocalBackend } from "../storage/local/local-backend.js";
import { acquireJobLock, inspectLock } from "../repository/locks.js";
import { pruneJob } from "./prune.js";

const log = createLogger({ level: "silent" });
const signal = new AbortController().signal;
let dir: string;
let repository: Repository;
let keys: { identity: string; recipient: string };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-prune-"));
  repository = new Repository(new LocalBackend({ path: dir }));
  await repository.init();
  keys = await generateIdentity();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A committed snapshot taken at `at` (the id and createdAt follow it). */
async function snapshot(job: string, at: Date, content = `data of ${at.toISOString()}`) {
  const writer = repository.createSnapshot({ job, kind: "test", recipients: [keys.recipient], at });
  await writer.addArtifact("dump", Readable.from([Buffer.from(content)]));
  return writer.commit();
}

/** Artifacts without a manifest, as a killed run leaves them. */
async function leftover(job: string, at: Date): Promise<string> {
  const writer = repository.createSnapshot({ job, kind: "test", recipients: [keys.recipient], at });
  await writer.addArtifact("dump", Readable.from([Buffer.from("partial")]));
  return writer.id;
}

const day = (n: number) => new Date(Date.UTC(2026, 10, n, 2, 15));

async function files(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const info of repository.backend.list(prefix)) out.push(info.key);
  return out;
}

describe("pruneJob on a local repository", () => {
  it("dry run lists each snapshot with keep/remove and the reason, and changes nothing", async () => {
    for (let n = 1; n <= 6; n++) await snapshot("task-db", day(n));
    const stray = await leftover("task-db", day(3));
    const before = await files("");
    const report = await pruneJob(repository, "task-db", {
      retention: { keepLast: 2 },
      dryRun: true,
      log,
      signal,
    });
    expect(report.snapshots.map((entry) => entry.action)).toEqual([
      "remove",
      "remove",
      "remove",
      "remove",
      "keep",
      "keep",
    ]);
    expect(report.snapshots[5]?.reasons).toEqual(["last (1 of 2)"]);
    expect(report.snapshots[0]?.reasons).toEqual(["last: all 2 used by newer snapshots"]);
    expect(report.leftovers).toEqual([expect.objectContaining({ id: stray, action: "remove", objects: 1 })]);
    expect(report.lock).toBe("dry run; free");
    expect(await files("")).toEqual(before);
  });

  it("removes the selected snapshots (manifest and data) and leftovers; keeps the rest readable", async () => {
    const made = [];
    for (let n = 1; n <= 6; n++) made.push(await snapshot("task-db", day(n)));
    const other = await snapshot("task-files", day(1));
    const stray = await leftover("task-db", day(2));
    const report = await pruneJob(repository, "task-db", {
      retention: { keepLast: 2 },
      dryRun: false,
      log,
      signal,
    });
    expect(report.ok).toBe(true);
    expect(report.snapshots.filter((entry) => entry.removed === true)).toHaveLength(4);
    expect(report.leftovers[0]).toMatchObject({ id: stray, removed: true });
    const remaining = await repository.snapshots("task-db");
    expect(remaining.map((manifest) => manifest.id)).toEqual([made[4]?.id, made[5]?.id]);
    // Data of removed snapshots and the leftover is gone; nothing else under data/task-db.
    expect([...new Set((await files("data/task-db/")).map((key) => key.split("/")[2]))]).toEqual([
      made[4]?.id,
      made[5]?.id,
    ]);
    // The kept snapshots still decrypt; the other job is untouched.
    const newest = remaining.at(-1);
    if (newest === undefined) throw new Error("no snapshot left");
    expect(await text(await repository.openArtifact(newest, "dump", [keys.identity]))).toBe(
      `data of ${day(6).toISOString()}`,
    );
    expect((await repository.snapshots("task-files")).map((manifest) => manifest.id)).toEqual([other.id]);
    // The prune's own lock is released.
    expect(await inspectLock(repository, "task-db")).toEqual({ state: "free" });
  });

  it("never removes the newest snapshot, even with several in its bucket", async () => {
    await snapshot("task-db", new Date(Date.UTC(2026, 10, 28, 1)));
    const newest = await snapshot("task-db", new Date(Date.UTC(2026, 10, 28, 2)));
    await pruneJob(repository, "task-db", { retention: { keepYearly: 1 }, dryRun: false, log, signal });
    const left = await repository.snapshots("task-db");
    // keepYearly 1 keeps only the newest of 2026.
    expect(left.map((manifest) => manifest.id)).toEqual([newest.id]);
  });

  it("while another run holds the job's lock, removes only leftovers older than that run", async () => {
    for (let n = 1; n <= 3; n++) await snapshot("task-db", day(n));
    const old = await leftover("task-db", day(1));
    const holder = await acquireJobLock(repository, "task-db");
    try {
      // The running backup's own artifacts: taken after the holder's start.
      const current = await leftover("task-db", new Date());
      const report = await pruneJob(repository, "task-db", {
        retention: { keepLast: 1 },
        dryRun: false,
        log,
        signal,
      });
      expect(report.lock).toMatch(/^held by another run/);
      expect(report.snapshots.filter((entry) => entry.removed === true)).toHaveLength(2);
      const byId = new Map(report.leftovers.map((entry) => [entry.id, entry]));
      expect(byId.get(old)).toMatchObject({ action: "remove", removed: true });
      expect(byId.get(current)).toMatchObject({
        action: "keep",
        reason: "may belong to the run holding the job's lock",
      });
      expect(await files(`data/task-db/${current}/`)).toHaveLength(1);
      // The other run's lock is untouched.
      expect(await inspectLock(repository, "task-db")).toMatchObject({
        state: "held",
        lock: { start: holder.record.start, host: hostname(), pid: process.pid },
      });
    } finally {
      await holder.release();
    }
  });

  it("leaves a damaged manifest and its data alone, and reports it", async () => {
    await snapshot("task-db", day(1));
    const damaged = await snapshot("task-db", day(2));
    await snapshot("task-db", day(3));
    await mkdir(join(dir, "snapshots", "task-db"), { recursive: true });
    await writeFile(join(dir, "snapshots", "task-db", `${damaged.id}.json`), "{ truncated");
    const report = await pruneJob(repository, "task-db", {
      retention: { keepLast: 1 },
      dryRun: false,
      log,
      signal,
    });
    expect(report.damaged).toEqual([expect.stringContaining(damaged.id)]);
    expect(report.leftovers).toEqual([]);
    // The artifact and the manifest copy (the way to repair the manifest) both stay.
    expect(await files(`data/task-db/${damaged.id}/`)).toHaveLength(2);
    expect(report.snapshots.map((entry) => entry.action)).toEqual(["remove", "keep"]);
  });

  it("stops between deletions when aborted", async () => {
    for (let n = 1; n <= 4; n++) await snapshot("task-db", day(n));
    const controller = new AbortController();
    controller.abort(new Error("SIGTERM"));
    await expect(
      pruneJob(repository, "task-db", {
        retention: { keepLast: 1 },
        dryRun: false,
        log,
        signal: controller.signal,
      }),
    ).rejects.toThrow("SIGTERM");
    expect(await repository.snapshots("task-db")).toHaveLength(4);
    expect(await inspectLock(repository, "task-db")).toEqual({ state: "free" });
  });
});
