import { mkdtemp, rm, symlink, writeFile, chmod, mkdir, link } from "node:fs/promises";
import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { isoFromNs, nsFromSecondsText, type ScannedEntry } from "./entries.js";
import {
  cachedHash,
  cacheHeader,
  HashCacheReader,
  parseHashCacheText,
  type CacheLine,
} from "./hash-cache.js";
import { hashLocalFiles, hashSmallFileSync, scanLocalTree, walkLocalTree } from "./local-tree.js";
import { compareTreePaths } from "./tree-order.js";
import { parseFindOutput } from "./place.js";
import { planDirectoryRetention } from "./retention.js";
import { classifyDestination, snapshotDirName } from "./snapshot-dirs.js";
import { rsyncShellCommand, shellQuote } from "./ssh.js";
import { pickSample } from "../../util/sample.js";
import { metadataDifferences } from "./verify.js";

const A = "20261128T021500Z-3f9a1c";
const B = "20261129T021500Z-0a0a0a";
const C = "20261130T021500Z-ffffff";

describe("snapshot directories", () => {
  it("tells complete snapshots from leftovers and ignores everything else", () => {
    const listing = classifyDestination([
      B,
      `${C}.partial`,
      A,
      ".backdrill",
      "notes.txt",
      `${A}.partial.old`,
      "2026-x",
    ]);
    expect(listing).toEqual({ complete: [A, B], partial: [`${C}.partial`] });
  });

  it("uses the runner's snapshot id when the writer has one, else a fresh one of the same shape", () => {
    expect(snapshotDirName({ id: A })).toBe(A);
    expect(snapshotDirName({ id: "../etc" })).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]+$/);
    expect(snapshotDirName({})).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]+$/);
  });
});

describe("retention", () => {
  it("removes only whole directories the policy drops, and never the newest", () => {
    expect(planDirectoryRetention([A, B, C], new Set([B]))).toEqual({ keep: [B, C], remove: [A] });
    expect(planDirectoryRetention([A, B, C], new Set())).toEqual({ keep: [C], remove: [A, B] });
    expect(planDirectoryRetention([], new Set([A]))).toEqual({ keep: [], remove: [] });
  });
});

