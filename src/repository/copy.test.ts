import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateIdentity } from "../crypto/keys.js";
import { IntegrityError } from "../errors.js";
import { LocalBackend } from "../storage/local/local-backend.js";
import { copyJob, type CopyEvent } from "./copy.js";
import { layout } from "./layout.js";
import { FACTS_ARTIFACT } from "./manifest.js";
import { Repository } from "./repository.js";

let root: string;
let source: Repository;
let target: Repository;
let recipient: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "backdrill-copy-"));
  source = new Repository(new LocalBackend({ path: join(root, "source") }));
  target = new Repository(new LocalBackend({ path: join(root, "target") }));
  await source.init();
  recipient = (await generateIdentity()).recipient;
});

afterEach(async () => {
  await source.backend.close();
  await target.backend.close();
  await rm(root, { recursive: true, force: true });
});

async function backup(job: string): Promise<string> {
  const writer = source.createSnapshot({ job, kind: "test", recipients: [recipient] });
  await writer.addArtifact("dump", Readable.from([Buffer.alloc(50_000, 7)]));
  await writer.addJson(FACTS_ARTIFACT, { rows: 1 });
  return (await writer.commit()).id;
}

async function put(repository: Repository, key: string, body: string | Buffer): Promise<void> {
  await repository.backend.put(key, Readable.from([Buffer.from(body)]), { overwrite: true });
}

describe("copyJob", () => {
  it("copies WAL objects of the layout only, keeps them on the next run, and copies a changed record again", async () => {
    await backup("db");
    const segment = "000000010000000000000001";
    await put(source, layout.wal("db", segment), Buffer.alloc(4096, 1));
    await put(source, `wal/db/${segment}.sha256`, '{"record":1}');
    await put(source, "wal/db/notes.txt", "not a WAL object");
    await put(source, "wal/other/000000010000000000000001.age", "another job");
    const events: CopyEvent[] = [];
    const first = await copyJob(source, target, "db", { onStored: (event) => events.push(event) });
    expect(first.wal).toEqual({ copied: 2, kept: 0 });
    expect(events.filter((event) => event.what === "wal").map((event) => event.key)).toEqual([
      layout.wal("db", segment),
      `wal/db/${segment}.sha256`,
    ]);
    expect(await target.backend.stat("wal/db/notes.txt")).toBeNull();
    expect(await target.backend.stat("wal/other/000000010000000000000001.age")).toBeNull();

    await put(source, `wal/db/${segment}.sha256`, '{"record":2}');
    const second = await copyJob(source, target, "db");
    expect(second.wal).toEqual({ copied: 1, kept: 1 });
    expect(second.snapshots.copied).toEqual([]);
    expect(second.snapshots.present).toHaveLength(1);
  });

  it("an artifact damaged in the source fails the copy of its snapshot: no manifest in the target", async () => {
    const id = await backup("db");
    const manifest = await source.snapshot("db", id);
    const dump = manifest.artifacts.find((artifact) => artifact.name === "dump");
    await writeFile(join(root, "source", dump?.path ?? ""), Buffer.alloc(dump?.size ?? 0, 9));
    await expect(copyJob(source, target, "db")).rejects.toBeInstanceOf(IntegrityError);
    expect(await target.backend.stat(layout.manifest("db", id))).toBeNull();
    expect((await target.snapshots("db")).map((snapshot) => snapshot.id)).toEqual([]);
  });

  it("a different manifest already in the target under the same id is left as is and named", async () => {
    const id = await backup("db");
    await target.init();
    await put(target, layout.manifest("db", id), "{}");
    const result = await copyJob(source, target, "db");
    expect(result.problems).toEqual([
      expect.stringMatching(new RegExp(`^snapshot db/${id}: the copy already holds a different manifest`)),
    ]);
    expect(await target.readManifestText("db", id)).toBe("{}");
  });
});
