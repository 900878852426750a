import { describe, expect, it } from "vitest";
import { checkContinuity, describeContinuity } from "./continuity.js";
import { parseRecoveryLog, recoverySettings, resolveTarget } from "./recovery.js";
import { parseWalFileName } from "./wal-name.js";
import type { ArchivedWal } from "./wal-archive.js";

const SIZE = 16 * 1024 * 1024;
const files = (...names: string[]): ArchivedWal[] =>
  names.map((name) => {
    const parsed = parseWalFileName(name);
    if (parsed === null) throw new Error(name);
    return { ...parsed, size: 1, modified: new Date(0) };
  });

describe("WAL continuity", () => {
  it("passes when every segment after the backup is archived", () => {
    const result = checkContinuity({
      archived: files("000000010000000000000003", "000000010000000000000004", "000000010000000000000005"),
      timeline: 1,
      stopSegment: 2,
      segmentSize: SIZE,
    });
    expect(result).toMatchObject({ ok: true, from: 3, until: 5, missingCount: 0 });
  });

  it("names single gaps and ranges", () => {
    const result = checkContinuity({
      archived: files("000000010000000000000003", "000000010000000000000005", "000000010000000000000009"),
      timeline: 1,
      stopSegment: 2,
      segmentSize: SIZE,
    });
    expect(result.gaps).toEqual([
      "000000010000000000000004",
      "000000010000000000000006..000000010000000000000008",
    ]);
    expect(describeContinuity(result, SIZE, 1)).toMatch(/4 segment\(s\) missing/);
  });

  it("follows later timelines that have a history file", () => {
    const result = checkContinuity({
      archived: files(
        "000000010000000000000003",
        "00000002.history",
        "000000020000000000000004",
        "000000030000000000000005",
      ),
      timeline: 1,
      stopSegment: 2,
      segmentSize: SIZE,
    });
    // Timeline 3 has no history file: not followed, so nothing after 4 is expected.
    expect(result).toMatchObject({ ok: true, until: 4, timelines: [1, 2] });
  });
});

describe("recovery targets", () => {
  const window = {
    stopLsn: "0/3000100",
    stopTime: "2026-11-28T02:00:00.000Z",
    newestSegmentStartLsn: 0x9000000,
  };
  it("resolves latest, times and random LSNs inside the archive", () => {
    expect(resolveTarget("latest", window)).toEqual({ kind: "latest" });
    expect(resolveTarget("2026-11-28T03:00:00+01:00", window)).toEqual({
      kind: "time",
      time: "2026-11-28T02:00:00.000Z",
    });
    expect(resolveTarget("random", window, () => 0.5)).toEqual({
      kind: "lsn",
      lsn: "0/6000080",
      chosenAs: "random",
    });
    expect(() => resolveTarget("2026-11-28T01:00:00Z", window)).toThrow(
      /before the base backup's consistency point/,
    );
  });

  it("writes recovery_target_time in a form PostgreSQL accepts, and promotes", () => {
    const settings = Object.fromEntries(
      recoverySettings({ kind: "time", time: "2026-11-28T02:00:00.123Z" }, "cp /w/%f %p"),
    );
    expect(settings).toMatchObject({
      recovery_target_time: "2026-11-28 02:00:00.123+00",
      recovery_target_action: "promote",
      restore_command: "cp /w/%f %p",
    });
  });

  it("reads the recovery log", () => {
    const log = [
      '2026-11-28 17:03:27 GMT [30] LOG:  restored log file "000000010000000000000003" from archive',
      '2026-11-28 17:03:27 GMT [30] LOG:  restored log file "000000010000000000000004" from archive',
      "2026-11-28 17:03:27 GMT [30] LOG:  recovery stopping before commit of transaction 786, time 2026-11-28 17:03:24.220169+00",
      "2026-11-28 17:03:27 GMT [30] LOG:  last completed transaction was at log time 2026-11-28 17:03:23.415572+00",
      "2026-11-28 17:03:27 GMT [30] LOG:  selected new timeline ID: 2",
      "2026-11-28 17:03:27 GMT [30] LOG:  archive recovery complete",
    ].join("\n");
    expect(parseRecoveryLog(log)).toMatchObject({
      restoredSegments: 2,
      newTimeline: 2,
      promoted: true,
      lastTransactionTime: "2026-11-28 17:03:23.415572+00",
    });
  });
});
