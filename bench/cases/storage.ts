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
import { type BenchContext, type BenchRow, MiB, measure } from "../lib.js";

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const bytes = ctx.sizeMiB * MiB;
  const plain = await ctx.randomDataFile(bytes);
  const { recipient } = await generateIdentity();
  const rows: BenchRow[] = [];

  const repoDir = join(ctx.tmpDir, "repo");
  const copy = join(ctx.tmpDir, "copy.bin");
  rows.push(
    await measure(
      ctx,
      `store ${ctx.sizeMiB} MiB into a local repository`,
      bytes,
      "cp (plaintext)",
      {
        ours: async () => {
          await mkdir(repoDir, { recursive: true });
          return ctx.runWorker("storage", ["local", recipient, plain, repoDir]);
        },
        baseline: () => ctx.timeCommand("cp", [plain, copy]),
      },
      {
        after: async () => {
          await rm(repoDir, { recursive: true, force: true });
          await rm(copy, { force: true });
        },
      },
    ),
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
