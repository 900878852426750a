import { describe, expect, it } from "vitest";
import {
  followingSegments,
  formatLsn,
  isWalSegmentSize,
  lsnSegment,
  parseLsn,
  parseWalFileName,
  requireWalFileName,
  segmentName,
  segmentNumber,
} from "./wal-name.js";

const MiB16 = 16 * 1024 * 1024;

describe("WAL file names", () => {
  it("parses segments, partials, history and backup files", () => {
    expect(parseWalFileName("000000010000000A000000FF")).toMatchObject({
      kind: "segment",
      timeline: 1,
      log: 10,
      seg: 255,
    });
    expect(parseWalFileName("000000020000000000000003.partial")).toMatchObject({
      kind: "partial",
      timeline: 2,
    });
    expect(parseWalFileName("00000002.history")).toMatchObject({ kind: "history", timeline: 2 });
    expect(parseWalFileName("000000010000000000000002.00000028.backup")).toMatchObject({
      kind: "backup",
      seg: 2,
    });
  });

  it("refuses anything else, with a clear message", () => {
    for (const bad of [
      "../../etc/passwd",
      "000000010000000000000002x",
      "00000001000000000000000g",
      "RECOVERYXLOG",
      "",
    ]) {
      expect(parseWalFileName(bad)).toBeNull();
    }
    expect(() => requireWalFileName("../x")).toThrow(/not a WAL file name/);
  });

  it("computes segment numbers and names both ways (16 MiB: 256 segments per log)", () => {
    const file = requireWalFileName("0000000100000001000000FF");
    expect(segmentNumber(file, MiB16)).toBe(511);
    expect(segmentName(1, 512, MiB16)).toBe("000000010000000200000000");
    expect(segmentName(3, 5, 64 * 1024 * 1024)).toBe("000000030000000000000005");
    expect(segmentName(1, 64, 64 * 1024 * 1024)).toBe("000000010000000100000000");
  });

  it("parses and formats LSNs", () => {
    expect(parseLsn("0/3000028")).toBe(0x3000028);
    expect(parseLsn("1/0")).toBe(0x1_0000_0000);
    expect(formatLsn(0x1_0300_0028)).toBe("1/3000028");
    expect(lsnSegment(parseLsn("0/3000028"), MiB16)).toBe(3);
    expect(() => parseLsn("0-3")).toThrow(/not an LSN/);
  });
});

describe("segment arithmetic for prefetch", () => {
  it("names the following segments across the log boundary, per segment size", () => {
    const last = requireWalFileName("0000000200000000000000FE");
    expect(followingSegments(last, 3, MiB16)).toEqual([
      "0000000200000000000000FF",
      "000000020000000100000000",
      "000000020000000100000001",
    ]);
    expect(followingSegments(requireWalFileName("000000010000000000000003"), 2, 1 << 30)).toEqual([
      "000000010000000100000000",
      "000000010000000100000001",
    ]);
    expect(followingSegments(requireWalFileName("00000002.history"), 3, MiB16)).toEqual([]);
    expect([MiB16, 1 << 20, 1 << 30].every(isWalSegmentSize)).toBe(true);
    expect([0, 1 << 19, 2 << 30, MiB16 + 1, 3 << 20].some(isWalSegmentSize)).toBe(false);
  });
});
