/**
 * walkLocalTree through the native directory scan (scanDir, native/scan_dir.c) and through
 * node:fs (BACKDRILL_NATIVE_CRYPTO=0): the same entries in the same order, the same fields, the
 * same errors and skips, on a real tree with the entries a source holds (symlinks, a FIFO, odd
 * modes, a time before 1970, names whose UTF-16 and UTF-8 orders differ, a name that is not
 * UTF-8). And scanDir's own contract against lstatSync. CI requires the addon (stream.test.ts).
 */
import { chmodSync, lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IMPLEMENTATIONS, useImplementation } from "../../../test/support/crypto-implementations.js";
import { nativeAgeStream, SCAN_FIELDS } from "../../crypto/age/native.js";
import { run } from "../../exec/process.js";
import type { ScannedEntry } from "./entries.js";
import { scanLocalTree, walkLocalTree } from "./local-tree.js";
import { OperationError } from "../../errors.js";

let dir: string;
/** A tree that also holds a name that is not UTF-8 (node:fs cannot name it, so lstat fails). */
let badDir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "backdrill-walk-unit-"));
  const at = (rel: string) => path.join(dir, rel);
  mkdirSync(at("a/b/c"), { recursive: true });
  mkdirSync(at("empty"));
  writeFileSync(at("a/one.txt"), "one\n");
  writeFileSync(at("a/b/two.bin"), Buffer.alloc(70_000, 2));
  writeFileSync(at("a/b/c/zero"), "");
  // UTF-16 order puts "😀" (a surrogate pair, 0xD83D…) before "！" (0xFF01); UTF-8 bytes the other way.
  for (const name of ["！full-width", "😀 emoji", "Überweisung – März.txt", "日本語", "Z", "a b", "~"])
    writeFileSync(at(name), name);
  for (let i = 0; i < 600; i += 1) writeFileSync(at(`a/many-${i}`), String(i));
  symlinkSync("../a/one.txt", at("a/b/relative link"));
  symlinkSync("/nonexistent/target", at("dangling"));
  await run("mkfifo", [at("a/fifo")]);
  writeFileSync(at("setuid"), "#!/bin/sh\n");
  chmodSync(at("setuid"), 0o4755);
  chmodSync(at("empty"), 0o1777);
  writeFileSync(at("old"), "before 1970");
  // node:fs takes a negative time for "now"; touch sets it.
  await run("touch", ["-d", "@-86400.25", at("old")]);

  badDir = await mkdtemp(path.join(os.tmpdir(), "backdrill-walk-bad-"));
  writeFileSync(path.join(badDir, "fine"), "ok");
  writeFileSync(Buffer.from([...Buffer.from(`${badDir}/not-utf8-`), 0xff, 0xfe]), "bytes");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(badDir, { recursive: true, force: true });
});

/** What each implementation walked, to compare across the describe blocks. */
const walked = new Map<string, ScannedEntry[]>();

describe.each(IMPLEMENTATIONS)("walkLocalTree (%s)", (implementation) => {
  useImplementation(implementation);

  it("gives every entry in tree order with node:fs's lstat fields", async () => {
    const entries = await scanLocalTree(dir);
    walked.set(implementation, entries);
    // Tree order: sorted as Array.prototype.sort sorts each directory's names, pre-order.
    const top = entries.filter((entry) => !entry.path.includes("/")).map((entry) => entry.path);
    expect(top).toEqual([...top].sort());
    expect(top.indexOf("😀 emoji")).toBeLessThan(top.indexOf("！full-width"));
    expect(entries.findIndex((e) => e.path === "a/b")).toBeLessThan(
      entries.findIndex((e) => e.path === "a/b/c"),
    );
    expect(entries.length).toBe(3 + 1 + 3 + 7 + 600 + 2 + 1 + 2);
    for (const entry of entries) {
      const stats = lstatSync(path.join(dir, entry.path), { bigint: true });
      const expected: ScannedEntry = {
        path: entry.path,
        type: stats.isFile()
          ? "file"
          : stats.isDirectory()
            ? "dir"
            : stats.isSymbolicLink()
              ? "symlink"
              : "other",
        size: Number(stats.size),
        mode: (Number(stats.mode) & 0o7777).toString(8).padStart(4, "0"),
        uid: Number(stats.uid),
        gid: Number(stats.gid),
        dev: stats.dev.toString(),
        ino: stats.ino.toString(),
        mtimeNs: stats.mtimeNs.toString(),
        ctimeNs: stats.ctimeNs.toString(),
      };
      if (stats.isSymbolicLink()) expected.target = readlinkSync(path.join(dir, entry.path));
      expect(entry).toEqual(expected);
    }
    const byPath = new Map(entries.map((entry) => [entry.path, entry]));
    expect(byPath.get("a/fifo")?.type).toBe("other");
    expect(byPath.get("setuid")?.mode).toBe("4755");
    expect(byPath.get("empty")?.mode).toBe("1777");
    expect(byPath.get("dangling")?.target).toBe("/nonexistent/target");
    expect(BigInt(byPath.get("old")?.mtimeNs ?? "0")).toBe(-86_400_250_000_000n);
  });

  it("refuses a name that is not UTF-8, naming its bytes, also on a live source", async () => {
    for (const options of [{}, { skipVanished: true }]) {
      const refused = scanLocalTree(badDir, undefined, options);
      await expect(refused).rejects.toBeInstanceOf(OperationError);
      await expect(refused).rejects.toThrow(
        `${badDir} holds file names that are not valid UTF-8: not-utf8-\\xff\\xfe`,
      );
      await expect(refused).rejects.toMatchObject({ hint: expect.stringContaining("convmv") });
    }
  });

  it("fails on a missing root as node:fs does, and gives nothing for it on a live source", async () => {
    const missing = path.join(dir, "no such dir");
    await expect(scanLocalTree(missing)).rejects.toMatchObject({ code: "ENOENT", syscall: "scandir" });
    expect(await scanLocalTree(missing, undefined, { skipVanished: true })).toEqual([]);
  });
});

