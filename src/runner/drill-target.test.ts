import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateIdentity } from "../crypto/keys.js";
import * as z from "zod";
import type { DrillContext, JobLike, TargetBase } from "../kinds/contract.js";
import { createLogger } from "../log/logger.js";
import { FACTS_ARTIFACT, type SnapshotManifest } from "../repository/manifest.js";
import { Repository } from "../repository/repository.js";
import { LocalBackend } from "../storage/local/local-backend.js";
import { runDrillTarget, type AnyEngine } from "./drill-target.js";
import { selectDrillSnapshot } from "./snapshot-check.js";

const log = createLogger({ level: "silent" });
let dir: string;
let repository: Repository;
let keys: { identity: string; recipient: string };
/** Snapshot ids the engine was asked to drill: empty when the drill stopped before any container. */
let drilled: string[];
/** Runs inside the engine before it reads the artifacts: damage after the runner's check. */
let beforeRead: (manifest: SnapshotManifest) => Promise<void>;

/**
 * A stand-in for a job kind's engine: it reads every artifact to the end, like a restore would,
 * and passes. The drill runner around it is what is under test.
 */
const engine: AnyEngine = {
  backup: () => Promise.reject(new Error("not used")),
  planRestore: () => Promise.reject(new Error("not used")),
  applyRestore: () => Promise.reject(new Error("not used")),
  drill(context: DrillContext<JobLike, TargetBase, unknown>) {
    return {
      sandbox: async () => {
        drilled.push(context.artifacts.snapshot.id);
      },
      restore: async () => {
        await beforeRead(context.artifacts.snapshot);
        for (const name of context.artifacts.names()) await text(await context.artifacts.open(name));
        return [{ name: "restored", ok: true, detail: "" }];
      },
      checks: async () => [],
      details: () => ({}),
      stack: () => ({ port: 1, env: { SNAPSHOT: context.artifacts.snapshot.id }, files: [], volume: null }),
    };
  },
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-drill-"));
  repository = new Repository(new LocalBackend({ path: dir }));
  await repository.init();
  keys = await generateIdentity();
  drilled = [];
  beforeRead = () => Promise.resolve();
});

afterEach(async () => {
  await repository.backend.close();
  await rm(dir, { recursive: true, force: true });
});

async function backup(at: Date): Promise<SnapshotManifest> {
  const writer = repository.createSnapshot({ job: "db", kind: "test", recipients: [keys.recipient], at });
  await writer.addArtifact("task.dump", Readable.from([Buffer.alloc(200_000, 7)]));
  await writer.addJson(FACTS_ARTIFACT, { rows: 1 });
  return writer.commit();
}

function drill(snapshot = "latest") {
  return runDrillTarget(
    {
      job: { name: "db", kind: "test" },
      jobFile: "jobs/db.yaml",
      target: { job: "db", snapshot },
      kind: { engine: async () => engine, factsSchema: z.object({ rows: z.number() }) },
      repository,
      snapshot,
      identities: [keys.identity],
      rtoSeconds: null,
    },
    { log, signal: new AbortController().signal, env: {}, configDir: dir },
  );
}

const hour = 3_600_000;

