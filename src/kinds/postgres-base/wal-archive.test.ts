import { mkdtemp, readFile, rm, writeFile, readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateIdentity } from "../../crypto/keys.js";
import { Repository } from "../../repository/repository.js";
import { LocalBackend } from "../../storage/local/local-backend.js";
import { CATCH_UP_BACKLOG, SHIP_CONCURRENCY, drainSpool, shipSpool } from "./spool.js";
import { logger } from "../../log/logger.js";
import { WalArchive } from "./wal-archive.js";

let dir: string;
let archive: WalArchive;
let key: { identity: string; recipient: string };

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "wal-archive-"));
  archive = new WalArchive(new Repository(new LocalBackend({ path: path.join(dir, "repo") })), "task-wal");
  key = await generateIdentity();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function walFile(name: string, content: string | Buffer): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, content);
  return file;
}

describe("WalArchive", () => {
  it("stores encrypted, fetches back, and is idempotent for the same content", async () => {
    const content = Buffer.alloc(256 * 1024, 7);
    const file = await walFile("000000010000000000000003", content);
    expect(await archive.push(file, [key.recipient])).toBe("stored");
    expect(await archive.push(file, [key.recipient])).toBe("already-archived");
    const stored = await readFile(path.join(dir, "repo/wal/task-wal/000000010000000000000003.age"));
    expect(stored.includes(content.subarray(0, 64))).toBe(false);
    const dest = path.join(dir, "restored");
    expect(await archive.fetch("000000010000000000000003", dest, [key.identity])).toBe(true);
    expect((await readFile(dest)).equals(content)).toBe(true);
  });

  it("refuses different content under an archived name and keeps the original", async () => {
    const first = await walFile("000000010000000000000004", "original");
    await archive.push(first, [key.recipient]);
    const other = path.join(dir, "other");
    await writeFile(other, "different");
    await expect(archive.push(other, [key.recipient], { name: "000000010000000000000004" })).rejects.toThrow(
      /different content; refusing to overwrite/,
    );
    const dest = path.join(dir, "check");
    await archive.fetch("000000010000000000000004", dest, [key.identity]);
    expect(await readFile(dest, "utf8")).toBe("original");
  });

  it("returns false for a file that is not archived and leaves nothing at dest", async () => {
    const dest = path.join(dir, "absent");
    expect(await archive.fetch("00000002.history", dest, [key.identity])).toBe(false);
    await expect(readFile(dest)).rejects.toThrow(/ENOENT/);
  });

  it("handles history and backup files, and refuses other names", async () => {
    const history = await walFile("00000002.history", "1\t0/3000148\tno recovery target specified\n");
    const backup = await walFile(
      "000000010000000000000002.00000028.backup",
      "START WAL LOCATION: 0/2000028\n",
    );
    expect(await archive.push(history, [key.recipient])).toBe("stored");
    expect(await archive.push(backup, [key.recipient])).toBe("stored");
    expect((await archive.list()).map((entry) => entry.kind)).toEqual(["backup", "history"]);
    const bad = await walFile("postgresql.conf", "x");
    await expect(archive.push(bad, [key.recipient])).rejects.toThrow(/not a WAL file name/);
  });

  it("detects a file stored under the wrong name", async () => {
    const a = await walFile("000000010000000000000005", "segment five");
    const b = await walFile("000000010000000000000006", "segment six");
    await archive.push(a, [key.recipient]);
    await archive.push(b, [key.recipient]);
    const repo = path.join(dir, "repo/wal/task-wal");
    await writeFile(
      path.join(repo, "000000010000000000000006.age"),
      await readFile(path.join(repo, "000000010000000000000005.age")),
    );
    await expect(
      archive.fetch("000000010000000000000006", path.join(dir, "x"), [key.identity]),
    ).rejects.toThrow(/does not match its recorded digest/);
  });
});

