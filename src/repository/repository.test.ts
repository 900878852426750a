import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateIdentity } from "../crypto/keys.js";
import { IntegrityError, NotFoundError } from "../errors.js";
import { LocalBackend } from "../storage/local/local-backend.js";
import { FACTS_ARTIFACT } from "./manifest.js";
import { Repository } from "./repository.js";
import { isSnapshotId, snapshotIdTime } from "./snapshot-id.js";
import { verifyRepository } from "./verify.js";

let dir: string;
let repository: Repository;
let keys: { identity: string; recipient: string };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-repo-"));
  repository = new Repository(new LocalBackend({ path: dir }));
  await repository.init();
  keys = await generateIdentity();
});

afterEach(async () => {
  await repository.backend.close();
  await rm(dir, { recursive: true, force: true });
});

async function backup(job: string, data: Record<string, string>, facts: unknown = { rows: 1 }, at?: Date) {
  const writer = repository.createSnapshot({
    job,
    kind: "test",
    recipients: [keys.recipient],
    ...(at === undefined ? {} : { at }),
  });
  for (const [name, content] of Object.entries(data))
    await writer.addArtifact(name, Readable.from([Buffer.from(content)]));
  await writer.addJson(FACTS_ARTIFACT, facts);
  return writer.commit({ server: "17.2" });
}

function failingStream(after: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(after);
      } else {
        this.destroy(new Error("pg_dump: connection lost"));
      }
    },
  });
}

