import { describe, expect, it } from "vitest";
import type { ScannedEntry } from "./entries.js";
import type { CacheLine } from "./hash-cache.js";
import { needsRecopy, SETTLE_MARGIN_NS, sourceRecord, type SourceRecord } from "./source-changes.js";

const file = (over: Partial<ScannedEntry> = {}): ScannedEntry => ({
  path: "a.txt",
  type: "file",
  size: 3,
  mode: "0644",
  uid: 0,
  gid: 0,
  dev: "2049",
  ino: "42",
  mtimeNs: "1000",
  ctimeNs: "5000",
  ...over,
});
const sha = "ab".repeat(32);

describe("source records", () => {
  const started = 10n * SETTLE_MARGIN_NS;

  it("records files whose last change is older than rsync's start minus the margin, others as unsettled", () => {
    const old = sourceRecord(file({ ctimeNs: String(started - SETTLE_MARGIN_NS - 1n) }), started);
    expect(old).toEqual(["2049", "42", 3, "1000", String(started - SETTLE_MARGIN_NS - 1n)]);
    expect(sourceRecord(file({ ctimeNs: String(started - SETTLE_MARGIN_NS) }), started)?.[4]).toBeNull();
    expect(sourceRecord(file({ ctimeNs: String(started + 1n) }), started)?.[4]).toBeNull();
    expect(sourceRecord(file({ type: "dir" }), started)).toBeUndefined();
    expect(sourceRecord(file({ ctimeNs: undefined }), started)).toBeUndefined();
  });
});

describe("files to re-copy", () => {
  const stored = (size = 3, mtimeNs = "1000"): CacheLine["stored"] => ["2049", "42", size, mtimeNs, sha];
  const recorded = (over: Partial<ScannedEntry> = {}): SourceRecord | null =>
    sourceRecord(file(over), 10n * SETTLE_MARGIN_NS) ?? null;
  const line = (source: SourceRecord | null = recorded(), copy = stored()): CacheLine => ({
    path: "a.txt",
    stored: copy,
    source,
  });

  it("leaves a file whose source inode and ctime are the recorded ones to rsync's link", () => {
    expect(needsRecopy(file(), line())).toBe(false);
  });

  it("re-copies a file rewritten with size and mtime kept (ctime moved), or replaced (new inode or device)", () => {
    expect(needsRecopy(file({ ctimeNs: "6000" }), line())).toBe(true);
    expect(needsRecopy(file({ ino: "43" }), line())).toBe(true);
    expect(needsRecopy(file({ dev: "2050" }), line())).toBe(true);
  });

  it("does not re-copy what rsync copies anyway: other size or mtime than the stored copy, or new files", () => {
    expect(needsRecopy(file({ ctimeNs: "6000", size: 4 }), line())).toBe(false);
    expect(needsRecopy(file({ ctimeNs: "6000", mtimeNs: "2000" }), line())).toBe(false);
    expect(needsRecopy(file({ path: "new.txt" }), undefined)).toBe(false);
    expect(needsRecopy(file({ type: "dir" }), line())).toBe(false);
    expect(needsRecopy(file(), line(recorded(), null))).toBe(false);
  });

  it("compares with the stored copy, not only the record: a file that changed while it was copied", () => {
    // Recorded at size 3/mtime 1000, but the snapshot holds a copy of size 5/mtime 900 and the
    // source is back at 5/900 with a new ctime: rsync would link it, so it is copied again.
    expect(
      needsRecopy(file({ size: 5, mtimeNs: "900", ctimeNs: "7000" }), line(recorded(), stored(5, "900"))),
    ).toBe(true);
  });

  it("re-copies when the record is unsettled or missing (the safe direction)", () => {
    const unsettled = recorded({ ctimeNs: String(10n * SETTLE_MARGIN_NS) });
    expect(unsettled?.[4]).toBeNull();
    expect(needsRecopy(file({ ctimeNs: String(10n * SETTLE_MARGIN_NS) }), line(unsettled))).toBe(true);
    expect(needsRecopy(file(), line(null))).toBe(true);
  });
});
