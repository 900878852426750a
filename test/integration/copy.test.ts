/**
 * `backdrill copy` end to end: a signed local repository (files jobs) copied into a second local
 * repository and into a bucket of the S3 test server; drills from each copy pass with the source
 * repository out of reach; `status` shows each copy's lag; an interrupted copy (stopped after
 * some artifacts, as Ctrl-C stops it) leaves nothing that looks committed and resumes without
 * rewriting what is there; a forged source manifest is refused, not copied.
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { cp, readFile, rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { copyToCopies } from "../../src/app/copy.js";
import { createLogger } from "../../src/log/logger.js";
import { layout } from "../../src/repository/layout.js";
import { acquireJobLock } from "../../src/repository/locks.js";
import { Repository } from "../../src/repository/repository.js";
import { LocalBackend } from "../../src/storage/local/local-backend.js";
import { S3Backend } from "../../src/storage/s3/s3-backend.js";
import { S3Container, type StartedS3Container } from "../support/containers/s3.js";
import { sshdImage } from "../support/images.js";
import { verifyReadData } from "../support/run-cli.js";
import { forgeCopy, makeStack, type Stack } from "./hostile/repository-harness.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

let s3: StartedS3Container;
const BUCKET = "backdrill-copy";

interface CopyJson {
  ok: boolean;
  copies: Array<{
    copy: number;
    snapshots: { copied: string[]; present: string[]; resumed: string[] };
    artifacts: { copied: number; kept: number; bytes: number };
    history: { copied: number; kept: number };
    refused: string[];
  }>;
}

interface LagJson {
  copy: number;
  newest: { id: string } | null;
  lagSeconds: number | null;
  behind: number;
}

beforeAll(async () => {
  s3 = await new S3Container().start();
  const client = s3.client();
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  client.destroy();
  process.env.COPY_S3_KEY = s3.accessKeyId;
  process.env.COPY_S3_SECRET = s3.secretAccessKey;
}, 120_000);

afterAll(async () => {
  await s3?.stop();
});

/** Adds `copies:` to the stack's policy: copy 1 a local directory, copy 2 (optional) the S3 bucket. */
async function withCopies(stack: Stack, options: { s3Prefix?: string } = {}): Promise<string> {
  const copyDir = path.join(stack.root, "copy-1");
  const policyFile = path.join(stack.configDir, "policies", "p.yaml");
  const entries = [`  - { type: local, path: ${copyDir} }`];
  if (options.s3Prefix !== undefined) {
    entries.push(
      `  - { type: s3, bucket: ${BUCKET}, prefix: ${options.s3Prefix}, endpoint: "${s3.endpoint}", region: ${s3.region}, ` +
        `forcePathStyle: true, accessKeyIdEnv: COPY_S3_KEY, secretAccessKeyEnv: COPY_S3_SECRET }`,
    );
  }
  await writeFile(policyFile, `${await readFile(policyFile, "utf8")}copies:\n${entries.join("\n")}\n`);
  return copyDir;
}

async function lagsOf(stack: Stack): Promise<LagJson[]> {
  const result = await stack.cli("status", "--json");
  const json = JSON.parse(result.stdout) as { jobs: Array<{ job: string; copies?: LagJson[] }> };
  return json.jobs.find((job) => job.job === "files")?.copies ?? [];
}

async function copyJson(
  stack: Stack,
  ...args: string[]
): Promise<{ code: number; json: CopyJson; out: string }> {
  const result = await stack.cli("copy", "files", "--json", ...args);
  return {
    code: result.code,
    json: JSON.parse(result.stdout || "{}") as CopyJson,
    out: result.stdout + result.stderr,
  };
}

