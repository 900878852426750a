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

async function backup(job: string, data: Record<string, string>, facts: unknown = { rows: 1 }) {
  const writer = repository.createSnapshot({ job, kind: "test", recipients: [keys.recipient] });
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

  it("deleting a snapshot removes the manifest before the data", async () => {
    const manifest = await backup("db", { a: "1" });
    await repository.deleteSnapshot(manifest);
    expect(await repository.snapshots()).toEqual([]);
    expect(await repository.leftovers()).toEqual([]);
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
