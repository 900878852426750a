import { describe, expect, it } from "vitest";
import { UsageError } from "../errors.js";
import { compareKeys, keyProblem, validateKey, validatePrefix, validateRange } from "./backend.js";

describe("keyProblem", () => {
  it.each([
    "backdrill.json",
    "snapshots/task-db/20261128T021500Z-3f9a1c.json",
    "data/job/snap/artifact name with spaces.age",
    "wal/job/000000010000000000000001.age",
    "ünïcödé/日本語/🎉",
    ".hidden-but-fine",
    "a/.tmp",
    "..a/b..",
  ])("accepts %j", (key) => {
    expect(keyProblem(key)).toBeNull();
  });

  it.each([
    ["", /empty/],
    ["/etc/passwd", /absolute/],
    ["dir/", /ends with/],
    ["a//b", /empty segment/],
    ["../up", /"\.\." segment/],
    ["a/./b", /"\." segment/],
    ["a\\b", /backslash/],
    ["tab\there", /control/],
    ["del\u007f", /control/],
    [".tmp-1234", /\.tmp-/],
    ["x".repeat(256), /segment longer/],
    [`${"abcdefgh/".repeat(120)}x`, /longer than 1024/],
    ["bad\uDC00", /Unicode/],
  ])("rejects %j", (key, reason) => {
    expect(keyProblem(key)).toMatch(reason);
    expect(() => validateKey(key)).toThrow(UsageError);
  });
});

describe("validatePrefix", () => {
  it("accepts the empty prefix, directories and partial names", () => {
    for (const prefix of ["", "snapshots/", "snapshots/job/2026", "data/job/"]) {
      expect(() => validatePrefix(prefix)).not.toThrow();
    }
  });

  it("rejects traversal and absolute prefixes", () => {
    for (const prefix of ["/", "/abs", "../", "a//", "a/../b"])
      expect(() => validatePrefix(prefix)).toThrow(UsageError);
  });
});

describe("validateRange", () => {
  it("accepts non-negative integers and rejects the rest", () => {
    expect(validateRange({ offset: 0, length: 0 })).toEqual({ offset: 0, length: 0 });
    for (const range of [
      { offset: -1, length: 1 },
      { offset: 0, length: -1 },
      { offset: 0.5, length: 1 },
      { offset: Number.NaN, length: 1 },
      { offset: 0, length: Number.POSITIVE_INFINITY },
    ]) {
      expect(() => validateRange(range)).toThrow(UsageError);
    }
  });
});

describe("compareKeys", () => {
  it("orders by UTF-8 bytes, as S3 lists, not by UTF-16 code units", () => {
    // U+FF61 is EF BD A1 in UTF-8 and sorts before U+1F600 (F0 9F 98 80); in UTF-16 the
    // surrogate pair D83D DE00 would sort first.
    expect(["\u{1F600}", "\uFF61"].sort(compareKeys)).toEqual(["\uFF61", "\u{1F600}"]);
    expect(["a/b", "a-b", "a0", "a"].sort(compareKeys)).toEqual(["a", "a-b", "a/b", "a0"]);
    expect(compareKeys("x", "x")).toBe(0);
  });
});
