import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateIdentity } from "../../crypto/keys.js";
import type { SnapshotManifest } from "../../repository/manifest.js";
import { Repository } from "../../repository/repository.js";
import { LocalBackend } from "../../storage/local/local-backend.js";
import { walArchiveHealth } from "./archive-health.js";
import type { PostgresBaseJob } from "./job-schema.js";
import { spoolBacklog } from "./spool.js";
import { WalArchive } from "./wal-archive.js";

let dir: string;
let repository: Repository;
let archive: WalArchive;
let key: { identity: string; recipient: string };
const job = { name: "task-wal", kind: "postgres-base" } as PostgresBaseJob;
const signal = new AbortController().signal;

/** A base backup of timeline 1 that starts and stops in segment 1 (16 MiB segments). */
const snapshot = {
  id: "20261205T010000Z-aaaaaa",
  meta: {
    startLsn: "0/1000028",
    stopLsn: "0/1000100",
    timeline: 1,
    startWalFile: "000000010000000000000001",
    stopTime: "2026-12-05T01:00:01Z",
    walSegmentSize: 16 * 1024 * 1024,
  },
} as unknown as SnapshotManifest;

async function push(name: string, content = name): Promise<void> {
  const file = path.join(dir, name);
  await writeFile(file, content);
  await archive.push(file, [key.recipient]);
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "archive-health-"));
  repository = new Repository(new LocalBackend({ path: path.join(dir, "repo") }));
  await repository.init();
  archive = new WalArchive(repository, "task-wal");
  key = await generateIdentity();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("WAL archive verification", () => {
  it("follows a timeline switch through its history file and names the gap as a range", async () => {
    for (const name of [
      "000000010000000000000001",
      "000000010000000000000002",
      "000000010000000000000005",
      "00000002.history",
      "000000020000000000000003",
      "000000020000000000000006",
    ])
      await push(name);
    const result = await walArchiveHealth.verify({ job, repository, snapshots: [snapshot], signal });
    expect(result.problems).toEqual([
      expect.stringContaining(
        "1 segment(s) missing from the archive: 000000020000000000000004 (checked 000000010000000000000002..000000020000000000000006 on timeline(s) 1, 2)",
      ),
    ]);
    expect(result.checked).toBe(6);
  });

  it("complete archive: no problems; a missing record and (with identities) a file that does not decrypt are named", async () => {
    for (let segno = 1; segno <= 4; segno += 1) await push(`00000001000000000000000${segno}`);
    const clean = await walArchiveHealth.verify({ job, repository, snapshots: [snapshot], signal });
    expect(clean.problems).toEqual([]);
    expect(clean.summary).toMatch(
      /every segment archived: 000000010000000000000002\.\.000000010000000000000004/,
    );
    const decrypted = await walArchiveHealth.verify({
      job,
      repository,
      snapshots: [snapshot],
      identities: [key.identity],
      signal,
    });
    expect(decrypted.problems).toEqual([]);

    await repository.backend.delete("wal/task-wal/000000010000000000000003.sha256");
    const noRecord = await walArchiveHealth.verify({ job, repository, snapshots: [snapshot], signal });
    expect(noRecord.problems).toEqual(["WAL file 000000010000000000000003 has no digest record"]);
    const other = await generateIdentity();
    const wrongKey = await walArchiveHealth.verify({
      job,
      repository,
      snapshots: [snapshot],
      identities: [other.identity],
      signal,
    });
    expect(wrongKey.problems).toHaveLength(4);
  });

  it("freshness: the newest stored file and the spool's backlog (in-flight copies not counted)", async () => {
    await push("000000010000000000000001");
    await push("000000010000000000000002");
    const spool = path.join(dir, "spool");
    await mkdir(spool);
    await writeFile(path.join(spool, "000000010000000000000003"), Buffer.alloc(1000));
    await writeFile(path.join(spool, "000000010000000000000004"), Buffer.alloc(24));
    await writeFile(path.join(spool, ".000000010000000000000005.tmp"), Buffer.alloc(5000));
    await writeFile(path.join(spool, "notes.txt"), "not WAL");
    const old = new Date("2026-12-05T00:00:00Z");
    await utimes(path.join(spool, "000000010000000000000003"), old, old);
    const fresh = await walArchiveHealth.freshness({ job: { ...job, spool, archiveRpo: "5m" }, repository });
    expect(fresh.newest?.name).toMatch(/^00000001000000000000000[12]$/);
    expect(fresh.rpoSeconds).toBe(300);
    expect(fresh.backlog).toEqual({ dir: spool, files: 2, bytes: 1024, oldest: old });
    expect(await spoolBacklog(path.join(dir, "elsewhere"))).toBeNull();
  });
});