describe("backdrill copy", () => {
  it("copies local→local and local→S3; drills from each copy pass with the source out of reach; status shows the lag", async () => {
    const stack = await makeStack({ repository: { type: "local" }, signing: true, keepLast: 5 });
    const copyDir = await withCopies(stack, { s3Prefix: "copy-a" });
    try {
      const first = await stack.backup();
      await new Promise((done) => setTimeout(done, 1100));
      const second = await stack.backup();
      const drill = await stack.cli("drill", "d");
      expect(drill.code, drill.stdout + drill.stderr).toBe(0);
      expect(await lagsOf(stack)).toMatchObject([
        { copy: 1, newest: null, lagSeconds: null, behind: 2 },
        { copy: 2, newest: null, lagSeconds: null, behind: 2 },
      ]);

      const copied = await copyJson(stack);
      expect(copied.code, copied.out).toBe(0);
      for (const copy of copied.json.copies) {
        expect(copy.snapshots.copied).toEqual([first, second].sort());
        expect(copy.history).toEqual({ copied: 1, kept: 0 });
        expect(copy.refused).toEqual([]);
      }
      // The signed manifest as is: same bytes in both copies, and it verifies there (below: drills).
      const manifest = await stack.readText(layout.manifest("files", second));
      const local = new LocalBackend({ path: copyDir });
      const bucket = new S3Backend({
        bucket: BUCKET,
        prefix: "copy-a",
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      });
      try {
        for (const backend of [local, bucket]) {
          const chunks: Buffer[] = [];
          for await (const chunk of await backend.get(layout.manifest("files", second)))
            chunks.push(chunk as Buffer);
          expect(Buffer.concat(chunks).toString()).toBe(manifest);
        }
      } finally {
        await local.close();
        await bucket.close();
      }
      expect(await lagsOf(stack)).toMatchObject([
        { copy: 1, newest: { id: second }, lagSeconds: 0, behind: 0 },
        { copy: 2, newest: { id: second }, lagSeconds: 0, behind: 0 },
      ]);

      // A newer backup: both copies one behind; the next copy takes only it.
      // Surely a later second than the second backup's id (ids have second precision).
      await new Promise((done) => setTimeout(done, 1100));
      const third = await stack.backup();
      const lags = await lagsOf(stack);
      expect(lags).toMatchObject([
        { copy: 1, newest: { id: second }, behind: 1 },
        { copy: 2, newest: { id: second }, behind: 1 },
      ]);
      expect(lags[0]?.lagSeconds).toBeGreaterThanOrEqual(1);
      const again = await copyJson(stack);
      expect(again.code, again.out).toBe(0);
      for (const copy of again.json.copies) {
        expect(copy.snapshots).toEqual({ copied: [third], present: [first, second].sort(), resumed: [] });
        expect(copy.history).toEqual({ copied: 0, kept: 1 });
      }

      // Drills from copy 1 and copy 2, with the source repository moved out of reach.
      await writeFile(
        path.join(stack.configDir, "drills", "from-copies.yaml"),
        `name: from-copies\nidentityFile: ${stack.identityFile}\nreportDir: ${path.join(stack.root, "reports")}\n` +
          `targets:\n  - { job: files, image: "${sshdImage()}", fromCopy: 1 }\n` +
          `  - { job: files, image: "${sshdImage()}", fromCopy: 2 }\n`,
      );
      const repoDir = path.join(stack.root, "repo");
      await rename(repoDir, `${repoDir}.away`);
      try {
        const fromCopies = await stack.cli("drill", "from-copies");
        expect(fromCopies.code, fromCopies.stdout + fromCopies.stderr).toBe(0);
        const report = await stack.drillReport("from-copies");
        expect(report.targets).toMatchObject([
          { ok: true, snapshot: third },
          { ok: true, snapshot: third },
        ]);
        // The control: the same drill from the repository itself fails while it is away.
        const fromSource = await stack.cli("drill", "d");
        expect(fromSource.code).toBe(1);
      } finally {
        await rename(`${repoDir}.away`, repoDir);
      }
    } finally {
      await stack.close();
    }
  });

  it("an interrupted copy leaves no snapshot that looks complete, and resumes without recopying", async () => {
    const stack = await makeStack({ repository: { type: "local" }, signing: true, keepLast: 5 });
    const copyDir = await withCopies(stack);
    try {
      // In the order the copy takes them (by id: two backups in one second under load sort by suffix).
      const ids = [await stack.backup(), await stack.backup(), await stack.backup()].sort();
      const source = await stack.readManifest("files", ids[0] ?? "");
      const perSnapshot = source.artifacts.length;
      expect(perSnapshot).toBeGreaterThanOrEqual(2);
      const config = await loadConfig({ dir: stack.configDir });
      const log = createLogger({ level: "silent" });

      // Stopped (as SIGINT stops it) right after the first artifact of the second snapshot.
      const controller = new AbortController();
      const first: string[] = [];
      const interrupted = copyToCopies(config, {
        job: "files",
        log,
        signal: controller.signal,
        env: process.env,
        onStored: (_copy, event) => {
          if (event.what !== "artifact") return;
          first.push(event.key);
          if (first.length === perSnapshot + 1) controller.abort(new Error("interrupted by the test"));
        },
      });
      await expect(interrupted).rejects.toThrow(/interrupted by the test/);
      expect(first).toHaveLength(perSnapshot + 1);

      const copy = new Repository(new LocalBackend({ path: copyDir }));
      try {
        // Only the first snapshot is committed in the copy; the second is a leftover, not a snapshot.
        expect((await copy.snapshots("files")).map((manifest) => manifest.id)).toEqual([ids[0]]);
        expect((await copy.leftovers("files")).map((leftover) => leftover.id)).toEqual([ids[1]]);
      } finally {
        await copy.backend.close();
      }
      const mtimes = new Map<string, number>();
      for (const key of first) mtimes.set(key, (await stat(path.join(copyDir, key))).mtimeMs);

      const resumed: string[] = [];
      const report = await copyToCopies(config, {
        job: "files",
        log,
        signal: new AbortController().signal,
        env: process.env,
        onStored: (_copy, event) => {
          if (event.what === "artifact") resumed.push(event.key);
        },
      });
      expect(report.ok).toBe(true);
      expect(report.copies[0]?.snapshots).toEqual({
        copied: [ids[1], ids[2]],
        present: [ids[0]],
        resumed: [ids[1]],
      });
      // Written once in all: nothing copied before the interruption was written again.
      expect(resumed.filter((key) => first.includes(key))).toEqual([]);
      expect(first.length + resumed.length).toBe(3 * perSnapshot);
      expect(report.copies[0]?.artifacts).toMatchObject({ copied: 2 * perSnapshot - 1, kept: 1 });
      for (const [key, mtime] of mtimes) expect((await stat(path.join(copyDir, key))).mtimeMs).toBe(mtime);

      // The copy verifies as a whole: a host whose policy's repository is the copy reads every
      // artifact (decrypts, checks it against the facts) and trusts every signed manifest.
      const copyConfig = path.join(stack.root, "copy-config");
      await cp(stack.configDir, copyConfig, { recursive: true });
      const policyFile = path.join(copyConfig, "policies", "p.yaml");
      const policy = await readFile(policyFile, "utf8");
      await writeFile(
        policyFile,
        policy.replace(/^repository: .*$/m, `repository: { type: local, path: ${copyDir} }`),
      );
      const verified = await verifyReadData(copyConfig, stack.identityFile);
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    } finally {
      await stack.close();
    }
  });

  it("refuses a source manifest that fails its trust checks: named, not copied", async () => {
    const stack = await makeStack({ repository: { type: "local" }, signing: true, keepLast: 5 });
    const copyDir = await withCopies(stack);
    try {
      const genuine = await stack.backup();
      // Someone with write access re-dates the genuine snapshot; its signature no longer matches.
      const forged = await forgeCopy(stack, "files", genuine, new Date(Date.now() - 60_000));
      const result = await copyJson(stack);
      expect(result.code).toBe(1);
      expect(result.json.copies[0]?.snapshots.copied).toEqual([genuine]);
      expect(result.json.copies[0]?.refused).toEqual([
        expect.stringMatching(new RegExp(`^snapshot files/${forged}: .*signature.*; not copied$`)),
      ]);
      const copy = new LocalBackend({ path: copyDir });
      try {
        const keys: string[] = [];
        for await (const info of copy.list(`data/files/${forged}/`)) keys.push(info.key);
        expect(keys).toEqual([]);
        expect(await copy.stat(layout.manifest("files", forged))).toBeNull();
      } finally {
        await copy.close();
      }
      // Another copy of the job into this copy holds its lock: exit 3, nothing copied.
      const copyRepository = new Repository(new LocalBackend({ path: copyDir }));
      const lock = await acquireJobLock(copyRepository, "files", { purpose: "copy" });
      try {
        const second = await stack.backup();
        const locked = await stack.cli("copy", "files");
        expect(locked.code, locked.stdout + locked.stderr).toBe(3);
        expect(locked.stderr).toMatch(/job files is locked: copy by/);
        expect(await copyRepository.backend.stat(layout.manifest("files", second))).toBeNull();
      } finally {
        await lock.release();
        await copyRepository.backend.close();
      }
    } finally {
      await stack.close();
    }
  });
});
