import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stateDirCheck } from "./doctor.js";
import {
  forgetManifest,
  keptManifests,
  manifestSha256,
  parentManifestFile,
  storeManifest,
} from "./manifest-state.js";
import { mkdir } from "node:fs/promises";

const A = "20261201T000001Z-abcdef";
const B = "20261201T000002Z-abcdef";
const C = "20261201T000003Z-abcdef";
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "manifest-state-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the backup_manifest state directory", () => {
  it("stores privately, keeps the parent, removes older ones and nothing else", async () => {
    const text = (id: string) => Buffer.from(`{"manifest": "${id}"}`);
    await storeManifest(dir, "task-wal", A, text(A), new Set());
    await storeManifest(dir, "task-wal", B, text(B), new Set([A]));
    await writeFile(path.join(dir, "task-wal", "notes.txt"), "mine");
    await storeManifest(dir, "task-wal", C, text(C), new Set([B]));
    const names = (await readdir(path.join(dir, "task-wal"))).sort();
    expect(names).toEqual([`${B}.backup_manifest`, `${C}.backup_manifest`, "notes.txt"]);
    expect((await stat(path.join(dir, "task-wal"))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(dir, "task-wal", `${C}.backup_manifest`))).mode & 0o777).toBe(0o600);
    expect(await parentManifestFile(dir, "task-wal", C, manifestSha256(text(C)))).toEqual({
      file: path.join(dir, "task-wal", `${C}.backup_manifest`),
    });
  });

  it("says why a parent's manifest cannot be used: missing, or not what the parent recorded", async () => {
    expect(await parentManifestFile(dir, "task-wal", A, "0".repeat(64))).toEqual({
      missing: expect.stringContaining("is missing"),
    });
    await storeManifest(dir, "task-wal", A, Buffer.from("original"), new Set());
    expect(await parentManifestFile(dir, "task-wal", A, manifestSha256(Buffer.from("other")))).toEqual({
      missing: expect.stringContaining(`does not match the checksum snapshot ${A} recorded`),
    });
    await forgetManifest(dir, "task-wal", A);
    expect(await readdir(path.join(dir, "task-wal"))).toEqual([]);
  });

  it("lists the kept manifests oldest first, ignoring other files and a missing directory", async () => {
    expect(await keptManifests(dir, "task-wal")).toEqual([]);
    await storeManifest(dir, "task-wal", B, Buffer.from("b"), new Set());
    await storeManifest(dir, "task-wal", A, Buffer.from("a"), new Set([B]));
    await writeFile(path.join(dir, "task-wal", "x.backup_manifest"), "not a snapshot id");
    expect(await keptManifests(dir, "task-wal")).toEqual([A, B]);
  });
});

describe("doctor: incremental stateDir", () => {
  it("warns that the next backup is full when the directory holds no manifest", async () => {
    await mkdir(path.join(dir, "task-wal"), { mode: 0o700 });
    const finding = await stateDirCheck(dir, "task-wal");
    expect(finding.status).toBe("warn");
    expect(finding.detail).toContain("the next base backup is full");
  });

  it("says how many manifests it holds and the newest", async () => {
    await storeManifest(dir, "task-wal", A, Buffer.from("a"), new Set());
    await storeManifest(dir, "task-wal", B, Buffer.from("b"), new Set([A]));
    const finding = await stateDirCheck(dir, "task-wal");
    expect(finding).toMatchObject({ status: "ok" });
    expect(finding.detail).toContain(`2 snapshot(s), newest ${B}`);
  });

  it("fails when the path is a file, not a directory", async () => {
    await writeFile(path.join(dir, "task-wal"), "oops");
    const finding = await stateDirCheck(dir, "task-wal");
    expect(finding.status).toBe("fail");
    expect(finding.hint).toContain("incremental.stateDir");
  });
});
