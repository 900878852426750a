/**
 * SIGKILL of `backdrill wal ship` (issue 18): PostgreSQL counts a segment as archived once the
 * spool's archive_command put it there, so a ship killed at any moment, in particular between
 * reading a spool file and storing it, must lose nothing: a file leaves the spool only after the
 * repository durably stored it, and the next ship stores what the killed one did not (a record
 * written without its ciphertext is completed by the retry, never refused as "different").
 *
 * The real CLI process (bundled like the other kill trials) drains a spool of random 16 MiB
 * "segments"; each trial waits until the ship has stored at least one file (start-up is not the
 * interesting part), then kills it after a random delay of up to about one push. After every kill:
 * each segment is in the spool unchanged, or in the archive decrypting to its original bytes, or
 * both; never neither. Finally a `ship --once` drains the rest and every segment fetches intact.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WalArchive } from "../../src/kinds/postgres-base/wal-archive.js";
import { Repository } from "../../src/repository/repository.js";
import { LocalBackend } from "../../src/storage/local/local-backend.js";
import { REPO_ROOT } from "../support/test-env.js";
import { makeFaultConfig, PG_PASSWORD_ENV, type FaultConfig } from "./support/fault-config.js";
import { bundleCli } from "./support/kill-trials.js";

const JOB = "task-wal";
const SEGMENTS = 24;
const SEGMENT_BYTES = 16 * 1024 * 1024;
const TRIALS = Number(process.env.BACKDRILL_FAULT_TRIALS) || 10;

let config: FaultConfig;
let spool: string;
let cli: { bin: string; remove: () => Promise<void> };
/** name → sha256 of the original bytes. */
const originals = new Map<string, string>();

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function segmentName(index: number): string {
  return `00000001000000000000${(0x10 + index).toString(16).toUpperCase().padStart(4, "0")}`;
}

/** Where each segment is now; throws naming a segment that is in neither place or altered. */
async function checkNothingLost(trial: string): Promise<{ inSpool: number; archived: number }> {
  const archive = new WalArchive(new Repository(new LocalBackend({ path: config.repositoryDir })), JOB);
  const scratch = path.join(config.root, "fetched");
  await mkdir(scratch, { recursive: true });
  const spooled = new Set(await readdir(spool));
  let inSpool = 0;
  let archived = 0;
  for (const [name, digest] of originals) {
    let found = false;
    if (spooled.has(name)) {
      expect(sha256(await readFile(path.join(spool, name))), `${trial}: ${name} in the spool is intact`).toBe(
        digest,
      );
      inSpool += 1;
      found = true;
    }
    if (await archive.has(name)) {
      const dest = path.join(scratch, name);
      if (await archive.fetch(name, dest, [config.identity])) {
        expect(sha256(await readFile(dest)), `${trial}: ${name} in the archive decrypts intact`).toBe(digest);
        await rm(dest);
        archived += 1;
        found = true;
      }
    }
    expect(found, `${trial}: ${name} is in the spool or in the archive`).toBe(true);
  }
  return { inSpool, archived };
}

beforeAll(async () => {
  config = await makeFaultConfig("sigkill-walship");
  spool = path.join(config.root, "spool");
  await mkdir(spool, { mode: 0o700 });
  await config.writeJob({
    name: JOB,
    kind: "postgres-base",
    connection: { host: "127.0.0.1", user: "replicator", passwordEnv: PG_PASSWORD_ENV },
    tools: { binDir: "/usr/lib/postgresql/17/bin" },
    spool,
  });
  for (let index = 0; index < SEGMENTS; index += 1) {
    const data = randomBytes(SEGMENT_BYTES);
    originals.set(segmentName(index), sha256(data));
    await writeFile(path.join(spool, segmentName(index)), data, { mode: 0o600 });
  }
  cli = await bundleCli();
}, 120_000);

afterAll(async () => {
  await cli?.remove();
  await config?.remove();
});

describe("SIGKILL of wal ship", () => {
  it("loses no spooled segment, whenever it is killed; a restart ships the rest", async () => {
    const outcomes: string[] = [];
    for (let trial = 1; trial <= TRIALS; trial += 1) {
      const left = (await readdir(spool)).filter((name) => originals.has(name)).length;
      if (left === 0) break;
      const child = execa(
        process.execPath,
        [cli.bin, "--config-dir", config.configDir, "wal", "ship", JOB, spool, "--log-level", "debug"],
        { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? "" }, reject: false, buffer: true, all: false },
      );
      let stderr = "";
      const firstStored = new Promise<void>((resolve) => {
        child.stderr?.setEncoding("utf8");
        child.stderr?.on("data", (chunk: string) => {
          stderr += chunk;
          if (stderr.includes('"msg":"spooled WAL file shipped"')) resolve();
        });
      });
      await Promise.race([firstStored, child, sleep(120_000)]);
      expect(stderr, `trial ${trial}: the ship started shipping`).toContain("spooled WAL file shipped");
      // One push of a 16 MiB segment takes ~0.1-0.5 s here: the kill lands inside one, mostly.
      const delay = Math.floor(Math.random() * 500);
      await sleep(delay);
      child.kill("SIGKILL");
      await child;
      const where = await checkNothingLost(`trial ${trial} (killed ${delay} ms after the first store)`);
      outcomes.push(`trial ${trial}: +${delay} ms, ${where.inSpool} in spool, ${where.archived} archived`);
    }
    console.log(`wal ship kill trials:\n  ${outcomes.join("\n  ")}`);
    expect(outcomes.length).toBeGreaterThanOrEqual(3);

    const final = await execa(
      process.execPath,
      [cli.bin, "--config-dir", config.configDir, "wal", "ship", JOB, spool, "--once"],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? "" }, reject: false },
    );
    expect(final.exitCode, final.stderr).toBe(0);
    expect((await readdir(spool)).filter((name) => originals.has(name))).toEqual([]);
    expect(await checkNothingLost("after the final ship")).toEqual({ inSpool: 0, archived: SEGMENTS });
  }, 900_000);
});
