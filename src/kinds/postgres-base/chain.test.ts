import { describe, expect, it } from "vitest";
import type { SnapshotManifest } from "../../repository/manifest.js";
import { selectRetention, withNeeded } from "../../ops/retention.js";
import { decideBackup, keepChains, MAX_CHAIN, readChainMeta, resolveChain } from "./chain.js";

const SHA = "a".repeat(64);

function id(n: number): string {
  return `20261201T0000${String(n).padStart(2, "0")}Z-abcdef`;
}

function snap(
  n: number,
  meta: Record<string, string | number | null> = {},
  job = "task-wal",
): SnapshotManifest {
  return {
    format: 1,
    id: id(n),
    job,
    kind: "postgres-base",
    createdAt: `2026-12-01T00:00:${String(n).padStart(2, "0")}.000Z`,
    finishedAt: `2026-12-01T00:00:${String(n).padStart(2, "0")}.500Z`,
    host: "test",
    backdrillVersion: "0.0.0",
    meta: { manifestSha256: SHA, ...meta },
    artifacts: [],
  };
}

const full = (n: number) => snap(n, { backupType: "full" });
const incr = (n: number, parent: number, chainFull: number, job?: string) =>
  snap(n, { backupType: "incremental", parent: id(parent), chainFull: id(chainFull) }, job);

describe("incremental chains", () => {
  it("resolves incremental → … → full, full first", () => {
    const all = [full(1), incr(2, 1, 1), incr(3, 2, 1)];
    expect(resolveChain(all[2] as SnapshotManifest, all).map((s) => s.id)).toEqual([id(1), id(2), id(3)]);
    expect(resolveChain(all[0] as SnapshotManifest, all).map((s) => s.id)).toEqual([id(1)]);
  });

  it("treats a snapshot from before incremental backups as full", () => {
    expect(readChainMeta({}, id(1))).toEqual({ type: "full", manifestSha256: null });
  });

  it("names a missing parent", () => {
    const all = [incr(2, 1, 1), incr(3, 2, 1)];
    expect(() => resolveChain(all[1] as SnapshotManifest, all)).toThrow(
      `snapshot ${id(2)}: its parent ${id(1)} is not in the repository (job task-wal)`,
    );
  });

  it("names a refused parent instead of acting on it", () => {
    const all = [incr(3, 2, 1)];
    expect(() => resolveChain(all[0] as SnapshotManifest, all, new Set([id(2)]))).toThrow(
      /its parent .* is a snapshot the repository refuses/,
    );
  });

  it("refuses a parent of another job", () => {
    const other = full(1);
    other.job = "other";
    const all = [other, incr(2, 1, 1)];
    expect(() => resolveChain(all[1] as SnapshotManifest, all)).toThrow(/belongs to another job/);
  });

  it("refuses a cycle and a parent that is not older", () => {
    const loop = [incr(2, 3, 1), incr(3, 2, 1)];
    expect(() => resolveChain(loop[1] as SnapshotManifest, loop)).toThrow(/not older|cycle/);
    const self = [incr(2, 2, 1)];
    expect(() => resolveChain(self[0] as SnapshotManifest, self)).toThrow(/cycle/);
  });

  it("refuses a chain ending in another full backup than it names", () => {
    const all = [full(1), incr(2, 1, 1), incr(3, 2, 2)];
    expect(() => resolveChain(all[2] as SnapshotManifest, all)).toThrow(/ends in the full backup/);
  });

  it("refuses hostile meta values before they reach a path or argv", () => {
    expect(() =>
      readChainMeta({ backupType: "incremental", parent: "../x", chainFull: id(1) }, id(2)),
    ).toThrow(/not a snapshot id/);
    expect(() => readChainMeta({ backupType: "diff" }, id(2))).toThrow(/neither full nor incremental/);
    expect(() => readChainMeta({ manifestSha256: "zz" }, id(2))).toThrow(/not a SHA-256/);
  });

  it("bounds the chain length", () => {
    const all = [full(0), ...Array.from({ length: MAX_CHAIN }, (_, i) => incr(i + 1, i, 0))];
    expect(() => resolveChain(all.at(-1) as SnapshotManifest, all)).toThrow(/longer than 64/);
  });
});

describe("full or incremental", () => {
  const now = new Date("2026-12-01T00:01:00.000Z");
  const config = { fullEvery: 3, stateDir: "/state" };

  it("is full without the setting, without history, and when the count is reached", () => {
    expect(decideBackup(undefined, [full(1)], now).type).toBe("full");
    expect(decideBackup(config, [], now).type).toBe("full");
    const chain = [full(1), incr(2, 1, 1), incr(3, 2, 1)];
    expect(decideBackup(config, chain, now)).toMatchObject({
      type: "full",
      reason: expect.stringContaining("fullEvery: 3"),
    });
  });

  it("is incremental against the newest snapshot within the count", () => {
    const decision = decideBackup(config, [full(1), incr(2, 1, 1)], now);
    expect(decision).toMatchObject({ type: "incremental", chainFull: id(1), manifestSha256: SHA });
    expect(decision.type === "incremental" ? decision.parent.id : null).toBe(id(2));
  });

  it("follows a duration since the chain's full backup", () => {
    const chain = [full(1), incr(2, 1, 1)];
    expect(decideBackup({ fullEvery: "1h", stateDir: "/s" }, chain, now).type).toBe("incremental");
    expect(decideBackup({ fullEvery: "30s", stateDir: "/s" }, chain, now).type).toBe("full");
  });

  it("is full when the newest snapshot recorded no manifest checksum or its chain is broken", () => {
    expect(
      decideBackup(
        config,
        [snap(1)].map((s) => ({ ...s, meta: {} })),
        now,
      ).type,
    ).toBe("full");
    expect(decideBackup(config, [incr(2, 1, 1)], now)).toMatchObject({
      type: "full",
      reason: expect.stringContaining("is not in the repository"),
    });
  });
});

describe("retention keeps what a kept chain needs", () => {
  it("keeps the full backup and intermediates of a kept incremental, with the reason", () => {
    const all = [full(1), incr(2, 1, 1), incr(3, 2, 1), full(4), incr(5, 4, 4), incr(6, 5, 4)];
    const decisions = withNeeded(selectRetention(all, { keepLast: 1 }), all, keepChains);
    expect(decisions.map((d) => [d.snapshot.id, d.keep])).toEqual([
      [id(1), false],
      [id(2), false],
      [id(3), false],
      [id(4), true],
      [id(5), true],
      [id(6), true],
    ]);
    expect(decisions[3]?.reasons).toEqual([`needed by the incremental backup ${id(6)}`]);
  });

  it("keeps a chain whose newest link a calendar rule keeps, and nothing for a full backup", () => {
    const all = [full(1), incr(2, 1, 1), incr(3, 2, 1)];
    expect(keepChains([all[2] as SnapshotManifest], all).map((e) => e.id)).toEqual([id(1), id(2)]);
    expect(keepChains([all[0] as SnapshotManifest], all)).toEqual([]);
  });
});
