import { describe, expect, it } from "vitest";
import type { ScannedEntry } from "./entries.js";
import { buildSourceRecords, filesToRecopy, SETTLE_MARGIN_NS, type StoredCopy } from "./source-changes.js";

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

describe("source records", () => {
  const started = 10n * SETTLE_MARGIN_NS;

  it("records files whose last change is older than rsync's start minus the margin, others as unsettled", () => {
    const records = buildSourceRecords(
      [
        file({ path: "old", ctimeNs: String(started - SETTLE_MARGIN_NS - 1n) }),
        file({ path: "edge", ctimeNs: String(started - SETTLE_MARGIN_NS) }),
        file({ path: "during", ctimeNs: String(started + 1n) }),
        file({ path: "dir", type: "dir" }),
        file({ path: "remote", ctimeNs: undefined }),
      ],
      started,
    );
    expect(records.old).toEqual(["2049", "42", 3, "1000", String(started - SETTLE_MARGIN_NS - 1n)]);
    expect(records.edge?.[4]).toBeNull();
    expect(records.during?.[4]).toBeNull();
    expect(Object.keys(records).sort()).toEqual(["during", "edge", "old"]);
  });
});

describe("files to re-copy", () => {
  const stored = (copies: Record<string, StoredCopy>) => (path: string) =>
    Object.hasOwn(copies, path) ? copies[path] : undefined;
  const same = { size: 3, mtimeNs: "1000" };
  const recorded = (over: Partial<ScannedEntry> = {}) =>
    buildSourceRecords([file(over)], 10n * SETTLE_MARGIN_NS) as Record<string, unknown>;

  it("leaves a file whose source inode and ctime are the recorded ones to rsync's link", () => {
    expect(filesToRecopy([file()], recorded(), stored({ "a.txt": same }))).toEqual([]);
  });

  it("re-copies a file rewritten with size and mtime kept (ctime moved), or replaced (new inode or device)", () => {
    const previous = recorded();
    const copies = stored({ "a.txt": same });
    expect(filesToRecopy([file({ ctimeNs: "6000" })], previous, copies)).toEqual(["a.txt"]);
    expect(filesToRecopy([file({ ino: "43" })], previous, copies)).toEqual(["a.txt"]);
    expect(filesToRecopy([file({ dev: "2050" })], previous, copies)).toEqual(["a.txt"]);
  });

  it("does not re-copy what rsync copies anyway: other size or mtime than the stored copy, or new files", () => {
    const previous = recorded();
    expect(filesToRecopy([file({ ctimeNs: "6000", size: 4 })], previous, stored({ "a.txt": same }))).toEqual(
      [],
    );
    expect(
      filesToRecopy([file({ ctimeNs: "6000", mtimeNs: "2000" })], previous, stored({ "a.txt": same })),
    ).toEqual([]);
    expect(filesToRecopy([file({ path: "new.txt" })], previous, stored({ "a.txt": same }))).toEqual([]);
    expect(filesToRecopy([file({ type: "dir" })], previous, stored({ "a.txt": same }))).toEqual([]);
  });

  it("compares with the stored copy, not only the record: a file that changed while it was copied", () => {
    // Recorded at size 3/mtime 1000, but the snapshot holds a copy of size 5/mtime 900 and the
    // source is back at 5/900 with a new ctime: rsync would link it, so it is copied again.
    const previous = recorded();
    const copies = stored({ "a.txt": { size: 5, mtimeNs: "900" } });
    expect(filesToRecopy([file({ size: 5, mtimeNs: "900", ctimeNs: "7000" })], previous, copies)).toEqual([
      "a.txt",
    ]);
  });

  it("re-copies when the record is unsettled, missing or malformed (the safe direction)", () => {
    const copies = stored({ "a.txt": same });
    const unsettled = buildSourceRecords(
      [file({ ctimeNs: String(10n * SETTLE_MARGIN_NS) })],
      10n * SETTLE_MARGIN_NS,
    );
    expect(filesToRecopy([file({ ctimeNs: String(10n * SETTLE_MARGIN_NS) })], unsettled, copies)).toEqual([
      "a.txt",
    ]);
    expect(filesToRecopy([file()], undefined, copies)).toEqual(["a.txt"]);
    expect(filesToRecopy([file()], {}, copies)).toEqual(["a.txt"]);
    expect(filesToRecopy([file()], { "a.txt": ["2049", "42", 3, "1000"] }, copies)).toEqual(["a.txt"]);
    expect(filesToRecopy([file()], { "a.txt": "x" }, copies)).toEqual(["a.txt"]);
    // An inherited property is not a record.
    expect(filesToRecopy([file({ path: "constructor" })], {}, stored({ constructor: same }))).toEqual([
      "constructor",
    ]);
  });

  it("returns paths sorted, for a deterministic --files-from list", () => {
    const files = ["b", "a", "c"].map((path) => file({ path, ctimeNs: "9" }));
    const copies = stored({ a: same, b: same, c: same });
    const previous = buildSourceRecords(
      ["b", "a", "c"].map((path) => file({ path })),
      10n * SETTLE_MARGIN_NS,
    );
    expect(filesToRecopy(files, previous, copies)).toEqual(["a", "b", "c"]);
  });
});