describe("Repository", () => {
  it("init is idempotent and writes a format marker", async () => {
    expect(await repository.init()).toEqual({ created: false });
    const marker = JSON.parse(await readFile(join(dir, "backdrill.json"), "utf8")) as Record<string, unknown>;
    expect(marker).toMatchObject({ format: "backdrill", version: 1 });
  });

  it("commits a snapshot whose artifacts round-trip, encrypted at rest", async () => {
    const manifest = await backup("db", { "task.dump": "SECRET-ROW-DATA" }, { tables: { users: 3 } });
    expect(isSnapshotId(manifest.id)).toBe(true);
    expect(Math.abs(snapshotIdTime(manifest.id).getTime() - Date.now())).toBeLessThan(5000);
    expect(manifest.artifacts.map((a) => a.name)).toEqual(["task.dump", FACTS_ARTIFACT]);
    const stored = await readFile(join(dir, manifest.artifacts[0]!.path));
    expect(stored.toString("latin1")).not.toContain("SECRET-ROW-DATA");
    expect(stored.subarray(0, 21).toString()).toBe("age-encryption.org/v1");
    expect(await text(await repository.openArtifact(manifest, "task.dump", [keys.identity]))).toBe(
      "SECRET-ROW-DATA",
    );
    expect(await repository.readFacts(manifest, [keys.identity])).toEqual({ tables: { users: 3 } });
    const manifestText = await readFile(join(dir, "snapshots", "db", `${manifest.id}.json`), "utf8");
    expect(manifestText).not.toContain("users");
    expect((await repository.snapshot("db")).id).toBe(manifest.id);
  });

  it("lists snapshots oldest first and filters by job", async () => {
    const a = await backup("db", { x: "1" });
    const b = await backup("files", { y: "2" });
    const c = await backup("db", { z: "3" });
    expect((await repository.snapshots()).map((s) => s.id)).toEqual([a.id, b.id, c.id].sort());
    expect((await repository.snapshots("db")).map((s) => s.id)).toEqual([a.id, c.id].sort());
    expect((await repository.snapshot("db", "latest")).id).toBe([a.id, c.id].sort()[1]);
  });

  it("a snapshot is invisible until its manifest is written", async () => {
    const writer = repository.createSnapshot({ job: "db", kind: "test", recipients: [keys.recipient] });
    await writer.addArtifact("part", Readable.from([Buffer.from("abc")]));
    expect(await repository.snapshots("db")).toEqual([]);
    expect((await repository.leftovers("db")).map((l) => l.id)).toEqual([writer.id]);
    await writer.commit();
    expect((await repository.snapshots("db")).map((s) => s.id)).toEqual([writer.id]);
    expect(await repository.leftovers("db")).toEqual([]);
  });

  it("a source that fails mid-stream leaves no manifest and no artifact", async () => {
    const writer = repository.createSnapshot({ job: "db", kind: "test", recipients: [keys.recipient] });
    await writer.addArtifact("globals.sql", Readable.from([Buffer.from("create role x;")]));
    await expect(writer.addArtifact("task.dump", failingStream(Buffer.alloc(200_000, 1)))).rejects.toThrow(
      /connection lost/,
    );
    await writer.abort();
    expect(await repository.snapshots("db")).toEqual([]);
    expect(await repository.leftovers("db")).toEqual([]);
    await expect(readdir(join(dir, "data", "db", writer.id))).rejects.toThrow();
  });

  it("refuses to open a missing snapshot or artifact with a clear error", async () => {
    await expect(repository.snapshot("db")).rejects.toBeInstanceOf(NotFoundError);
    await expect(repository.snapshot("db", "20260101T000000Z-abcdef")).rejects.toThrow(
      /snapshot 20260101T000000Z-abcdef of job db/,
    );
    await expect(repository.snapshot("db", "yesterday")).rejects.toThrow(/not a snapshot id/);
    const manifest = await backup("db", { a: "1" });
    await expect(repository.openArtifact(manifest, "b", [keys.identity])).rejects.toThrow(/artifact b/);
  });

  it("a flipped byte is caught by verify and by reading, naming the artifact", async () => {
    const manifest = await backup("db", { "task.dump": "x".repeat(100_000) });
    const path = join(dir, manifest.artifacts[0]!.path);
    const bytes = await readFile(path);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100] ?? 0) ^ 0x01;
    await writeFile(path, bytes);
    const report = await verifyRepository(repository);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatchObject({ job: "db", snapshot: manifest.id, artifact: "task.dump" });
    expect(report.problems[0]?.problem).toMatch(/artifact task.dump is damaged/);
    await expect(
      text(await repository.openArtifact(manifest, "task.dump", [keys.identity])),
    ).rejects.toThrow();
    await expect(
      text(await repository.openCiphertext(manifest, manifest.artifacts[0]!)),
    ).rejects.toBeInstanceOf(IntegrityError);
  });

  it("verify reports a deleted artifact, a truncated artifact and an unreadable manifest", async () => {
    const one = await backup("db", { a: "1" });
    const two = await backup("db", { b: "x".repeat(70_000) });
    const three = await backup("db", { c: "3" });
    await rm(join(dir, one.artifacts[0]!.path));
    const twoPath = join(dir, two.artifacts[0]!.path);
    await writeFile(twoPath, (await readFile(twoPath)).subarray(0, 1000));
    await writeFile(join(dir, "snapshots", "db", `${three.id}.json`), "{ not json");
    const report = await verifyRepository(repository);
    const problems = report.problems.map((p) => `${p.snapshot} ${p.artifact ?? ""} ${p.problem}`);
    expect(problems.some((p) => p.includes(one.id) && p.includes("a ") && /missing/.test(p))).toBe(true);
    expect(problems.some((p) => p.includes(two.id) && /damaged/.test(p))).toBe(true);
    expect(problems.some((p) => p.includes(three.id) && /not valid JSON/.test(p))).toBe(true);
  });

  it("verify --read-data fails with an identity that cannot decrypt", async () => {
    await backup("db", { a: "1" });
    const other = await generateIdentity();
    const good = await verifyRepository(repository, { identities: [keys.identity] });
    expect(good.problems).toEqual([]);
    const bad = await verifyRepository(repository, { identities: [other.identity] });
    expect(bad.problems.length).toBeGreaterThan(0);
  });

  it("leftovers of an interrupted run are warnings, and deleteData removes them", async () => {
    const writer = repository.createSnapshot({ job: "db", kind: "test", recipients: [keys.recipient] });
    await writer.addArtifact("a", Readable.from([Buffer.from("1")]));
    const report = await verifyRepository(repository);
    expect(report.problems).toEqual([]);
    expect(report.leftovers).toEqual([{ job: "db", id: writer.id, keys: 1 }]);
    await repository.deleteData("db", writer.id);
    expect(await repository.leftovers()).toEqual([]);
  });

  it("deleting a snapshot removes the copy, then the manifest, then the artifacts", async () => {
    const manifest = await backup("db", { a: "1" });
    const deleted: string[] = [];
    const backend = repository.backend;
    const original = backend.delete.bind(backend);
    backend.delete = async (key: string) => {
      deleted.push(key);
      await original(key);
    };
    await repository.deleteSnapshot(manifest);
    expect(deleted.slice(0, 2)).toEqual([
      `data/db/${manifest.id}/manifest.json`,
      `snapshots/db/${manifest.id}.json`,
    ]);
    expect(deleted.slice(2).sort()).toEqual(manifest.artifacts.map((a) => a.path).sort());
    expect(await repository.snapshots()).toEqual([]);
    expect(await repository.leftovers()).toEqual([]);
    expect(await readdir(join(dir, "data", "db")).catch(() => [])).toEqual([]);
  });

  it("an interrupted delete never leaves a copy without its manifest", async () => {
    const manifest = await backup("db", { a: "1" });
    const backend = repository.backend;
    const original = backend.delete.bind(backend);
    let calls = 0;
    backend.delete = async (key: string) => {
      calls += 1;
      if (calls === 2) throw new Error("connection reset");
      await original(key);
    };
    await expect(repository.deleteSnapshot(manifest)).rejects.toThrow(/connection reset/);
    backend.delete = original;
    // Copy gone, manifest still there: a warning only, and the snapshot still verifies.
    const report = await verifyRepository(repository);
    expect(report.problems).toEqual([]);
    expect(report.warnings.map((w) => w.snapshot)).toEqual([manifest.id]);
    expect((await repository.scanData()).lost).toEqual([]);
  });

  it("writes artifacts 0600 inside 0700 directories", async () => {
    const manifest = await backup("db", { a: "1" });
    const file = await stat(join(dir, manifest.artifacts[0]!.path));
    expect(file.mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, "data", "db"))).mode & 0o777).toBe(0o700);
  });

  it("refuses a directory that holds something else than a backdrill repository", async () => {
    await writeFile(join(dir, "backdrill.json"), '{"format":"restic"}');
    await expect(repository.init()).rejects.toThrow(/not a backdrill repository marker/);
  });
});

