/**
 * Storing a large file as an encrypted snapshot artifact: into a local repository vs `cp` of the
 * plaintext, and into the S3 test server vs one raw streaming PutObject of the plaintext. The
 * difference is the price of encryption + hashing + atomic commit.
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { generateIdentity } from "../../src/crypto/keys.js";
import { S3Container } from "../../test/support/containers/s3.js";
import { configureTestcontainers } from "../../test/support/docker.js";
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

const PEAK_RSS_LIMIT_MIB = 150_000_000 / MiB;

async function measure(
  ctx: BenchContext,
  name: string,
  bytes: number,
  tool: string,
  pair: {
    ours: () => Promise<WorkerResult>;
    baseline: () => Promise<CommandResult>;
    after?: () => Promise<void>;
  },
): Promise<BenchRow> {
  const ours: OursMeasurement = { seconds: Infinity, peakRssMiB: 0, wallSeconds: Infinity };
  const baseline: BaselineMeasurement = { tool, seconds: Infinity, peakRssMiB: null };
  for (let run = 1; run <= ctx.runs; run++) {
    const b = await pair.baseline();
    await pair.after?.();
    const o = await pair.ours();
    await pair.after?.();
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
      ? `ours peak RSS < 150 MB: ok`
      : `ours peak RSS ${ours.peakRssMiB.toFixed(0)} MiB EXCEEDS 150 MB`;
  return { name, ours, baseline, ratio: ours.seconds / baseline.seconds, note };
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const bytes = ctx.sizeMiB * MiB;
  const plain = await ctx.randomDataFile(bytes);
  const { recipient } = await generateIdentity();
  const rows: BenchRow[] = [];

  const repoDir = join(ctx.tmpDir, "repo");
  const copy = join(ctx.tmpDir, "copy.bin");
  rows.push(
    await measure(ctx, `store ${ctx.sizeMiB} MiB into a local repository`, bytes, "cp (plaintext)", {
      ours: async () => {
        await mkdir(repoDir, { recursive: true });
        return ctx.runWorker("storage", ["local", recipient, plain, repoDir]);
      },
      baseline: () => ctx.timeCommand("cp", [plain, copy]),
      after: async () => {
        await rm(repoDir, { recursive: true, force: true });
        await rm(copy, { force: true });
      },
    }),
  );

  configureTestcontainers();
  const s3 = await new S3Container().start();
  try {
    const client = s3.client();
    await client.send(new CreateBucketCommand({ Bucket: "bench-repo" }));
    client.destroy();
    process.env.BENCH_S3_ACCESS_KEY = s3.accessKeyId;
    process.env.BENCH_S3_SECRET_KEY = s3.secretAccessKey;
    rows.push(
      await measure(ctx, `store ${ctx.sizeMiB} MiB into the S3 server`, bytes, "raw PutObject (plaintext)", {
        ours: () => ctx.runWorker("storage", ["s3", recipient, plain, s3.endpoint, "bench-repo"]),
        baseline: async () => {
          const result = await ctx.runWorker("storage", ["s3-raw", "-", plain, s3.endpoint, "bench-repo"]);
          return { seconds: result.seconds, peakRssMiB: result.peakRssMiB };
        },
      }),
    );
  } finally {
    await s3.stop();
  }
  return rows;
}
