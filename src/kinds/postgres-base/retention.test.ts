import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateIdentity } from "../../crypto/keys.js";
import type { SnapshotManifest } from "../../repository/manifest.js";
import { Repository } from "../../repository/repository.js";
import { LocalBackend } from "../../storage/local/local-backend.js";
import { pruneWal } from "./retention.js";
import { WalArchive } from "./wal-archive.js";

let dir: string;
let repository: Repository;
let archive: WalArchive;

const SEGMENT = 16 * 1024 * 1024;
const names = [
  "000000010000000000000001",
  "000000010000000000000002",
  "000000010000000000000003",
  "000000010000000000000004",
  "000000010000000000000005",
  "00000002.history",
  "000000020000000000000006",
];

function snapshot(id: string, startWalFile: string | null): SnapshotManifest {
  return {
    format: 1,
    id,
    job: "task-wal",
    kind: "postgres-base",
    createdAt: "2026-11-28T02:00:00.000Z",
    finishedAt: "2026-11-28T02:01:00.000Z",
    host: "test",
    backdrillVersion: "0.0.0",
    meta: startWalFile === null ? {} : { startWalFile, walSegmentSize: SEGMENT },
    artifacts: [],
  };
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "wal-retention-"));
  repository = new Repository(new LocalBackend({ path: path.join(dir, "repo") }));
  archive = new WalArchive(repository, "task-wal");
  const { recipient } = await generateIdentity();
  for (const name of names) {
    const file = path.join(dir, name);
    await writeFile(file, `content of ${name}`);
    await archive.push(file, [recipient]);
  }
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const archived = async () => (await archive.list()).map((file) => file.name).sort();

describe("pruneWal", () => {
  it("keeps every segment from the oldest retained base backup's start on, and all history files", async () => {
    const report = await pruneWal(
      repository,
      "task-wal",
      [
        snapshot("20261128T020000Z-aaaaaa", "000000010000000000000003"),
        snapshot("20261129T020000Z-bbbbbb", "000000010000000000000005"),
      ],
      { dryRun: false },
    );
    expect(report.removed.sort()).toEqual(["000000010000000000000001", "000000010000000000000002"]);
    expect(report.keepFrom).toBe("000000010000000000000003");
    expect(await archived()).toEqual(names.slice(2).sort());
  });

  it("a dry run lists what would go and removes nothing", async () => {
    const report = await pruneWal(
      repository,
      "task-wal",
      [snapshot("20261128T020000Z-aaaaaa", "000000010000000000000004")],
      {
        dryRun: true,
      },
    );
    expect(report.removed).toHaveLength(3);
    expect(await archived()).toEqual([...names].sort());
  });

  it("keeps everything when no snapshot is retained or one lacks its start segment", async () => {
    expect((await pruneWal(repository, "task-wal", [], { dryRun: false })).removed).toEqual([]);
    const report = await pruneWal(
      repository,
      "task-wal",
      [
        snapshot("20261128T020000Z-aaaaaa", "000000010000000000000004"),
        snapshot("20261129T020000Z-bbbbbb", null),
      ],
      { dryRun: false },
    );
    expect(report.removed).toEqual([]);
    expect(await archived()).toEqual([...names].sort());
  });
});