describe("compressed WAL", () => {
  const NAME = "000000010000000000000007";
  const segment = Buffer.from("a WAL record body that repeats; ".repeat(32 * 1024));
  const recordPath = () => path.join(dir, `repo/wal/task-wal/${NAME}.sha256`);
  const cipherPath = () => path.join(dir, `repo/wal/task-wal/${NAME}.age`);

  it("is stored compressed under a format 2 record of the uncompressed file, and fetched as it was", async () => {
    const file = await walFile(NAME, segment);
    expect(await archive.push(file, [key.recipient], { compression: "brotli-1" })).toBe("stored");
    const record = JSON.parse(await readFile(recordPath(), "utf8")) as Record<string, unknown>;
    expect(record).toMatchObject({ format: 2, compression: "brotli-1", size: segment.length });
    expect((await readFile(cipherPath())).length).toBeLessThan(segment.length / 10);
    const dest = path.join(dir, "fetched");
    expect(await archive.fetch(NAME, dest, [key.identity])).toBe(true);
    expect((await readFile(dest)).equals(segment)).toBe(true);
  });

  it("a push after a crash stores the ciphertext as the existing record says, whatever it is asked", async () => {
    const file = await walFile(NAME, segment);
    await archive.push(file, [key.recipient], { compression: "brotli-1" });
    await rm(cipherPath()); // the crash: record written, ciphertext not
    expect(await archive.push(file, [key.recipient], { compression: "none" })).toBe("stored");
    expect((await readFile(cipherPath())).length).toBeLessThan(segment.length / 10);
    const dest = path.join(dir, "fetched");
    await archive.fetch(NAME, dest, [key.identity]);
    expect((await readFile(dest)).equals(segment)).toBe(true);
  });

  it("refuses a record with an unknown compression, and one whose size is smaller than the data", async () => {
    const file = await walFile(NAME, segment);
    await archive.push(file, [key.recipient], { compression: "brotli-4" });
    const record = JSON.parse(await readFile(recordPath(), "utf8")) as Record<string, unknown>;
    const dest = path.join(dir, "fetched");
    await writeFile(recordPath(), JSON.stringify({ ...record, compression: "lz4" }));
    await expect(archive.fetch(NAME, dest, [key.identity])).rejects.toThrow(
      /its record: compression "lz4" is not one this backdrill knows/,
    );
    await writeFile(recordPath(), JSON.stringify({ ...record, size: 4096 }));
    await expect(archive.fetch(NAME, dest, [key.identity])).rejects.toThrow(
      /WAL file 000000010000000000000007 of job task-wal: it decompresses to more than the 4096 bytes/,
    );
    await expect(readFile(dest)).rejects.toThrow(/ENOENT/);
    // Format 1 says "not compressed": a compression field there is a contradiction, not a guess.
    await writeFile(recordPath(), JSON.stringify({ ...record, format: 1 }));
    await expect(archive.fetch(NAME, dest, [key.identity])).rejects.toThrow(
      /format 1 with compression brotli-4/,
    );
  });

  it("an uncompressed archive (format 1 records) still fetches", async () => {
    const file = await walFile(NAME, segment);
    await archive.push(file, [key.recipient]);
    expect(JSON.parse(await readFile(recordPath(), "utf8"))).toMatchObject({ format: 1 });
    expect(JSON.parse(await readFile(recordPath(), "utf8"))).not.toHaveProperty("compression");
    const dest = path.join(dir, "fetched");
    await archive.fetch(NAME, dest, [key.identity]);
    expect((await readFile(dest)).equals(segment)).toBe(true);
  });
});

