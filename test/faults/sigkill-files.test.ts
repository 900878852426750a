/**
 * SIGKILL trials of a files backup to a local destination (issue 9). Besides the repository
 * invariants (see support/kill-trials.ts), the rsync destination tree: an interrupted run leaves
 * at most one `<id>.partial` directory, never a complete-looking `<id>` directory whose snapshot
 * was not committed; no rsync child keeps writing into it after the kill; the next run resumes
 * the `.partial`, and after the final run and prune the destination holds exactly the committed
 * snapshots' directories.
 *
 * Data: ~2,000 small files plus a 24 MiB file whose content changes before every run, so each
 * run copies and hashes tens of MB (the unchanged files are hard-linked by --link-dest).
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseHashCacheText } from "../../src/kinds/files/hash-cache.js";
import { classifyDestination } from "../../src/kinds/files/snapshot-dirs.js";
import { deterministicBytes, makeFileTree, MiB } from "../support/file-tree.js";
import { makeFaultConfig, type FaultConfig } from "./support/fault-config.js";
import { runKillTrials } from "./support/kill-trials.js";

const JOB = "task-files";
let config: FaultConfig;
let source: string;
let destination: string;
let round = 0;
/** Regular files in the source (constant: only big.bin's content changes between runs). */
let sourceFiles = 0;
/** Complete-looking directories whose snapshot was not committed, seen after some kill. */
const uncommittedDirs = new Set<string>();

/** A new 24 MiB file content per run: rsync must copy it, the engine must hash it. */
async function changeBigFile(): Promise<void> {
  round += 1;
  const block = deterministicBytes(`round-${round}`, MiB);
  await writeFile(
    path.join(source, "exports", "big.bin"),
    Buffer.concat(Array.from({ length: 24 }, () => block)),
  );
}

async function destinationListing() {
  return classifyDestination(await readdir(destination));
}

beforeAll(async () => {
  config = await makeFaultConfig("sigkill-files");
  source = path.join(config.root, "task-files");
  destination = path.join(config.root, "task-files-snapshots");
  await makeFileTree(source, { smallFiles: 2_000 });
  await mkdir(path.join(source, "exports"), { recursive: true });
  await changeBigFile();
  const entries = await readdir(source, { recursive: true, withFileTypes: true });
  sourceFiles = entries.filter((entry) => entry.isFile()).length;
  await mkdir(destination, { recursive: true, mode: 0o700 });
  await config.writeJob({ name: JOB, kind: "files", source, destination, exclude: ["*.tmp"] });
});

afterAll(async () => {
  await config?.remove();
});

describe("SIGKILL during files backups (local destination)", () => {
  it("never presents a partial tree as a snapshot; the next run resumes, prune cleans up", async () => {
    const report = await runKillTrials({
      kind: "files",
      job: JOB,
      configDir: config.configDir,
      repositoryDir: config.repositoryDir,
      identity: config.identity,
      env: {},
      watchDirs: [destination],
      beforeRun: changeBigFile,
      outsideLeftovers: async () => (await destinationListing()).partial,
      afterKill: async (trial, committed) => {
        const listing = await destinationListing();
        // Every committed snapshot has its complete directory (restores and drills read it).
        for (const id of committed) expect(listing.complete, `trial ${trial}`).toContain(id);
        // A kill between the engine's final rename and the runner's manifest leaves a directory
        // named like a snapshot whose snapshot was never committed. It must at least be a whole
        // tree (its hash cache, written before the rename, lists every source file); prune
        // removes it later. Counted, and reported.
        for (const name of listing.complete.filter((id) => !committed.has(id))) {
          const cache = await parseHashCacheText(
            await readFile(path.join(destination, ".backdrill", `${name}.json`), "utf8").catch(() => null),
          );
          expect(cache, `trial ${trial}: ${name} looks complete but has no hash cache`).toBeDefined();
          expect(
            cache?.filter((line) => line.stored !== null).length,
            `trial ${trial}: ${name} is a whole tree`,
          ).toBe(sourceFiles);
          uncommittedDirs.add(name);
        }
        expect(listing.partial.length, `trial ${trial}: at most one .partial`).toBeLessThanOrEqual(1);
      },
      afterPrune: async (committed) => {
        const listing = await destinationListing();
        expect(listing.partial).toEqual([]);
        expect(listing.complete).toEqual([...committed].sort());
      },
    });
    console.log(`${report.summary}; uncommitted complete-looking dirs seen ${uncommittedDirs.size}`);
    expect(report.trials.length).toBeGreaterThanOrEqual(Number(process.env.BACKDRILL_FAULT_TRIALS) || 20);
  });
});