describe("runDrillTarget and damaged snapshots", () => {
  it("drills an intact snapshot", async () => {
    const manifest = await backup(new Date());
    const report = await drill();
    expect(report).toMatchObject({ ok: true, snapshot: manifest.id });
    expect(drilled).toEqual([manifest.id]);
  });

  it.each([
    ["a flipped bit", "sha256 mismatch"],
    ["a truncation", "size mismatch"],
    ["a deleted object", "is missing"],
  ])(
    "fails on %s in any artifact before the engine runs, naming snapshot, artifact and damage",
    async (what, kind) => {
      for (const name of ["task.dump", FACTS_ARTIFACT]) {
        const manifest = await backup(new Date());
        const record = manifest.artifacts.find((a) => a.name === name)!;
        const path = join(dir, record.path);
        const pristine = await readFile(path);
        if (what === "a flipped bit") {
          const bytes = Buffer.from(pristine);
          bytes[1000 % bytes.length] = (bytes[1000 % bytes.length] ?? 0) ^ 0x10;
          await writeFile(path, bytes);
        } else if (what === "a truncation") {
          await truncate(path, Math.floor(pristine.length / 2));
        } else {
          await rm(path);
        }
        const report = await drill(manifest.id);
        expect(report.ok).toBe(false);
        expect(report.snapshot).toBe(manifest.id);
        expect(report.error).toContain(`snapshot db/${manifest.id}: artifact ${name}`);
        expect(report.error).toContain(kind);
        expect(drilled).toEqual([]);
        await writeFile(path, pristine);
        expect((await drill(manifest.id)).ok).toBe(true);
        drilled = [];
      }
    },
  );

  it("refuses to drill an older snapshot while the newest committed one lost its manifest", async () => {
    const older = await backup(new Date(Date.now() - 2 * hour));
    const newest = await backup(new Date(Date.now() - hour));
    await rm(join(dir, "snapshots", "db", `${newest.id}.json`));
    const report = await drill();
    expect(report.ok).toBe(false);
    expect(report.snapshot).toBe(newest.id);
    expect(report.error).toContain(
      `manifest snapshots/db/${newest.id}.json is missing (a copy is at data/db/${newest.id}/manifest.json)`,
    );
    expect(report.error).toMatch(/not drilling an older snapshot/);
    expect(drilled).toEqual([]);
    // An older snapshot that lost its manifest does not block drilling the newest one.
    await writeFile(
      join(dir, "snapshots", "db", `${newest.id}.json`),
      await readFile(join(dir, "data", "db", newest.id, "manifest.json")),
    );
    await rm(join(dir, "snapshots", "db", `${older.id}.json`));
    expect(await drill()).toMatchObject({ ok: true, snapshot: newest.id });
  });

  it("a restore of `latest` refuses the same fallback, worded for a restore; an explicit id still works", async () => {
    const older = await backup(new Date(Date.now() - 2 * hour));
    const newest = await backup(new Date(Date.now() - hour));
    await rm(join(dir, "snapshots", "db", `${newest.id}.json`));
    await expect(selectDrillSnapshot(repository, "db", "latest", { verb: "restoring" })).rejects.toThrow(
      /manifest was deleted.*not restoring an older snapshot in its place/,
    );
    await expect(
      selectDrillSnapshot(repository, "db", older.id, { verb: "restoring" }),
    ).resolves.toMatchObject({ manifest: { id: older.id } });
  });

  it("refuses to drill an older snapshot while the newest one's manifest is unreadable", async () => {
    await backup(new Date(Date.now() - 2 * hour));
    const newest = await backup(new Date(Date.now() - hour));
    await writeFile(join(dir, "snapshots", "db", `${newest.id}.json`), "{ truncated");
    const report = await drill();
    expect(report).toMatchObject({ ok: false, snapshot: newest.id });
    expect(report.error).toMatch(/not valid JSON.*not drilling an older snapshot/);
    expect(drilled).toEqual([]);
  });

  it("names the deleted manifest when the only snapshot, or the one asked for, lost it", async () => {
    const manifest = await backup(new Date());
    await rm(join(dir, "snapshots", "db", `${manifest.id}.json`));
    for (const wanted of ["latest", manifest.id]) {
      const report = await drill(wanted);
      expect(report.ok).toBe(false);
      expect(report.snapshot).toBe(manifest.id);
      expect(report.error).toMatch(/the snapshot was committed and its manifest was deleted/);
    }
    expect(drilled).toEqual([]);
  });

  it("names damage that appears while the engine reads, even when the engine reports its own error", async () => {
    const manifest = await backup(new Date());
    beforeRead = async (snapshot) => {
      // Same size, other bytes: only authentication (or the final sha256) can tell.
      const path = join(dir, snapshot.artifacts[0]!.path);
      const bytes = await readFile(path);
      bytes[bytes.length - 50] = (bytes[bytes.length - 50] ?? 0) ^ 0x01;
      await writeFile(path, bytes);
    };
    const report = await drill();
    expect(drilled).toEqual([manifest.id]);
    expect(report.ok).toBe(false);
    expect(report.error).toMatch(
      new RegExp(
        `snapshot db/${manifest.id}: artifact task\\.dump (does not decrypt: .*failed authentication|is damaged: sha256 mismatch)`,
      ),
    );
  });
});
