/**
 * Encryption throughput and memory: backdrill's native age (node:crypto) against the Go `age` CLI,
 * file → /dev/null, both directions, on BENCH_SIZE_MIB of random data.
 */
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateIdentity } from "../../src/crypto/keys.js";
import {
  type BaselineMeasurement,
  type BenchContext,
  type BenchRow,
  type CommandResult,
  type OursMeasurement,
  type WorkerResult,
  MiB,
  throughput,
} from "../lib.js";

/** The limit for our peak RSS while streaming a large file. */
const PEAK_RSS_LIMIT_MIB = 150_000_000 / MiB;

interface Pair {
  ours: () => Promise<WorkerResult>;
  baseline: () => Promise<CommandResult>;
}

/** Runs ours and the baseline alternately (so background load hits both alike); keeps the best. */
async function measure(
  ctx: BenchContext,
  name: string,
  bytes: number,
  tool: string,
  pair: Pair,
): Promise<BenchRow> {
  const ours: OursMeasurement = { seconds: Infinity, peakRssMiB: 0, wallSeconds: Infinity };
  const baseline: BaselineMeasurement = { tool, seconds: Infinity, peakRssMiB: null };
  for (let run = 1; run <= ctx.runs; run++) {
    const b = await pair.baseline();
    const o = await pair.ours();
    ctx.log(
      `${name} run ${run}/${ctx.runs}: ours ${o.seconds.toFixed(3)} s, ${tool} ${b.seconds.toFixed(3)} s`,
    );
    ours.seconds = Math.min(ours.seconds, o.seconds);
    ours.wallSeconds = Math.min(ours.wallSeconds ?? Infinity, o.wallSeconds);
    ours.peakRssMiB = Math.max(ours.peakRssMiB, o.peakRssMiB);
    baseline.seconds = Math.min(baseline.seconds, b.seconds);
    if (b.peakRssMiB !== null) baseline.peakRssMiB = Math.max(baseline.peakRssMiB ?? 0, b.peakRssMiB);
  }
  ours.mibPerSecond = throughput(bytes, ours.seconds);
  baseline.mibPerSecond = throughput(bytes, baseline.seconds);
  const note =
    ours.peakRssMiB < PEAK_RSS_LIMIT_MIB
      ? `ours peak RSS < 150 MB (${PEAK_RSS_LIMIT_MIB.toFixed(0)} MiB): ok`
      : `ours peak RSS ${ours.peakRssMiB.toFixed(0)} MiB EXCEEDS the 150 MB (${PEAK_RSS_LIMIT_MIB.toFixed(0)} MiB) limit`;
  return { name, ours, baseline, ratio: ours.seconds / baseline.seconds, note };
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const bytes = ctx.sizeMiB * MiB;
  const plain = await ctx.randomDataFile(bytes);
  const { identity, recipient } = await generateIdentity();
  const identityFile = join(ctx.tmpDir, "identity.txt");
  await writeFile(identityFile, `${identity}\n`, { mode: 0o600 });
  await chmod(identityFile, 0o600);
  const encrypted = join(ctx.tmpDir, "data.age");
  // The decryption input comes from the reference implementation (also warms the page cache).
  await ctx.timeCommand("age", ["-r", recipient, "-o", encrypted, plain]);

  const rows: BenchRow[] = [];
  rows.push(
    await measure(ctx, `encrypt ${ctx.sizeMiB} MiB file → /dev/null`, bytes, "age -r (Go CLI)", {
      ours: () => ctx.runWorker("crypto", ["encrypt", recipient, plain, "/dev/null"]),
      baseline: () => ctx.timeCommand("age", ["-r", recipient, "-o", "/dev/null", plain]),
    }),
  );
  rows.push(
    await measure(ctx, `decrypt ${ctx.sizeMiB} MiB file → /dev/null`, bytes, "age -d (Go CLI)", {
      ours: () => ctx.runWorker("crypto", ["decrypt", identityFile, encrypted, "/dev/null"]),
      baseline: () => ctx.timeCommand("age", ["-d", "-i", identityFile, "-o", "/dev/null", encrypted]),
    }),
  );
  const ceiling = await measure(
    ctx,
    `ceiling: node:crypto AEAD only, ${ctx.sizeMiB} MiB, no I/O`,
    bytes,
    "age -r (Go CLI)",
    {
      ours: () => ctx.runWorker("crypto", ["aead-only", String(bytes)]),
      baseline: () => ctx.timeCommand("age", ["-r", recipient, "-o", "/dev/null", plain]),
    },
  );
  ceiling.note = "what node:crypto alone allows on this machine (64 KiB ChaCha20-Poly1305 calls)";
  rows.push(ceiling);
  return rows;
}