describe("manifest copy", () => {
  const manifestPath = (job: string, id: string) => join(dir, "snapshots", job, `${id}.json`);
  const copyPath = (job: string, id: string) => join(dir, "data", job, id, "manifest.json");

  it("commit writes the manifest, then the copy with the same bytes (not an artifact)", async () => {
    const written: string[] = [];
    const backend = repository.backend;
    const original = backend.put.bind(backend);
    backend.put = async (key, body, options) => {
      written.push(key);
      return original(key, body, options);
    };
    const manifest = await backup("db", { "task.dump": "x" });
    expect(written.slice(-2)).toEqual([
      `snapshots/db/${manifest.id}.json`,
      `data/db/${manifest.id}/manifest.json`,
    ]);
    expect(await readFile(copyPath("db", manifest.id), "utf8")).toBe(
      await readFile(manifestPath("db", manifest.id), "utf8"),
    );
    expect(manifest.artifacts.map((a) => a.name)).toEqual(["task.dump", FACTS_ARTIFACT]);
    expect((await stat(copyPath("db", manifest.id))).mode & 0o777).toBe(0o600);
    const report = await verifyRepository(repository);
    expect(report).toMatchObject({ problems: [], warnings: [], leftovers: [], artifacts: 2 });
  });

  it("a failed copy write does not undo the commit: the snapshot exists, verify warns", async () => {
    const backend = repository.backend;
    const original = backend.put.bind(backend);
    backend.put = async (key, body, options) => {
      if (key.endsWith("/manifest.json")) throw new Error("disk full");
      return original(key, body, options);
    };
    const writer = repository.createSnapshot({ job: "db", kind: "test", recipients: [keys.recipient] });
    await writer.addJson(FACTS_ARTIFACT, {});
    const manifest = await writer.commit();
    expect((writer.copyError as Error).message).toBe("disk full");
    expect((await repository.snapshots("db")).map((s) => s.id)).toEqual([manifest.id]);
  });

  it("copy without manifest: a deleted manifest is damage, named with both keys, and not a leftover", async () => {
    const manifest = await backup("db", { a: "1" });
    await rm(manifestPath("db", manifest.id));
    expect(await repository.leftovers()).toEqual([]);
    const report = await verifyRepository(repository);
    expect(report.leftovers).toEqual([]);
    expect(report.problems).toEqual([
      {
        job: "db",
        snapshot: manifest.id,
        problem:
          `snapshot db/${manifest.id}: manifest snapshots/db/${manifest.id}.json is missing (a copy is at ` +
          `data/db/${manifest.id}/manifest.json): the snapshot was committed and its manifest was deleted; ` +
          `restore the manifest from the copy (backdrill verify db --repair, or copy the file back)`,
      },
    ]);
    expect((await repository.lostManifests("db")).map((l) => l.id)).toEqual([manifest.id]);
  });

  it("manifest without copy (older repository, or killed between the writes): a warning, not damage", async () => {
    const manifest = await backup("db", { a: "1" });
    await rm(copyPath("db", manifest.id));
    const report = await verifyRepository(repository);
    expect(report.problems).toEqual([]);
    expect(report.leftovers).toEqual([]);
    expect(report.warnings).toEqual([
      expect.objectContaining({
        job: "db",
        snapshot: manifest.id,
        problem: expect.stringMatching(/no manifest copy/),
      }),
    ]);
  });

  it("neither manifest nor copy: a leftover of an interrupted run, as before", async () => {
    const writer = repository.createSnapshot({ job: "db", kind: "test", recipients: [keys.recipient] });
    await writer.addArtifact("a", Readable.from([Buffer.from("1")]));
    const report = await verifyRepository(repository);
    expect(report.problems).toEqual([]);
    expect(report.leftovers).toEqual([{ job: "db", id: writer.id, keys: 1 }]);
    expect(await repository.lostManifests("db")).toEqual([]);
  });

  it("manifest and copy differ: damage naming both keys", async () => {
    const manifest = await backup("db", { a: "1" });
    const copy = JSON.parse(await readFile(copyPath("db", manifest.id), "utf8")) as Record<string, unknown>;
    await writeFile(copyPath("db", manifest.id), JSON.stringify({ ...copy, host: "elsewhere" }));
    const report = await verifyRepository(repository);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]?.problem).toContain(`snapshots/db/${manifest.id}.json`);
    expect(report.problems[0]?.problem).toContain(`data/db/${manifest.id}/manifest.json`);
    expect(report.problems[0]?.problem).toMatch(/differ/);
  });

  it("an unreadable manifest is damage (pointing at its copy), and its data is not a leftover", async () => {
    const manifest = await backup("db", { a: "1" });
    await writeFile(manifestPath("db", manifest.id), "{ not json");
    expect(await repository.leftovers()).toEqual([]);
    const report = await verifyRepository(repository);
    expect(report.leftovers).toEqual([]);
    expect(report.problems).toEqual([
      expect.objectContaining({
        job: "db",
        snapshot: manifest.id,
        problem: expect.stringMatching(/not valid JSON.*a copy is at data\/db\/.*manifest\.json/),
      }),
    ]);
  });

  it("repair puts a deleted manifest back from its copy after checking the artifacts", async () => {
    const manifest = await backup("db", { a: "1", b: "2" });
    const before = await readFile(manifestPath("db", manifest.id), "utf8");
    await rm(manifestPath("db", manifest.id));
    const report = await verifyRepository(repository, { repair: true });
    expect(report.repaired).toEqual([{ job: "db", snapshot: manifest.id }]);
    expect(report.problems).toEqual([]);
    expect(report.snapshots).toBe(1);
    expect(await readFile(manifestPath("db", manifest.id), "utf8")).toBe(before);
    expect((await verifyRepository(repository)).problems).toEqual([]);
  });

  it("repair refuses when an artifact of the copy does not verify, and says so", async () => {
    const manifest = await backup("db", { a: "1" });
    await rm(manifestPath("db", manifest.id));
    await rm(join(dir, manifest.artifacts[0]!.path));
    const report = await verifyRepository(repository, { repair: true });
    expect(report.repaired).toEqual([]);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]?.problem).toMatch(
      /manifest was deleted.*repair failed: .*artifact a is missing/,
    );
    await expect(stat(manifestPath("db", manifest.id))).rejects.toThrow(/ENOENT/);
  });

  it("lostManifests after an id finds only newer snapshots that lost their manifest", async () => {
    // Ids sort by their time: days apart, so the listing by day prefixes is exercised too.
    const day = 86_400_000;
    const old = await backup("db", { a: "1" }, {}, new Date(Date.now() - 40 * day));
    const mid = await backup("db", { a: "2" }, {}, new Date(Date.now() - 3 * day));
    const newest = await backup("db", { a: "3" }, {}, new Date(Date.now() - day));
    await rm(manifestPath("db", old.id));
    await rm(manifestPath("db", newest.id));
    expect((await repository.lostManifests("db")).map((l) => l.id)).toEqual([old.id, newest.id]);
    expect((await repository.lostManifests("db", { after: mid.id })).map((l) => l.id)).toEqual([newest.id]);
    expect(await repository.lostManifests("db", { after: newest.id })).toEqual([]);
    expect(await repository.lostManifests("other")).toEqual([]);
  });

  it("a backup committing while verify lists is not mistaken for a deleted manifest", async () => {
    const manifest = await backup("db", { a: "1" });
    // The manifests were listed just before the commit, the data directories just after it.
    const backend = repository.backend;
    const original = backend.list.bind(backend);
    backend.list = (prefix: string) =>
      prefix.startsWith("snapshots/") ? (async function* () {})() : original(prefix);
    const scan = await repository.scanData("db");
    expect(scan.lost).toEqual([]);
    expect(scan.leftovers).toEqual([]);
    expect(await repository.lostManifests("db")).toEqual([]);
    backend.list = original;
    expect((await verifyRepository(repository)).problems).toEqual([]);
    expect(manifest.id).toBeDefined();
  });
});

