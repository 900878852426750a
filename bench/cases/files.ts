/**
 * files engine: incremental snapshot of an unchanged 10,000-file tree against raw
 * `rsync -a --link-dest` (goal ≤ 1.1x) and against `restic backup` of the same tree, first and
 * second run; and hashing throughput of the verification against `sha256sum`.
 *
 * "ours" is a whole `runJobBackup` (rsync, scan, hash with the cache, encrypted manifest into a
 * local repository, rename), timed in the harness process: peak RSS is the harness's own.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runJobBackup } from "../../src/backup/run-backup.js";
import type { FilesJob } from "../../src/config/schema/jobs/files.js";
import { generateIdentity } from "../../src/crypto/keys.js";
import { filesEngine } from "../../src/engines/files/index.js";
import { hashLocalFiles } from "../../src/engines/files/local-tree.js";
import { createLogger } from "../../src/log/logger.js";
import { Repository } from "../../src/repository/repository.js";
import { LocalBackend } from "../../src/storage/local/local-backend.js";
import { makeFileTree } from "../../test/support/file-tree.js";
import { type BenchContext, type BenchRow, MiB, throughput } from "../lib.js";

const log = createLogger({ level: "error", pretty: false });

function rssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const source = join(ctx.tmpDir, "files-source");
  const tree = await makeFileTree(source, { smallFiles: 10_000 });
  ctx.log(`files: tree of ${tree.files.length} files, ${(tree.bytes / MiB).toFixed(1)} MiB`);
  const { recipient } = await generateIdentity();
  const passwordFile = join(ctx.tmpDir, "restic-password");
  await writeFile(passwordFile, "bench-only-password\n", { mode: 0o600 });

  let counter = 0;
  const fresh = async (what: string): Promise<string> => {
    const dir = join(ctx.tmpDir, `files-${what}-${(counter += 1)}`);
    await mkdir(dir, { recursive: true });
    return dir;
  };
  const oursBackup = async (destination: string, repo: string): Promise<number> => {
    const repository = new Repository(new LocalBackend({ path: repo }));
    const job = {
      name: "bench-files",
      kind: "files",
      policy: "bench",
      source,
      destination,
      exclude: [],
    } as FilesJob;
    const { seconds, value } = await ctx.timeFunction(() =>
      runJobBackup(
        { job, engine: filesEngine, repository, recipients: [recipient] },
        { log, signal: new AbortController().signal, env: {}, configDir: ctx.tmpDir },
      ),
    );
    await repository.backend.close();
    if (!value.result.ok) throw new Error(`files backup failed: ${value.result.error}`);
    return seconds;
  };

  const rows: BenchRow[] = [];
  const best = { firstOurs: Infinity, firstRsync: Infinity, firstRestic: Infinity };
  const second = { ours: Infinity, rsync: Infinity, restic: Infinity };
  for (let i = 1; i <= ctx.runs; i += 1) {
    // First run: empty destination / repository.
    const oursDest = await fresh("ours-dest");
    const oursRepo = await fresh("ours-repo");
    best.firstOurs = Math.min(best.firstOurs, await oursBackup(oursDest, oursRepo));
    const rsyncDest = await fresh("rsync");
    best.firstRsync = Math.min(
      best.firstRsync,
      (await ctx.timeCommand("rsync", ["-a", `${source}/`, `${rsyncDest}/a/`])).seconds,
    );
    const resticRepo = await fresh("restic");
    await ctx.timeCommand("restic", ["-q", "-r", resticRepo, "--password-file", passwordFile, "init"]);
    const resticArgs = ["-q", "-r", resticRepo, "--password-file", passwordFile, "backup", source];
    best.firstRestic = Math.min(best.firstRestic, (await ctx.timeCommand("restic", resticArgs)).seconds);

    // Second run of the unchanged tree: hard links / deduplication only.
    second.rsync = Math.min(
      second.rsync,
      (await ctx.timeCommand("rsync", ["-a", `--link-dest=${rsyncDest}/a`, `${source}/`, `${rsyncDest}/b/`]))
        .seconds,
    );
    second.ours = Math.min(second.ours, await oursBackup(oursDest, oursRepo));
    second.restic = Math.min(second.restic, (await ctx.timeCommand("restic", resticArgs)).seconds);
    ctx.log(
      `files run ${i}/${ctx.runs}: second run ours ${second.ours.toFixed(3)} s, rsync ${second.rsync.toFixed(3)} s, restic ${second.restic.toFixed(3)} s`,
    );
    await Promise.all(
      [oursDest, oursRepo, rsyncDest, resticRepo].map((d) => rm(d, { recursive: true, force: true })),
    );
  }
  const peak = rssMiB();
  const row = (name: string, ours: number, tool: string, baseline: number, note: string): BenchRow => ({
    name,
    ours: { seconds: ours, peakRssMiB: peak },
    baseline: { tool, seconds: baseline, peakRssMiB: null },
    ratio: ours / baseline,
    note,
  });
  const goal = second.ours / second.rsync <= 1.1 ? "goal ≤ 1.1x: met" : "goal ≤ 1.1x: NOT met";
  rows.push(
    row(
      "files: 1st snapshot, 10k files",
      best.firstOurs,
      "rsync -a",
      best.firstRsync,
      "ours includes hashing every file",
    ),
  );
  rows.push(
    row("files: 2nd snapshot, unchanged 10k files", second.ours, "rsync -a --link-dest", second.rsync, goal),
  );
  rows.push(
    row(
      "files: 1st snapshot, 10k files",
      best.firstOurs,
      "restic backup",
      best.firstRestic,
      "restic: dedup + encryption of all data",
    ),
  );
  rows.push(
    row(
      "files: 2nd snapshot, unchanged 10k files",
      second.ours,
      "restic backup",
      second.restic,
      "peak RSS: the harness process",
    ),
  );

  // Verification hashing throughput: our parallel node:crypto hashing against sha256sum.
  const data = await ctx.randomDataFile();
  const bytes = ctx.sizeMiB * MiB;
  let ours = Infinity;
  let baseline = Infinity;
  for (let i = 1; i <= ctx.runs; i += 1) {
    baseline = Math.min(baseline, (await ctx.timeCommand("sha256sum", [data])).seconds);
    ours = Math.min(
      ours,
      (await ctx.timeFunction(() => hashLocalFiles("/", [{ path: data.replace(/^\//, ""), size: bytes }])))
        .seconds,
    );
  }
  rows.push({
    name: `files: sha256 of ${ctx.sizeMiB} MiB (verification)`,
    ours: { seconds: ours, mibPerSecond: throughput(bytes, ours), peakRssMiB: rssMiB() },
    baseline: {
      tool: "sha256sum",
      seconds: baseline,
      mibPerSecond: throughput(bytes, baseline),
      peakRssMiB: null,
    },
    ratio: ours / baseline,
    note: "drills hash with sha256sum inside the container (2 streams); backups/local restores with node:crypto",
  });
  return rows;
}