describe("ssh quoting", () => {
  it("quotes words for a remote shell so no character is interpreted", () => {
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's $HOME `x`")).toBe(`'it'\\''s $HOME \`x\`'`);
  });

  it("builds an rsync -e command with strict host key checking and quoted paths", () => {
    const command = rsyncShellCommand({
      user: "backup",
      host: "h",
      port: 2222,
      keyFile: "/keys/my key",
      knownHostsFile: "/etc/backdrill/known_hosts",
    });
    expect(command).toContain("'/keys/my key'");
    expect(command).toContain("StrictHostKeyChecking=yes");
    expect(command).toContain("UserKnownHostsFile=/etc/backdrill/known_hosts");
    expect(command).toContain("-p 2222");
  });
});

describe("find output and times", () => {
  it("parses NUL-separated find -printf records, names with spaces and newlines included", () => {
    const record = (fields: string[]) => fields.map((f) => `${f}\0`).join("");
    const out =
      record(["f", "2049", "12", "5", "644", "0", "0", "1700000000.1234567890", "", "a b\nc.txt"]) +
      record(["l", "2049", "13", "7", "777", "1", "2", "1700000000.0000000000", "../x y", "link"]);
    const entries = parseFindOutput(out);
    expect(entries).toEqual([
      {
        path: "a b\nc.txt",
        type: "file",
        size: 5,
        mode: "0644",
        uid: 0,
        gid: 0,
        dev: "2049",
        ino: "12",
        mtimeNs: "1700000000123456789",
      },
      {
        path: "link",
        type: "symlink",
        size: 7,
        mode: "0777",
        uid: 1,
        gid: 2,
        dev: "2049",
        ino: "13",
        mtimeNs: "1700000000000000000",
        target: "../x y",
      },
    ]);
    expect(isoFromNs(nsFromSecondsText("1700000000.1239"))).toBe("2023-11-14T22:13:20.123Z");
  });
});

describe("hash cache", () => {
  const entry = (over: Partial<ScannedEntry> = {}): ScannedEntry => ({
    path: "a.txt",
    type: "file",
    size: 3,
    mode: "0644",
    uid: 0,
    gid: 0,
    dev: "2049",
    ino: "42",
    mtimeNs: "1",
    ...over,
  });
  const sha = "ab".repeat(32);

  const cacheText = (...lines: string[]) => [cacheHeader(), ...lines].join("\n");
  const stored = (path: string, record: unknown[] = ["2049", "42", 3, "1", sha]) =>
    JSON.stringify([path, record, null]);
  async function lookUp(text: string | null, paths: string[]): Promise<Array<CacheLine | undefined>> {
    const reader = await HashCacheReader.open(text === null ? null : batches(text));
    const out: Array<CacheLine | undefined> = [];
    for (const path of paths) out.push(await reader?.find(path));
    return out;
  }
  async function* batches(text: string): AsyncGenerator<string[]> {
    // One line per batch: the reader must not depend on how lines arrive.
    for (const line of text.split("\n")) yield [line];
  }

  it("reuses a hash only for the same path, device, inode, size and mtime", async () => {
    const [line, other] = await lookUp(cacheText(stored("a.txt")), ["a.txt", "b.txt"]);
    expect(cachedHash(line, entry())).toBe(sha);
    expect(cachedHash(line, entry({ dev: "2050" }))).toBeUndefined();
    expect(cachedHash(line, entry({ ino: "43" }))).toBeUndefined();
    expect(cachedHash(line, entry({ size: 4 }))).toBeUndefined();
    expect(cachedHash(line, entry({ mtimeNs: "2" }))).toBeUndefined();
    expect(other).toBeUndefined();
  });

  it("finds lines merged in tree order, the same order the walk produces", async () => {
    const paths = ["a", "a/x", "a/y/z", "a.b", "b", "b c", "é"];
    const text = cacheText(...paths.map((path) => stored(path)));
    const found = await lookUp(text, ["a", "a/y/z", "a.b", "b c", "é"]);
    expect(found.map((line) => line?.path)).toEqual(["a", "a/y/z", "a.b", "b c", "é"]);
    // Asked for paths the cache does not hold, in between: no line, and the later ones still found.
    expect((await lookUp(text, ["a/w", "a/x", "a/xx", "b"])).map((line) => line?.path)).toEqual([
      undefined,
      "a/x",
      undefined,
      "b",
    ]);
  });

  it("treats a damaged or foreign cache as absent, and ends one that goes out of order", async () => {
    expect(await HashCacheReader.open(batches("{not json"))).toBeUndefined();
    expect(await HashCacheReader.open(batches(JSON.stringify({ format: 99, files: {} })))).toBeUndefined();
    expect(await HashCacheReader.open(null)).toBeUndefined();
    // Format 1 (no device in the key) is not trusted: one full hash, then the current format.
    expect(
      await HashCacheReader.open(
        batches(JSON.stringify({ format: 1, files: { "a.txt": ["42", 3, "1", sha] } })),
      ),
    ).toBeUndefined();
    // A damaged line is skipped; a line out of order ends the cache (it could hide paths).
    const text = cacheText(stored("a"), "[not json", stored("c"), stored("b"), stored("d"));
    expect((await lookUp(text, ["a", "c", "d"])).map((line) => line?.path)).toEqual(["a", "c", undefined]);
  });

  it("never returns a record that is not a well-formed checksum, nor an inherited property", async () => {
    const [bad, short] = await lookUp(
      cacheText(stored("a.txt", ["2049", "42", 3, "1", "not-a-sha"]), stored("b", ["2049", "42", 3, "1"])),
      ["a.txt", "b"],
    );
    expect(bad?.stored).toBeNull();
    expect(cachedHash(bad, entry())).toBeUndefined();
    expect(short?.stored).toBeNull();
    const [proto] = await lookUp(cacheText(stored("__proto__")), ["__proto__"]);
    expect(cachedHash(proto, entry({ path: "__proto__" }))).toBe(sha);
  });

  it("still reads a format-2 cache (one JSON object), so the first backup after an upgrade reuses it", async () => {
    const legacy = JSON.stringify({
      format: 2,
      files: { "b/c": ["2049", "42", 3, "1", sha], "a.txt": ["2049", "42", 3, "1", sha], constructor: ["x"] },
      source: { "a.txt": ["2049", "42", 3, "1", "5"] },
    });
    const [a, bc, constructor] = await lookUp(legacy, ["a.txt", "b/c", "constructor"]);
    expect(cachedHash(a, entry())).toBe(sha);
    expect(a?.source).toEqual(["2049", "42", 3, "1", "5"]);
    expect(constructor?.stored).toBeNull();
    expect(cachedHash(bc, entry({ path: "b/c" }))).toBe(sha);
    expect((await parseHashCacheText(legacy))?.map((line) => line.path)).toEqual([
      "a.txt",
      "b/c",
      "constructor",
    ]);
  });
});

describe("tree order", () => {
  it("ranks a directory's entries by name, each directory followed by everything under it", () => {
    const paths = ["a.b", "a/x", "b", "a", "a/x/y", "a-c", "a/w"];
    expect([...paths].sort(compareTreePaths)).toEqual(["a", "a/w", "a/x", "a/x/y", "a-c", "a.b", "b"]);
  });

  it("is the order the local walk yields, whatever the directory's own order", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "backdrill-files-unit-"));
    try {
      for (const name of ["b", "a.b", "a-c", "z"]) await writeFile(path.join(dir, name), name);
      await mkdir(path.join(dir, "a", "x"), { recursive: true });
      await writeFile(path.join(dir, "a", "x", "y"), "y");
      await writeFile(path.join(dir, "a", "w"), "w");
      const walked: string[] = [];
      for await (const batch of walkLocalTree(dir)) walked.push(...batch.map((entry) => entry.path));
      expect(walked).toEqual(["a", "a/w", "a/x", "a/x/y", "a-c", "a.b", "b", "z"]);
      expect([...walked].sort(compareTreePaths)).toEqual(walked);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("local tree", () => {
  it("scans without following symlinks and hashes files, large ones streamed", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "backdrill-files-unit-"));
    try {
      const big = Buffer.alloc(3 * 1024 * 1024 + 5, 1);
      await writeFile(path.join(dir, "big.bin"), big);
      await writeFile(path.join(dir, "small file.txt"), "hello");
      await chmod(path.join(dir, "small file.txt"), 0o600);
      await mkdir(path.join(dir, "empty"));
      await symlink("/etc/passwd", path.join(dir, "link"));
      await link(path.join(dir, "big.bin"), path.join(dir, "hard.bin"));
      const entries = await scanLocalTree(dir);
      const byPath = new Map(entries.map((e) => [e.path, e]));
      expect(byPath.get("link")).toMatchObject({ type: "symlink", target: "/etc/passwd" });
      expect(byPath.get("empty")).toMatchObject({ type: "dir" });
      expect(byPath.get("small file.txt")).toMatchObject({ type: "file", size: 5, mode: "0600" });
      expect(byPath.get("hard.bin")?.ino).toBe(byPath.get("big.bin")?.ino);
      const hashes = await hashLocalFiles(dir, [
        { path: "big.bin", size: big.length },
        { path: "small file.txt", size: 5 },
      ]);
      expect(hashes.get("big.bin")).toBe(createHash("sha256").update(big).digest("hex"));
      expect(hashes.get("small file.txt")).toBe(createHash("sha256").update("hello").digest("hex"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("hashes every byte a small file holds when read, even if its size changed since the scan", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "backdrill-files-unit-"));
    try {
      const file = path.join(dir, "f");
      const sha = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
      const buffer = Buffer.alloc(8);
      await writeFile(file, "");
      expect(hashSmallFileSync(file, 0, buffer)).toBe(sha(""));
      await writeFile(file, "hello");
      expect(hashSmallFileSync(file, 5, buffer)).toBe(sha("hello"));
      // Scanned at 3 bytes, now 5 (grew), and at 9 bytes, now 5 (shrank): the bytes read count.
      expect(hashSmallFileSync(file, 3, buffer)).toBe(sha("hello"));
      expect(hashSmallFileSync(file, 9, buffer)).toBe(sha("hello"));
      // Larger than the buffer: read on in buffer-sized pieces.
      const long = Buffer.from("0123456789abcdefghij");
      await writeFile(file, long);
      expect(hashSmallFileSync(file, 5, buffer)).toBe(sha(long));
      expect(hashSmallFileSync(file, long.length, buffer)).toBe(sha(long));
      // Never through a symlink.
      await symlink(file, path.join(dir, "link"));
      expect(() => hashSmallFileSync(path.join(dir, "link"), 5, buffer)).toThrow(/ELOOP/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("hashes many small and large files together, and stops on an abort", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "backdrill-files-unit-"));
    try {
      const files: Array<{ path: string; size: number; data: Buffer }> = [];
      for (let i = 0; i < 600; i += 1) {
        const data = Buffer.from(`file ${i} `.repeat(i));
        files.push({ path: `s${i}`, size: data.length, data });
      }
      for (let i = 0; i < 3; i += 1) {
        const data = Buffer.alloc(1024 * 1024 + 1 + i, i + 1);
        files.push({ path: `l${i}`, size: data.length, data });
      }
      for (const file of files) await writeFile(path.join(dir, file.path), file.data);
      const hashes = await hashLocalFiles(dir, files);
      expect(hashes.size).toBe(files.length);
      for (const file of files)
        expect(hashes.get(file.path), file.path).toBe(createHash("sha256").update(file.data).digest("hex"));
      const controller = new AbortController();
      controller.abort(new Error("stop"));
      await expect(hashLocalFiles(dir, files, { signal: controller.signal })).rejects.toThrow("stop");
      await expect(hashLocalFiles(dir, [...files, { path: "missing", size: 1 }])).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("verification helpers", () => {
  it("names each metadata difference", () => {
    const expected = {
      path: "a",
      type: "file" as const,
      size: 1,
      mtime: "2023-11-14T22:13:20.123Z",
      mode: "0644",
      uid: 0,
      gid: 0,
    };
    const actual: ScannedEntry = {
      path: "a",
      type: "file",
      size: 2,
      mode: "0600",
      uid: 5,
      gid: 0,
      dev: "1",
      ino: "1",
      mtimeNs: "1700000000123000000",
    };
    expect(metadataDifferences(expected, actual, true)).toEqual([
      "size 2, expected 1",
      "mode 0600, expected 0644",
      "owner 5:0, expected 0:0",
    ]);
    expect(metadataDifferences(expected, { ...actual, type: "dir" }, false)).toEqual([
      "type dir, expected file",
    ]);
  });

  it("samples without repetition", () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    const sample = pickSample(items, 10);
    expect(new Set(sample).size).toBe(10);
    expect(pickSample(items, undefined)).toHaveLength(100);
    expect(pickSample(items, 500)).toHaveLength(100);
  });
});
