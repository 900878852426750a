import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateIdentity } from "../../crypto/keys.js";
import { createLogger } from "../../log/logger.js";
import { Repository } from "../../repository/repository.js";
import { LocalBackend } from "../../storage/local/local-backend.js";
import { prefetchAfter } from "./prefetch.js";
import { WalArchive } from "./wal-archive.js";

/** The smallest segment size initdb allows keeps the test small; 4096 segments per "log". */
const SEGMENT_SIZE = 1 << 20;
const log = createLogger({ level: "silent" });
let dir: string;
let prefetchDir: string;
let archive: WalArchive;
let key: { identity: string; recipient: string };

const name = (segno: number) =>
  `00000001${Math.floor(segno / 4096)
    .toString(16)
    .toUpperCase()
    .padStart(8, "0")}${(segno % 4096).toString(16).toUpperCase().padStart(8, "0")}`;

async function archiveSegment(segno: number): Promise<Buffer> {
  const content = Buffer.alloc(SEGMENT_SIZE, segno % 251);
  const file = path.join(dir, name(segno));
  await writeFile(file, content);
  await archive.push(file, [key.recipient]);
  await rm(file);
  return content;
}

/** `wal fetch` of `segno` into %p, then the prefetch of `count`. */
async function fetchAndPrefetch(segno: number, count: number) {
  const dest = path.join(dir, "RECOVERYXLOG");
  expect(await archive.fetch(name(segno), dest, [key.identity])).toBe(true);
  return prefetchAfter(archive, name(segno), dest, {
    count,
    dir: prefetchDir,
    identities: [key.identity],
    signal: new AbortController().signal,
    log,
  });
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "prefetch-"));
  prefetchDir = path.join(dir, "pg_wal/.backdrill-prefetch");
  archive = new WalArchive(new Repository(new LocalBackend({ path: path.join(dir, "repo") })), "task-wal");
  key = await generateIdentity();
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("WAL prefetch", () => {
  it("fetches the next segments decrypted and verified (0600 in a 0700 dir), stopping at the archive's end", async () => {
    const contents = new Map<number, Buffer>();
    for (const segno of [1, 2, 3, 4, 5]) contents.set(segno, await archiveSegment(segno));
    const first = await fetchAndPrefetch(1, 3);
    expect(first).toMatchObject({ present: [], missing: null, error: null });
    expect([...first.fetched].sort()).toEqual([name(2), name(3), name(4)]);
    for (const segno of [2, 3, 4]) {
      const file = path.join(prefetchDir, name(segno));
      expect((await readFile(file)).equals(contents.get(segno) ?? Buffer.alloc(0))).toBe(true);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    }
    expect((await stat(prefetchDir)).mode & 0o777).toBe(0o700);

    // Later: 4 is still waiting, 5 is archived, 6 is not yet (a miss ends the prefetch quietly).
    const second = await fetchAndPrefetch(3, 8);
    expect(second).toMatchObject({ present: [name(4)], fetched: [name(5)], missing: name(6), error: null });
    expect((await readdir(prefetchDir)).sort()).toEqual([name(2), name(3), name(4), name(5)]);
  });

  it("crosses into the next log half with the segment size of the fetched file", async () => {
    await archiveSegment(4095);
    await archiveSegment(4096);
    const result = await fetchAndPrefetch(4095, 1);
    expect(result.fetched).toEqual(["000000010000000100000000"]);
  });

  it("reports a segment that fails its check instead of failing the fetch, and leaves nothing of it", async () => {
    for (const segno of [1, 2, 3]) await archiveSegment(segno);
    const repo = path.join(dir, "repo/wal/task-wal");
    // Segment 3's ciphertext replaced by segment 2's: its record's digest does not match.
    await writeFile(path.join(repo, `${name(3)}.age`), await readFile(path.join(repo, `${name(2)}.age`)));
    const result = await fetchAndPrefetch(1, 4);
    expect(result.error).toMatch(/does not match its recorded digest/);
    expect(await readdir(prefetchDir)).not.toContain(name(3));
    expect((await readdir(prefetchDir)).filter((file) => file.startsWith("."))).toEqual([]);
  });

  it("prefetches nothing after a history file or with a count of 0", async () => {
    await mkdir(prefetchDir, { recursive: true });
    await archiveSegment(1);
    const history = path.join(dir, "00000002.history");
    await writeFile(history, "1\t0/3000148\tno recovery target specified\n");
    await archive.push(history, [key.recipient]);
    const dest = path.join(dir, "RECOVERYHISTORY");
    await archive.fetch("00000002.history", dest, [key.identity]);
    const options = {
      dir: prefetchDir,
      identities: [key.identity],
      signal: new AbortController().signal,
      log,
    };
    expect(
      (await prefetchAfter(archive, "00000002.history", dest, { ...options, count: 8 })).fetched,
    ).toEqual([]);
    expect((await fetchAndPrefetch(1, 0)).fetched).toEqual([]);
    expect(await readdir(prefetchDir)).toEqual([]);
  });
});
