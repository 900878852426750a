import { describe, expect, it } from "vitest";
import { formatDuration, isDuration, parseDurationSeconds } from "./duration.js";

describe("durations", () => {
  it.each([
    ["90s", 90],
    ["30m", 1800],
    ["26h", 93_600],
    ["7d", 604_800],
    ["2w", 1_209_600],
    ["1h30m", 5400],
  ])("%s is %i seconds", (text, seconds) => {
    expect(isDuration(text)).toBe(true);
    expect(parseDurationSeconds(text)).toBe(seconds);
  });

  it.each(["", "26", "26 h", "h", "1.5h", "-1h", "1y", "1M", "0s", "26H"])("rejects %j", (text) => {
    expect(isDuration(text)).toBe(false);
  });

  it("throws on text that is not a duration", () => {
    expect(() => parseDurationSeconds("soon")).toThrow(/duration like/);
  });

  it("formats seconds back into the shortest exact spelling", () => {
    expect(formatDuration(93_600)).toBe("1d2h");
    expect(formatDuration(5400)).toBe("1h30m");
    expect(formatDuration(0)).toBe("0s");
    expect(parseDurationSeconds(formatDuration(1_000_001))).toBe(1_000_001);
  });
});
