/**
 * LocalBackend against a real directory: the shared conformance suite, plus what only a file
 * system has — modes under a permissive umask, temporary files, disk-full errors.
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OperationError } from "../../../src/errors.js";
import { findTemporaryFiles, LocalBackend } from "../../../src/storage/local/local-backend.js";
import {
  describeBackendConformance,
  interruptedStream,
  patternStream,
} from "../../support/backend-conformance.js";

describeBackendConformance("local", async () => {
  const dir = await mkdtemp(join(tmpdir(), "backdrill-local-"));
  const root = join(dir, "repo");
  return {
    backend: new LocalBackend({ path: root }),
    async cleanup() {
      // Every put in the suite (including the failed and aborted ones) must have cleaned up.
      expect(await findTemporaryFiles(root)).toEqual([]);
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe("LocalBackend on disk", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "backdrill-local-extra-"));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

  for (const umask of [0o022, 0o000]) {
    it(`creates files 0600 and directories 0700 under umask ${umask.toString(8).padStart(4, "0")}`, async () => {
      const root = join(dir, `modes-${umask}`);
      const backend = new LocalBackend({ path: root });
      const previous = process.umask(umask);
      try {
        await backend.put("snapshots/job/one.json", Readable.from([Buffer.from("{}")]));
        await backend.put("data/job/snap/artifact.age", patternStream(1000), { overwrite: true });
      } finally {
        process.umask(previous);
      }
      expect(await modeOf(root)).toBe(0o700);
      for (const path of ["snapshots", "snapshots/job", "data", "data/job", "data/job/snap"]) {
        expect(await modeOf(join(root, path)), path).toBe(0o700);
      }
      expect(await modeOf(join(root, "snapshots/job/one.json"))).toBe(0o600);
      expect(await modeOf(join(root, "data/job/snap/artifact.age"))).toBe(0o600);
    });
  }

  it("leaves no temporary files after successes, refusals, failures and aborts", async () => {
    const root = join(dir, "temps");
    const backend = new LocalBackend({ path: root });
    await backend.put("a/b", patternStream(10_000));
    await expect(backend.put("a/b", patternStream(10))).rejects.toThrow();
    await expect(
      backend.put("a/c", interruptedStream(5000, { fail: new Error("x") }).stream),
    ).rejects.toThrow("x");
    const controller = new AbortController();
    const { stream, reached } = interruptedStream(5000, "stall");
    const pending = backend.put("a/d", stream, { signal: controller.signal });
    await reached;
    expect((await findTemporaryFiles(root)).length).toBe(1); // the in-flight write, hidden from list
    controller.abort();
    await expect(pending).rejects.toThrow();
    expect(await findTemporaryFiles(root)).toEqual([]);
  });

  it("removes temporary files of killed writes under a prefix, honouring olderThan", async () => {
    const root = join(dir, "stale-temps");
    const backend = new LocalBackend({ path: root });
    await backend.put("data/job/20261128T000000Z-aaaaaa/kept.age", Readable.from([Buffer.from("x")]));
    // What a SIGKILLed put leaves: a hidden temporary file, invisible to list.
    const deadDir = join(root, "data", "job", "20261128T000001Z-bbbbbb");
    await mkdir(deadDir, { recursive: true });
    await writeFile(join(deadDir, ".tmp-dead"), "partial ciphertext");
    await writeFile(join(root, "data", "job", "20261128T000000Z-aaaaaa", ".tmp-dead2"), "partial");
    await mkdir(join(root, "wal", "job"), { recursive: true });
    await writeFile(join(root, "wal", "job", ".tmp-other-prefix"), "partial");

    const fresh = await backend.abortIncompleteUploads("data/job/", { olderThan: new Date(0) });
    expect(fresh.aborted).toEqual([]);
    expect(fresh.kept.map((upload) => upload.key).sort()).toEqual([
      "data/job/20261128T000000Z-aaaaaa/.tmp-dead2",
      "data/job/20261128T000001Z-bbbbbb/.tmp-dead",
    ]);

    const result = await backend.abortIncompleteUploads("data/job/");
    expect(result.aborted.map((upload) => upload.key).sort()).toEqual([
      "data/job/20261128T000000Z-aaaaaa/.tmp-dead2",
      "data/job/20261128T000001Z-bbbbbb/.tmp-dead",
    ]);
    expect(result.failed).toEqual([]);
    // The emptied directory is gone, the committed file and the other prefix are untouched.
    await expect(stat(deadDir)).rejects.toMatchObject({ code: "ENOENT" });
    expect((await stat(join(root, "data", "job", "20261128T000000Z-aaaaaa", "kept.age"))).isFile()).toBe(
      true,
    );
    expect(await findTemporaryFiles(root)).toEqual([join(root, "wal", "job", ".tmp-other-prefix")]);
  });

  it("removes directories emptied by delete, but never the root", async () => {
    const root = join(dir, "prune");
    const backend = new LocalBackend({ path: root });
    await backend.put("data/job/snap/x.age", patternStream(10));
    await backend.put("data/job/other/y.age", patternStream(10));
    await backend.delete("data/job/snap/x.age");
    await expect(stat(join(root, "data/job/snap"))).rejects.toThrow(/ENOENT/);
    expect((await stat(join(root, "data/job"))).isDirectory()).toBe(true);
    await backend.delete("data/job/other/y.age");
    await expect(stat(join(root, "data"))).rejects.toThrow(/ENOENT/);
    expect((await stat(root)).isDirectory()).toBe(true);
  });

  it("lists nothing (no error) for a repository that does not exist yet", async () => {
    const backend = new LocalBackend({ path: join(dir, "never-created") });
    const keys: string[] = [];
    for await (const info of backend.list("")) keys.push(info.key);
    expect(keys).toEqual([]);
    expect(await backend.stat("x")).toBeNull();
  });

  it("names the path when a key's parent is a file", async () => {
    const root = join(dir, "notdir");
    await mkdir(root, { recursive: true });
    await writeFile(join(root, "file"), "x");
    const backend = new LocalBackend({ path: root });
    const error = await backend.put("file/child", patternStream(10)).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toContain(join(root, "file"));
  });

  describe("on a full file system", () => {
    const mountPoint = join(tmpdir(), `backdrill-enospc-${process.pid}`);
    let mounted = false;

    beforeAll(async () => {
      // A 1 MiB tmpfs; needs root (CAP_SYS_ADMIN). Skipped where that is not available.
      await mkdir(mountPoint, { recursive: true });
      const result = await execa("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint], {
        reject: false,
      });
      mounted = result.exitCode === 0;
    });

    afterAll(async () => {
      if (mounted) await execa("umount", [mountPoint], { reject: false });
      await rm(mountPoint, { recursive: true, force: true });
    });

    it("fails with a clear ENOSPC error naming the path, and cleans up", async () => {
      // Integration tests run as root (CI does): a failed mount is a broken test bed, not a skip.
      expect(mounted, "mount a 1 MiB tmpfs for the disk-full test (needs root)").toBe(true);
      const backend = new LocalBackend({ path: join(mountPoint, "repo") });
      const error = await backend
        .put("data/big.age", patternStream(4 * 1024 * 1024))
        .catch((reason: unknown) => reason);
      expect(error).toBeInstanceOf(OperationError);
      expect((error as Error).message).toContain(join(mountPoint, "repo", "data", "big.age"));
      expect((error as Error).message).toContain("no space left on device");
      expect(await findTemporaryFiles(join(mountPoint, "repo"))).toEqual([]);
      expect(await backend.stat("data/big.age")).toBeNull();
    });
  });

  it("fails with a clear error naming the path when the volume is read-only", async () => {
    // Permission bits do not stop root (CI runs as root), a read-only mount does.
    const root = join(dir, "readonly");
    await mkdir(root, { recursive: true });
    const mounted = await execa("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", root], {
      reject: false,
    });
    expect(mounted.exitCode, `mount a read-only tmpfs (needs root): ${mounted.stderr}`).toBe(0);
    try {
      const backend = new LocalBackend({ path: root });
      const error = await backend.put("x", patternStream(10)).catch((reason: unknown) => reason);
      expect(error).toBeInstanceOf(OperationError);
      expect((error as Error).message).toMatch(/read-only file system/);
      expect((error as Error).message).toContain(root);
    } finally {
      await execa("umount", [root], { reject: false });
    }
  });
});
