/**
 * The files engine end to end with a local destination, through the real backup and drill
 * runners and an encrypted local repository: hard-link snapshots, the per-file manifest, a drill
 * into a throwaway sshd-rsync container with sha256sum inside it, an interrupted rsync, and
 * disaster restores (refusing a non-empty target, dry-run plan, damaged file caught).
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobBackup } from "../../../src/runner/backup.js";
import type { DrillTarget } from "../../../src/config/drill-schema.js";
import type { FilesJob } from "../../../src/kinds/files/job-schema.js";
import { generateIdentity } from "../../../src/crypto/keys.js";
import { runDrillTarget } from "../../../src/runner/drill-target.js";
import { filesKind } from "../../../src/kinds/files/index.js";
import { byPath, toFileEntry } from "../../../src/kinds/files/entries.js";
import { scanLocalTree } from "../../../src/kinds/files/local-tree.js";
import { createLogger } from "../../../src/log/logger.js";
import type { SnapshotManifest } from "../../../src/repository/manifest.js";
import { Repository } from "../../../src/repository/repository.js";
import { LocalBackend } from "../../../src/storage/local/local-backend.js";
import { makeFileTree, MiB, mutateFileTree, type FileTree, type Mutation } from "../../support/file-tree.js";
import { sshdImage } from "../../support/images.js";
import { restoreWith } from "../../support/restore.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

const log = createLogger({ level: process.env.BACKDRILL_LOG_LEVEL ?? "warn", pretty: false });
let work: string;
let repository: Repository;
let keys: { identity: string; recipient: string };
let tree: FileTree;
let job: FilesJob;

const context = () => ({ log, signal: new AbortController().signal, env: {}, configDir: process.cwd() });

function backup(signal?: AbortSignal) {
  return runJobBackup(
    { job, kind: filesKind, repository, recipients: [keys.recipient] },
    { ...context(), ...(signal === undefined ? {} : { signal }) },
  );
}

function drill(sample?: number) {
  const target = {
    job: job.name,
    snapshot: "latest",
    image: sshdImage(),
    ...(sample === undefined ? {} : { checks: { sample } }),
  } as DrillTarget;
  return runDrillTarget(
    {
      job,
      target,
      kind: filesKind,
      repository,
      snapshot: "latest",
      identities: [keys.identity],
      rtoSeconds: 600,
    },
    context(),
  );
}

function restore(manifest: SnapshotManifest, to: string, force = false, dryRun = false) {
  return restoreWith({
    kind: filesKind,
    job,
    repository,
    identity: keys.identity,
    snapshot: manifest.id,
    to,
    force,
    dryRun,
    log,
  }).then((outcome) => outcome.plan);
}

const destination = () => path.join(work, "snapshots");
const inode = async (file: string) => (await stat(file)).ino;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "backdrill-files-local-"));
  tree = await makeFileTree(path.join(work, "source"), {
    smallFiles: 10_000,
    largeFiles: [8 * MiB, 24 * MiB],
  });
  repository = new Repository(new LocalBackend({ path: path.join(work, "repo") }));
  keys = await generateIdentity();
  job = {
    name: "task-files",
    kind: "files",
    policy: "nightly",
    source: tree.root,
    destination: destination(),
    exclude: ["*.tmp", "cache/"],
  } as FilesJob;
  // Excluded by the patterns above: must not reach the snapshot or its manifest.
  await mkdir(path.join(tree.root, "cache"), { recursive: true });
  await writeFile(path.join(tree.root, "cache", "thumb.jpg"), "x");
  await writeFile(path.join(tree.root, "upload.tmp"), "x");
  // A file changed less than 1 s before a backup's rsync starts is recorded as unsettled and
  // copied again (not linked) by the next backup (source-changes.ts); the tree must be older
  // than that for "every unchanged file is shared" below.
  await new Promise((resolve) => setTimeout(resolve, 1_200));
}, 120_000);

afterAll(async () => {
  await repository?.backend.close();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe("files engine, local destination", () => {
  let first: SnapshotManifest;
  let second: SnapshotManifest;
  let mutation: Mutation;

  it("takes a first snapshot named by the snapshot id, with a per-file manifest", async () => {
    const { result, manifest } = await backup();
    expect(result).toMatchObject({ ok: true });
    first = manifest as SnapshotManifest;
    expect(first.meta.snapshotDir).toBe(first.id);
    expect(first.artifacts.map((a) => a.name).sort()).toEqual(["facts.json", "files.jsonl"]);
    const names = await readdir(destination());
    expect(names.filter((n) => !n.startsWith("."))).toEqual([first.id]);

    const facts = await repository.readFacts<Record<string, number>>(first, [keys.identity]);
    expect(facts.files).toBe(tree.files.length);
    expect(facts.bytes).toBe(tree.bytes);
    expect(facts.hashedFiles).toBe(tree.files.length);
    // Every special entry is in the manifest with its metadata; excluded files are not.
    const lines = (await readAll(first, "files.jsonl"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const byPath = new Map(lines.map((l) => [l.path, l]));
    expect(byPath.get(tree.special.symlink)).toMatchObject({
      type: "symlink",
      target: tree.special.symlinkTarget,
    });
    expect(byPath.get(tree.special.privateFile)).toMatchObject({ type: "file", mode: "0600" });
    expect(byPath.get(tree.special.executable)).toMatchObject({ mode: "0755" });
    for (const name of [...tree.special.unicode, ...tree.special.spaces])
      expect(byPath.get(name)).toMatchObject({ type: "file" });
    for (const dir of tree.special.emptyDirs) expect(byPath.get(dir)).toMatchObject({ type: "dir" });
    expect(byPath.has("cache/thumb.jpg")).toBe(false);
    expect(byPath.has("upload.tmp")).toBe(false);
    const readme = createHash("sha256")
      .update(await readFile(path.join(tree.root, "readme.txt")))
      .digest("hex");
    expect(byPath.get("readme.txt")).toMatchObject({ sha256: readme });
    // The plaintext manifest names no file.
    expect(JSON.stringify(first)).not.toContain("readme");
  });

  it("hard-links unchanged files into the second snapshot and records adds, changes and deletes", async () => {
    mutation = await mutateFileTree(tree);
    const { result, manifest } = await backup();
    expect(result).toMatchObject({ ok: true });
    second = manifest as SnapshotManifest;
    expect(second.meta.linkDest).toBe(first.id);
    const a = path.join(destination(), first.id);
    const b = path.join(destination(), second.id);
    const changedOrDeleted = new Set([...mutation.changed, ...mutation.deleted]);
    const unchanged = tree.files.filter((f) => !changedOrDeleted.has(f));
    let shared = 0;
    for (const file of unchanged)
      if ((await inode(path.join(a, file))) === (await inode(path.join(b, file)))) shared += 1;
    expect(shared).toBe(unchanged.length);
    for (const file of mutation.changed)
      expect(await inode(path.join(b, file))).not.toBe(await inode(path.join(a, file)));
    for (const file of mutation.deleted) await expect(stat(path.join(b, file))).rejects.toThrow(/ENOENT/);
    for (const file of mutation.added) expect((await stat(path.join(b, file))).isFile()).toBe(true);
    // Only new content was read again: the hash cache covered every hard-linked file.
    expect(second.meta.hashedFiles).toBe(mutation.added.length + mutation.changed.length);
    const facts = await repository.readFacts<Record<string, number>>(second, [keys.identity]);
    expect(facts.files).toBe(tree.files.length + mutation.added.length - mutation.deleted.length);
  });

  it("drills: rsync into a throwaway sshd container, every file's sha256 checked inside it", async () => {
    const report = await drill();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.snapshot).toBe(second.id);
    expect(report.details).toMatchObject({
      checkedFiles: (report.details as { files: number }).files,
      checksumMismatches: 0,
    });
    expect(report.checks.map((c) => c.name)).toEqual([
      "file list",
      "metadata",
      "sha256 of every file",
      "within RTO",
    ]);

    const sampled = await drill(50);
    expect(sampled.ok).toBe(true);
    expect(sampled.details).toMatchObject({ checkedFiles: 50 });
  });

  it("fails the drill, naming the file, when a stored file no longer matches the manifest", async () => {
    const victim = mutation.added[0] as string; // only in the second snapshot: no shared inode
    const file = path.join(destination(), second.id, victim);
    const original = await readFile(file);
    const damaged = Buffer.from(original);
    damaged[10] = (damaged[10] ?? 0) ^ 0xff;
    // Nanosecond mtime (a Date would round it): same size, same mtime, only the checksum can tell.
    const { mtimeNs } = await stat(file, { bigint: true });
    const stamp = `@${mtimeNs / 1_000_000_000n}.${String(mtimeNs % 1_000_000_000n).padStart(9, "0")}`;
    await writeFile(file, damaged);
    await execa("touch", ["-m", "-d", stamp, file]);
    try {
      const report = await drill();
      expect(report.ok).toBe(false);
      const sha = report.checks.find((c) => c.name === "sha256 of every file");
      expect(sha).toMatchObject({ ok: false });
      expect(sha?.detail).toContain(victim);
      expect(report.checks.find((c) => c.name === "metadata")).toMatchObject({ ok: true });
    } finally {
      await writeFile(file, original);
      await execa("touch", ["-m", "-d", stamp, file]);
    }
  });

  it("an rsync killed mid-snapshot leaves no complete-looking snapshot, and the next run succeeds", async () => {
    await writeFile(path.join(tree.root, "large", "big-new.bin"), Buffer.alloc(200 * MiB, 7));
    const controller = new AbortController();
    const watcher = (async () => {
      for (;;) {
        const names = await readdir(destination());
        if (names.some((n) => n.endsWith(".partial"))) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 50));
      controller.abort(new Error("killed by the test"));
    })();
    const { result } = await backup(controller.signal);
    await watcher;
    expect(result.ok).toBe(false);
    const names = (await readdir(destination())).filter((n) => !n.startsWith("."));
    expect(names.filter((n) => !n.endsWith(".partial")).sort()).toEqual([first.id, second.id]);
    expect(names.filter((n) => n.endsWith(".partial"))).toHaveLength(1);
    expect((await repository.snapshots(job.name)).map((s) => s.id)).toEqual([first.id, second.id]);

    const { result: again, manifest } = await backup();
    expect(again).toMatchObject({ ok: true });
    expect(manifest?.meta.resumed).toBe(true);
    const after = (await readdir(destination())).filter((n) => !n.startsWith("."));
    expect(after.filter((n) => n.endsWith(".partial"))).toEqual([]);
    expect(after).toContain(manifest?.id);
    await rm(path.join(tree.root, "large", "big-new.bin"));
  }, 120_000);

  it("restores to an empty directory and verifies; refuses a non-empty one without --force", async () => {
    const target = path.join(work, "restored");
    await restore(second, target);
    expect(await readFile(path.join(target, tree.special.unicode[1] as string))).toEqual(
      await readFile(path.join(destination(), second.id, tree.special.unicode[1] as string)),
    );
    expect((await stat(path.join(target, tree.special.privateFile))).mode & 0o777).toBe(0o600);

    await expect(restore(second, target)).rejects.toThrow(/is not empty .*refusing/);
    await writeFile(path.join(target, "operator-note.txt"), "keep me");
    const plan = await restore(second, target, true);
    expect(plan.warnings.join(" ")).toMatch(/not empty/);
    expect(await readFile(path.join(target, "operator-note.txt"), "utf8")).toBe("keep me");

    // Dry run: a plan, and nothing touched.
    const dry = path.join(work, "dry-run-target");
    const dryPlan = await restore(second, dry, false, true);
    expect(dryPlan.steps[0]).toContain(second.id);
    await expect(stat(dry)).rejects.toThrow(/ENOENT/);
    await expect(restore(second, "relative/path")).rejects.toThrow(
      /--to "relative\/path": a files restore target must be an absolute path/,
    );
  });
});

describe("files engine, a source file rewritten with its size and mtime kept", () => {
  // rsync --link-dest's quick check (size + mtime) would hard-link the old bytes; the source's
  // ctime and inode, recorded by the previous snapshot, must make the backup copy it again.
  let root: string;
  let sameMtimeJob: FilesJob;
  const run = () =>
    runJobBackup({ job: sameMtimeJob, kind: filesKind, repository, recipients: [keys.recipient] }, context());
  const snapshotFile = (manifest: SnapshotManifest, name: string) =>
    path.join(root, "snapshots", manifest.meta.snapshotDir as string, name);
  const sha = (data: string) => createHash("sha256").update(data).digest("hex");
  const stampOf = async (file: string) => {
    const { mtimeNs } = await stat(file, { bigint: true });
    return `@${mtimeNs / 1_000_000_000n}.${String(mtimeNs % 1_000_000_000n).padStart(9, "0")}`;
  };
  const manifestLines = async (manifest: SnapshotManifest) =>
    new Map(
      (await readAll(manifest, "files.jsonl"))
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { path: string; sha256?: string })
        .map((entry) => [entry.path, entry]),
    );
  // A change is "settled" once older than rsync's start minus 1 s (source-changes.ts).
  const settle = () => new Promise((resolve) => setTimeout(resolve, 1_200));

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "backdrill-files-same-mtime-"));
    await mkdir(path.join(root, "source", "sub"), { recursive: true });
    await writeFile(path.join(root, "source", "sub", "config.ini"), "mode=blue\n");
    await writeFile(path.join(root, "source", "other.txt"), "unchanged\n");
    sameMtimeJob = {
      name: "task-files-same-mtime",
      kind: "files",
      policy: "nightly",
      source: path.join(root, "source"),
      destination: path.join(root, "snapshots"),
      exclude: [],
    } as FilesJob;
  });

  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it("copies the new bytes into the next snapshot, with their checksum, and links the rest", async () => {
    const config = path.join(root, "source", "sub", "config.ini");
    await settle();
    const first = (await run()).manifest as SnapshotManifest;
    expect(await readFile(snapshotFile(first, "sub/config.ini"), "utf8")).toBe("mode=blue\n");

    const stamp = await stampOf(config);
    await writeFile(config, "mode=red\n\n"); // same size as "mode=blue\n"
    await execa("touch", ["-m", "-d", stamp, config]);
    expect(await stampOf(config)).toBe(stamp);
    await settle();
    const { result, manifest } = await run();
    expect(result).toMatchObject({ ok: true });
    const second = manifest as SnapshotManifest;
    expect(await readFile(snapshotFile(second, "sub/config.ini"), "utf8")).toBe("mode=red\n\n");
    expect(await inode(snapshotFile(second, "sub/config.ini"))).not.toBe(
      await inode(snapshotFile(first, "sub/config.ini")),
    );
    // The old snapshot keeps its bytes; the unchanged file is still shared.
    expect(await readFile(snapshotFile(first, "sub/config.ini"), "utf8")).toBe("mode=blue\n");
    expect(await inode(snapshotFile(second, "other.txt"))).toBe(
      await inode(snapshotFile(first, "other.txt")),
    );
    expect((await manifestLines(second)).get("sub/config.ini")?.sha256).toBe(sha("mode=red\n\n"));
    expect(second.meta.hashedFiles).toBe(1);

    // Nothing changed since (and the change is settled): everything is linked, nothing hashed.
    const third = (await run()).manifest as SnapshotManifest;
    expect(await inode(snapshotFile(third, "sub/config.ini"))).toBe(
      await inode(snapshotFile(second, "sub/config.ini")),
    );
    expect(third.meta.hashedFiles).toBe(0);
    expect((await manifestLines(third)).get("sub/config.ini")?.sha256).toBe(sha("mode=red\n\n"));
  }, 60_000);
});

describe("files engine, a snapshot written before tree order (issue 19)", () => {
  // Snapshots made before the streamed backup have a manifest sorted by plain path ("a.b" before
  // "a/x") and a format-2 hash cache (one JSON object). They must still restore and verify, and
  // the next backup must reuse that cache: nothing hashed, nothing copied again.
  let root: string;
  let oldJob: FilesJob;
  const treeOrder = ["a", "a/x", "a-c", "a.b", "b"];

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "backdrill-files-legacy-"));
    const source = path.join(root, "source");
    await mkdir(path.join(source, "a"), { recursive: true });
    for (const file of ["a/x", "a-c", "a.b", "b"]) await writeFile(path.join(source, file), `${file}\n`);
    oldJob = {
      name: "task-files-legacy",
      kind: "files",
      policy: "nightly",
      source,
      destination: path.join(root, "snapshots"),
      exclude: [],
    } as FilesJob;
  });

  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  /** A snapshot as the format-2 backup wrote it: directory, path-sorted manifest, format-2 cache. */
  async function legacySnapshot(): Promise<SnapshotManifest> {
    const writer = repository.createSnapshot({
      job: oldJob.name,
      kind: "files",
      recipients: [keys.recipient],
    });
    const dir = path.join(oldJob.destination, writer.id);
    await mkdir(path.join(oldJob.destination, ".backdrill"), { recursive: true });
    await execa("cp", ["-a", `${oldJob.source}/.`, dir]);
    const sha = async (file: string) =>
      createHash("sha256")
        .update(await readFile(file))
        .digest("hex");
    const stored = await scanLocalTree(dir);
    const hashes = new Map<string, string>();
    for (const entry of stored)
      if (entry.type === "file") hashes.set(entry.path, await sha(path.join(dir, entry.path)));
    const lines = stored
      .sort(byPath)
      .map((entry) => JSON.stringify(toFileEntry(entry, hashes.get(entry.path))))
      .join("\n");
    const files: Record<string, unknown> = {};
    for (const entry of stored)
      if (entry.type === "file")
        files[entry.path] = [entry.dev, entry.ino, entry.size, entry.mtimeNs, hashes.get(entry.path)];
    const source: Record<string, unknown> = {};
    for (const entry of await scanLocalTree(oldJob.source))
      if (entry.type === "file")
        source[entry.path] = [entry.dev, entry.ino, entry.size, entry.mtimeNs, entry.ctimeNs];
    await writeFile(
      path.join(oldJob.destination, ".backdrill", `${writer.id}.json`),
      JSON.stringify({ format: 2, files, source }),
      { mode: 0o600 },
    );
    await writer.addArtifact("files.jsonl", Readable.from([Buffer.from(`${lines}\n`)]));
    await writer.addJson("facts.json", {
      format: 1,
      destination: oldJob.destination,
      snapshotDir: writer.id,
      linkDest: null,
      files: 4,
      dirs: 1,
      symlinks: 0,
      other: 0,
      bytes: [...hashes.keys()].reduce((sum, file) => sum + Buffer.byteLength(`${file}\n`), 0),
      hashedFiles: 4,
      hashedBytes: 0,
      exclude: [],
      manifestArtifact: "files.jsonl",
    });
    return writer.commit({ snapshotDir: writer.id, linkDest: null });
  }

  it("restores and verifies the old snapshot, and the next backup reuses its format-2 cache", async () => {
    // The source must be older than the next backup's rsync start minus 1 s (source-changes.ts).
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const old = await legacySnapshot();
    const paths = (text: string) =>
      text
        .trim()
        .split("\n")
        .map((line) => (JSON.parse(line) as { path: string }).path);
    expect(paths(await readAll(old, "files.jsonl"))).toEqual(["a", "a-c", "a.b", "a/x", "b"]);
    const restoreOf = (manifest: SnapshotManifest, to: string) =>
      restoreWith({
        kind: filesKind,
        job: oldJob,
        repository,
        identity: keys.identity,
        snapshot: manifest.id,
        to,
        log,
      });
    await restoreOf(old, path.join(root, "restored-old"));
    expect(await readFile(path.join(root, "restored-old", "a", "x"), "utf8")).toBe("a/x\n");

    const { result, manifest } = await runJobBackup(
      { job: oldJob, kind: filesKind, repository, recipients: [keys.recipient] },
      context(),
    );
    expect(result).toMatchObject({ ok: true });
    const next = manifest as SnapshotManifest;
    expect(next.meta.linkDest).toBe(old.id);
    expect(next.meta.hashedFiles).toBe(0);
    expect(await inode(path.join(oldJob.destination, next.id, "a", "x"))).toBe(
      await inode(path.join(oldJob.destination, old.id, "a", "x")),
    );
    expect(paths(await readAll(next, "files.jsonl"))).toEqual(treeOrder);
    const cache = await readFile(path.join(oldJob.destination, ".backdrill", `${next.id}.json`), "utf8");
    expect(cache.split("\n")[0]).toBe(JSON.stringify({ format: 3 }));
    await restoreOf(next, path.join(root, "restored-next"));
  }, 60_000);
});

async function readAll(manifest: SnapshotManifest, name: string): Promise<string> {
  const stream = await repository.openArtifact(manifest, name, [keys.identity]);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
