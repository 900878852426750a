/**
 * snapshotManifest on a real directory through the real LocalPlace: with more files than two
 * hashing batches, the manifest and the cache come out in tree order with every file's sha256
 * (one batch is hashed while the next is walked); a hashing failure fails the stream, and no
 * hashing outlives it. The failing hash is the only stand-in: a fault a real file system does not
 * produce on demand between two batches.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FileEntry } from "./entries.js";
import { LocalLineWriter } from "./line-files.js";
import { LocalPlace } from "./place.js";
import { emptyTotals, snapshotManifest } from "./snapshot-manifest.js";

const FILES = 1300;
let root: string;
let dir: string;
const contents = new Map<string, string>();

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "backdrill-manifest-unit-"));
  dir = path.join(root, "snapshot");
  for (let i = 0; i < FILES; i += 1) {
    const rel = `d${i % 7}/f${String(i).padStart(4, "0")}`;
    await mkdir(path.join(dir, path.dirname(rel)), { recursive: true });
    const text = `file ${i}\n`.repeat(i % 13);
    await writeFile(path.join(dir, rel), text);
    contents.set(rel, text);
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function manifestOf(place: LocalPlace, cacheFile: string) {
  const cache = new LocalLineWriter(cacheFile);
  const totals = emptyTotals();
  const pieces: Buffer[] = [];
  try {
    for await (const piece of snapshotManifest({
      place,
      dir,
      signal: new AbortController().signal,
      previous: undefined,
      sourceRecords: undefined,
      cache,
      totals,
      job: "unit",
    }))
      pieces.push(piece);
  } finally {
    cache.close();
  }
  const entries = Buffer.concat(pieces)
    .toString("utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as FileEntry);
  return { entries, totals };
}

describe("snapshotManifest", () => {
  it("writes every entry in tree order with its sha256 across hashing batches", async () => {
    const place = new LocalPlace();
    expect(FILES).toBeGreaterThan(place.hashBatch * 2);
    const cacheFile = path.join(root, "cache-ok.jsonl");
    const { entries, totals } = await manifestOf(place, cacheFile);
    const files = entries.filter((entry) => entry.type === "file");
    expect(files.map((entry) => entry.path)).toEqual([...contents.keys()].sort());
    for (const entry of files) {
      const expected = createHash("sha256")
        .update(contents.get(entry.path) ?? "missing")
        .digest("hex");
      expect({ path: entry.path, sha256: entry.sha256 }).toEqual({ path: entry.path, sha256: expected });
    }
    expect(entries.map((entry) => entry.path)).toEqual(
      [...entries.map((entry) => entry.path)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    expect(totals).toMatchObject({ files: FILES, dirs: 7, hashedFiles: FILES });
    const cachePaths = (await readFile(cacheFile, "utf8"))
      .split("\n")
      .filter((line) => line.startsWith("["))
      .map((line) => (JSON.parse(line) as [string])[0]);
    expect(cachePaths).toEqual(files.map((entry) => entry.path));
  });

  it("fails with the hashing error of a batch, and no hashing outlives the stream", async () => {
    let calls = 0;
    let running = 0;
    class FailingPlace extends LocalPlace {
      override async hash(
        at: string,
        files: ReadonlyArray<{ path: string; size: number }>,
        signal?: AbortSignal,
      ): Promise<Map<string, string>> {
        calls += 1;
        const call = calls;
        running += 1;
        try {
          // The second batch fails at once while the third is still being hashed (slowly).
          if (call === 2) throw new Error("disk read error in batch 2");
          await new Promise((resolve) => setTimeout(resolve, call === 3 ? 200 : 0));
          return await super.hash(at, files, signal);
        } finally {
          running -= 1;
        }
      }
    }
    await expect(manifestOf(new FailingPlace(), path.join(root, "cache-fail.jsonl"))).rejects.toThrow(
      "disk read error in batch 2",
    );
    expect(calls).toBe(3);
    expect(running).toBe(0);
  });
});
