/**
 * hashLocalFiles with the native addon (hashFiles, native/hash_files.c) and with the synchronous
 * fallback, on real files, against node:crypto over the bytes written; and the addon's own
 * contract (splits across the pool, argument checks). CI requires the native implementation
 * (src/crypto/age/stream.test.ts asserts the addon loads there).
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IMPLEMENTATIONS, useImplementation } from "../../../test/support/crypto-implementations.js";
import { nativeAgeStream } from "../../crypto/age/native.js";
import { hashLocalFiles, NATIVE_CHUNK } from "./local-tree.js";

const MiB = 1024 * 1024;
const sha = (data: Buffer) => createHash("sha256").update(data).digest("hex");

interface TreeFile {
  path: string;
  /** The size recorded at the scan (may differ from data.length: the file changed since). */
  size: number;
  data: Buffer;
}

/** More small files than one native call takes, so several calls and every pool split run. */
function treeFiles(): TreeFile[] {
  const files: TreeFile[] = [
    { path: "empty", size: 0, data: Buffer.alloc(0) },
    { path: "one MiB", size: MiB, data: Buffer.alloc(MiB, 7) },
    { path: "one MiB + 1 (streamed)", size: MiB + 1, data: Buffer.alloc(MiB + 1, 8) },
    { path: "grew since the scan", size: 3, data: Buffer.from("now eleven!") },
    { path: "shrank since the scan", size: 4000, data: Buffer.from("short") },
    { path: "scanned empty, now 100 KiB", size: 0, data: Buffer.alloc(100 * 1024, 9) },
    { path: "sub/dir/ünïcødé name", size: 5, data: Buffer.from("hello") },
  ];
  for (let i = 0; i < NATIVE_CHUNK * 2 + 37; i += 1) {
    const data = Buffer.from(`file ${i} `.repeat(i % 300));
    files.push({ path: `many/f${i}`, size: data.length, data });
  }
  return files;
}

async function writeTree(dir: string, files: readonly TreeFile[]): Promise<void> {
  for (const file of files) {
    await mkdir(path.dirname(path.join(dir, file.path)), { recursive: true });
    await writeFile(path.join(dir, file.path), file.data);
  }
}

let dir: string;
let files: TreeFile[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "backdrill-hash-unit-"));
  files = treeFiles();
  await writeTree(dir, files);
  await symlink(path.join(dir, "empty"), path.join(dir, "link"));
  await mkdir(path.join(dir, "a dir"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each(IMPLEMENTATIONS)("hashLocalFiles (%s)", (implementation) => {
  useImplementation(implementation);

  it("hashes every byte each file holds when read, like node:crypto", async () => {
    const hashes = await hashLocalFiles(dir, files);
    expect(hashes.size).toBe(files.length);
    for (const file of files) expect(hashes.get(file.path), file.path).toBe(sha(file.data));
  });

  it("takes the root with a trailing slash or relative", async () => {
    const some = files.slice(0, 8);
    const expected = await hashLocalFiles(dir, some);
    expect(await hashLocalFiles(`${dir}/`, some)).toEqual(expected);
    expect(await hashLocalFiles(path.relative(process.cwd(), dir), some)).toEqual(expected);
  });

  it("never hashes through a symlink (ELOOP)", async () => {
    await expect(
      hashLocalFiles(dir, [...files.slice(0, 10), { path: "link", size: 0 }]),
    ).rejects.toMatchObject({
      code: "ELOOP",
      message: expect.stringContaining(`open '${path.join(dir, "link")}'`),
    });
  });

  it("fails on the first missing file in input order, naming it like node:fs", async () => {
    const withMissing: Array<{ path: string; size: number }> = [...files];
    // Both in the last native call, in different pool ranges; the earlier one is reported.
    withMissing.splice(NATIVE_CHUNK * 2 + 3, 0, { path: "gone-1", size: 1 });
    withMissing.splice(NATIVE_CHUNK * 2 + 30, 0, { path: "gone-2", size: 1 });
    await expect(hashLocalFiles(dir, withMissing)).rejects.toMatchObject({
      code: "ENOENT",
      message: `ENOENT: no such file or directory, open '${path.join(dir, "gone-1")}'`,
    });
  });

  it("rejects a path holding a NUL byte", async () => {
    await expect(hashLocalFiles(dir, [{ path: "bad\0name", size: 1 }])).rejects.toMatchObject({
      code: "ERR_INVALID_ARG_VALUE",
      message: expect.stringContaining("null bytes"),
    });
  });

  it("checks the abort signal before hashing", async () => {
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await expect(hashLocalFiles(dir, files, { signal: controller.signal })).rejects.toThrow("stop");
  });

  it("reports a read error (a directory)", async () => {
    const error: unknown = await hashLocalFiles(dir, [{ path: "a dir", size: 0 }]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "EISDIR", syscall: "read" });
    // Only the addon names the file of a failed read (readSync's error has no path): this is
    // how the test knows hashLocalFiles took the native path.
    if (implementation === "native") expect(error).toMatchObject({ path: path.join(dir, "a dir") });
    else expect((error as NodeJS.ErrnoException).path).toBeUndefined();
  });
});

describe.skipIf(nativeAgeStream() === null)("native hashFiles", () => {
  const addon = () => nativeAgeStream() as NonNullable<ReturnType<typeof nativeAgeStream>>;

  it("splits a batch into one range per pool thread, whatever UV_THREADPOOL_SIZE says", async () => {
    const small = files.filter((file) => file.size <= MiB).slice(0, 50);
    const expected = Buffer.concat(small.map((file) => createHash("sha256").update(file.data).digest()));
    const saved = process.env.UV_THREADPOOL_SIZE;
    try {
      for (const pool of [undefined, "0", "1", "2", "3", "7", "64", "5000", "junk"]) {
        if (pool === undefined) delete process.env.UV_THREADPOOL_SIZE;
        else process.env.UV_THREADPOOL_SIZE = pool;
        for (const count of [1, 2, 3, 50]) {
          const some = small.slice(0, count);
          const digests = await addon().hashFiles(
            dir,
            some.map((file) => file.path),
            some.map((file) => file.size),
          );
          expect(digests.equals(expected.subarray(0, count * 32)), `pool ${pool}, ${count} files`).toBe(true);
        }
      }
    } finally {
      if (saved === undefined) delete process.env.UV_THREADPOOL_SIZE;
      else process.env.UV_THREADPOOL_SIZE = saved;
    }
    expect(await addon().hashFiles(dir, [], [])).toEqual(Buffer.alloc(0));
  });

  it("throws TypeError on misuse, before any work", () => {
    const bad: Array<[unknown, unknown, unknown]> = [
      [dir, ["empty"], []],
      [dir, ["empty"], [-1]],
      [dir, ["empty"], [1.5]],
      [dir, ["empty"], [2 ** 53]],
      [dir, ["empty"], ["1"]],
      [dir, [1], [1]],
      [dir, "empty", [1]],
      [1, [], []],
    ];
    const call = addon().hashFiles as (...args: unknown[]) => Promise<Buffer>;
    for (const args of bad) expect(() => call(...args), JSON.stringify(args)).toThrow(TypeError);
  });
});