describe("compressed artifacts", () => {
  const plain = Buffer.from("INSERT INTO t VALUES (1, 'a row like many others');\n".repeat(20_000));

  async function compressedBackup() {
    const writer = repository.createSnapshot({ job: "db", kind: "test", recipients: [keys.recipient] });
    await writer.addArtifact("base.tar", Readable.from([plain]), { compression: "brotli-1" });
    await writer.addJson(FACTS_ARTIFACT, { rows: 1 });
    return writer.commit();
  }

  /** Rewrites the stored manifest (an unsigned repository: anyone with write access could). */
  async function editManifest(
    id: string,
    edit: (m: Record<string, unknown> & { artifacts: Array<Record<string, unknown>> }) => void,
  ) {
    const file = join(dir, "snapshots", "db", `${id}.json`);
    const manifest = JSON.parse(await readFile(file, "utf8")) as Parameters<typeof edit>[0];
    edit(manifest);
    await writeFile(file, JSON.stringify(manifest));
  }

  it("are stored compressed in a format 2 manifest and read back as they were", async () => {
    const manifest = await compressedBackup();
    expect(manifest.format).toBe(2);
    const record = manifest.artifacts[0]!;
    expect(record).toMatchObject({ compression: "brotli-1", plainSize: plain.length });
    expect(record.size).toBeLessThan(plain.length / 10);
    // The facts are not compressed: no field, and readers of older versions could read them.
    expect(manifest.artifacts[1]!.compression).toBeUndefined();
    const read = await text(await repository.openArtifact(manifest, "base.tar", [keys.identity]));
    expect(read).toBe(plain.toString());
    expect((await verifyRepository(repository, { identities: [keys.identity] })).problems).toEqual([]);
    // Without any compressed artifact the manifest stays format 1, readable by older versions.
    expect((await backup("db", { "task.dump": "x" })).format).toBe(1);
  });

  it("a recorded plain size smaller than the data stops decompression there, naming the artifact", async () => {
    const manifest = await compressedBackup();
    await editManifest(manifest.id, (m) => (m.artifacts[0]!.plainSize = 1000));
    const forged = await repository.snapshot("db", manifest.id);
    await expect(text(await repository.openArtifact(forged, "base.tar", [keys.identity]))).rejects.toThrow(
      `snapshot db/${manifest.id}: artifact base.tar: it decompresses to more than the 1000 bytes its record states`,
    );
    const report = await verifyRepository(repository, { identities: [keys.identity] });
    // (The edited manifest no longer matches its copy either: verify says so too.)
    expect(report.problems).toContainEqual(
      expect.objectContaining({
        artifact: "base.tar",
        problem: expect.stringMatching(/more than the 1000 bytes/),
      }),
    );
  });

  it.each([
    [
      "an unknown compression",
      (m: { artifacts: Array<Record<string, unknown>> }) => (m.artifacts[0]!.compression = "zstd-3"),
      /artifact base.tar: compression "zstd-3" is not one this backdrill knows/,
    ],
    [
      "a compressed artifact in a format 1 manifest",
      (m: Record<string, unknown>) => (m.format = 1),
      /artifact base.tar is compressed in a format 1 manifest/,
    ],
    [
      "a compressed artifact without its plain size",
      (m: { artifacts: Array<Record<string, unknown>> }) => delete m.artifacts[0]!.plainSize,
      /artifact base.tar is compressed but its plain size is not recorded/,
    ],
  ])("refuses %s by name; nothing is read", async (_label, edit, problem) => {
    const manifest = await compressedBackup();
    await editManifest(manifest.id, edit as Parameters<typeof editManifest>[1]);
    const listing = await repository.listSnapshots("db");
    expect(listing.snapshots).toEqual([]);
    expect(listing.refused).toEqual([
      expect.objectContaining({ reason: "structure", problem: expect.stringMatching(problem) }),
    ]);
    await expect(repository.snapshot("db", manifest.id)).rejects.toThrow(/refusing to act on it/);
  });

  it("a manifest of a newer format is unreadable with a message that says to upgrade", async () => {
    const manifest = await compressedBackup();
    await editManifest(manifest.id, (m) => (m.format = 3));
    const listing = await repository.listSnapshots("db");
    expect(listing.damaged).toEqual([
      expect.objectContaining({
        problem: expect.stringMatching(
          /has format 3, newer than this backdrill reads \(up to 2\): upgrade backdrill/,
        ),
      }),
    ]);
  });
});