describe("drainSpool", () => {
  it("pushes SHIP_CONCURRENCY files at once, with the job's compression, and all of them", async () => {
    const spool = path.join(dir, "spool");
    await import("node:fs/promises").then((fs) => fs.mkdir(spool));
    const names = Array.from({ length: 7 }, (_, i) => `00000001000000000000001${i}`);
    for (const name of names) await writeFile(path.join(spool, name), name);
    let inFlight = 0;
    let most = 0;
    const asked: Array<string | undefined> = [];
    const counting = {
      async push(_file: string, _recipients: readonly string[], options: { compression?: string } = {}) {
        asked.push(options.compression);
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight -= 1;
        return "stored" as const;
      },
    } as unknown as WalArchive;
    const result = await drainSpool(counting, [key.recipient], spool, { compression: "brotli-1" });
    expect(most).toBe(SHIP_CONCURRENCY);
    expect(result.stored).toEqual(names);
    expect(asked).toEqual(names.map(() => "brotli-1"));
    expect(await readdir(spool)).toEqual([]);
  });

  it("ships uncompressed while CATCH_UP_BACKLOG or more files wait, then with the job's compression", async () => {
    const spool = path.join(dir, "spool");
    await import("node:fs/promises").then((fs) => fs.mkdir(spool));
    const names = Array.from(
      { length: 20 },
      (_, i) => `0000000100000000000000${(0x20 + i).toString(16).toUpperCase()}`,
    );
    for (const name of names) await writeFile(path.join(spool, name), name);
    const asked = new Map<string, string | undefined>();
    const recording = {
      async push(
        _file: string,
        _recipients: readonly string[],
        options: { name?: string; compression?: string } = {},
      ) {
        asked.set(options.name ?? "", options.compression);
        await new Promise((resolve) => setTimeout(resolve, 5));
        return "stored" as const;
      },
    } as unknown as WalArchive;
    const result = await drainSpool(recording, [key.recipient], spool, { compression: "brotli-1" });
    expect(result.stored).toEqual(names);
    // Taken oldest first: the first 20 - 8 + 1 = 13 leave a backlog of 8 or more behind them.
    const caughtUp = names.length - CATCH_UP_BACKLOG + 1;
    expect(names.map((name) => asked.get(name))).toEqual([
      ...Array<string>(caughtUp).fill("none"),
      ...Array<string>(names.length - caughtUp).fill("brotli-1"),
    ]);
    // Real pushes of a backlog: every file, shipped either way, fetches back as it was.
    const contents = names.map((name) => Buffer.alloc(64 * 1024, name));
    for (const [i, name] of names.entries()) await writeFile(path.join(spool, name), contents[i] ?? "");
    const real = await drainSpool(archive, [key.recipient], spool, { compression: "brotli-1" });
    expect(real.stored).toEqual(names);
    for (const [i, name] of names.entries()) {
      const dest = path.join(dir, `fetched-${name}`);
      expect(await archive.fetch(name, dest, [key.identity])).toBe(true);
      expect((await readFile(dest)).equals(contents[i] ?? Buffer.alloc(0))).toBe(true);
    }
  });

  it("ships WAL files, removes them, skips in-flight copies and keeps failures", async () => {
    const spool = path.join(dir, "spool");
    await import("node:fs/promises").then((fs) => fs.mkdir(spool));
    await writeFile(path.join(spool, "000000010000000000000001"), "one");
    await writeFile(path.join(spool, ".000000010000000000000002.tmp"), "in flight");
    await writeFile(path.join(spool, "00000002.history"), "history");
    await writeFile(path.join(spool, "notes.txt"), "?");
    // Archived before with other content: must fail and stay in the spool.
    await archive.push(await walFile("000000010000000000000009", "old"), [key.recipient]);
    await writeFile(path.join(spool, "000000010000000000000009"), "new");
    const result = await drainSpool(archive, [key.recipient], spool);
    expect(result.stored).toEqual(["00000002.history", "000000010000000000000001"]);
    expect(result.failed.map((entry) => entry.name)).toEqual(["000000010000000000000009"]);
    expect(result.ignored).toEqual(["notes.txt"]);
    expect((await readdir(spool)).sort()).toEqual([
      ".000000010000000000000002.tmp",
      "000000010000000000000009",
      "notes.txt",
    ]);
  });
});

describe("shipSpool", () => {
  it("looks again at once after a round that shipped files, and waits the interval only when idle", async () => {
    const spool = path.join(dir, "spool");
    await import("node:fs/promises").then((fs) => fs.mkdir(spool));
    await writeFile(path.join(spool, "000000010000000000000001"), "one");
    const controller = new AbortController();
    const shippedAt: number[] = [];
    let rounds = 0;
    const archiving = {
      async push(file: string) {
        shippedAt.push(Date.now());
        // PostgreSQL spools the next segment while this one is being pushed.
        if (file.endsWith("01")) await writeFile(path.join(spool, "000000010000000000000002"), "two");
        return "stored" as const;
      },
    } as unknown as WalArchive;
    const started = Date.now();
    const shipping = shipSpool(archiving, [key.recipient], spool, {
      signal: controller.signal,
      log: logger(),
      intervalMs: 5_000,
      onRound: async () => {
        rounds += 1;
        // Round 1 shipped 01, round 2 shipped 02, round 3 found nothing and waits the interval.
        if (rounds === 3) controller.abort();
      },
    });
    expect(await shipping).toEqual({ shipped: 2, failedRounds: 0 });
    expect(shippedAt).toHaveLength(2);
    // The second file did not wait for the 5 s interval.
    expect((shippedAt[1] ?? Infinity) - started).toBeLessThan(2_000);
  });
});