describe("walkLocalTree through node:fs", () => {
  useImplementation("node:crypto");

  // node:fs only: the native scan lstats a directory's entries when it lists it, so an entry
  // removed afterwards is already read (as on any walk that got there first).
  it("still skips an entry that vanishes under a valid name holding U+FFFD", async () => {
    const live = await mkdtemp(path.join(os.tmpdir(), "backdrill-walk-live-"));
    try {
      for (let i = 0; i < 600; i += 1) writeFileSync(path.join(live, `f${String(i).padStart(3, "0")}`), "x");
      const vanishing = path.join(live, "zz gone \uFFFD");
      writeFileSync(vanishing, "here");
      const seen: string[] = [];
      for await (const batch of walkLocalTree(live, undefined, { skipVanished: true })) {
        seen.push(...batch.map((entry) => entry.path));
        // After the first batch: listed, not yet looked at (it sorts after the 600 others).
        if (seen.length === batch.length) rmSync(vanishing);
      }
      expect(seen).toHaveLength(600);
      expect(seen).not.toContain("zz gone \uFFFD");
    } finally {
      await rm(live, { recursive: true, force: true });
    }
  });
});

describe.runIf(IMPLEMENTATIONS.includes("native"))("the native scan", () => {
  it("walks exactly what node:fs walks", () => {
    expect(walked.get("native")).toEqual(walked.get("node:crypto"));
  });

  it("scanDir packs each entry's lstat fields, flags what node:fs must look at itself", () => {
    const addon = nativeAgeStream();
    if (addon === null) throw new Error("the addon is required here");
    const scan = addon.scanDir(badDir);
    if (scan === null) throw new Error("scanDir could not read a readable directory");
    expect([...scan.names].sort()).toEqual(["fine", "not-utf8-\uFFFD\uFFFD"]);
    const numbers = new Float64Array(scan.fields);
    const unsigned = new BigUint64Array(scan.fields);
    expect(scan.fields.byteLength).toBe(2 * SCAN_FIELDS * 8);
    const fine = scan.names.indexOf("fine");
    const stats = lstatSync(path.join(badDir, "fine"), { bigint: true });
    expect(numbers[fine * SCAN_FIELDS]).toBe(0);
    expect(numbers[fine * SCAN_FIELDS + 2]).toBe(2);
    expect(unsigned[fine * SCAN_FIELDS + 6]).toBe(stats.ino);
    // EILSEQ: the name is not UTF-8, so the decoded name is not the file's.
    expect(numbers[(1 - fine) * SCAN_FIELDS]).toBe(os.constants.errno.EILSEQ);
    expect(addon.scanDir(path.join(badDir, "fine"))).toBeNull();
    expect(addon.scanDir(path.join(badDir, "missing"))).toBeNull();
    expect(() => addon.scanDir(`${badDir}\0x`)).toThrow(TypeError);
    expect(() => (addon.scanDir as (dir: unknown) => unknown)(42)).toThrow(TypeError);
  });
});
