/**
 * Bench worker: stores one file into a repository (encrypt → hash → backend), or does the raw
 * baseline upload, in its own process so the peak RSS it reports is ours alone.
 *
 *   node .../storage.js local RECIPIENT FILE REPO_DIR
 *   node .../storage.js s3 RECIPIENT FILE ENDPOINT BUCKET      (credentials in env)
 *   node .../storage.js s3-raw - FILE ENDPOINT BUCKET           (one streaming PutObject, no encryption)
 *
 * Prints one JSON line: { seconds, maxRssKiB }.
 *
 * BENCH_S3_PART_MIB / BENCH_S3_QUEUE override the S3 backend's part size and parts in flight
 * (default: the backend's defaults), for comparing settings by hand.
 */
import { peakRssKiB } from "./peak-rss.js";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { Repository } from "../../src/repository/repository.js";
import type { Backend } from "../../src/storage/backend.js";
import { LocalBackend } from "../../src/storage/local/local-backend.js";
import { createS3Client } from "../../src/storage/s3/client.js";
import { S3Backend } from "../../src/storage/s3/s3-backend.js";

const READ_SIZE = 1024 * 1024;

function s3Options(endpoint: string) {
  return {
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: {
      accessKeyId: process.env.BENCH_S3_ACCESS_KEY ?? "bench",
      secretAccessKey: process.env.BENCH_S3_SECRET_KEY ?? "bench-secret",
    },
  };
}

async function storeSnapshot(backend: Backend, recipient: string, file: string): Promise<void> {
  const repository = new Repository(backend);
  await repository.init();
  const writer = repository.createSnapshot({ job: "bench", kind: "bench", recipients: [recipient] });
  await writer.addArtifact("data.bin", createReadStream(file, { highWaterMark: READ_SIZE }));
  await writer.commit();
  await backend.close();
}

async function main(): Promise<void> {
  const [mode, recipient, file, target, bucket] = process.argv.slice(2);
  if (mode === undefined || recipient === undefined || file === undefined || target === undefined) {
    throw new Error("usage: storage.js local|s3|s3-raw RECIPIENT FILE TARGET [BUCKET]");
  }
  const start = process.hrtime.bigint();
  if (mode === "local") {
    await storeSnapshot(new LocalBackend({ path: target }), recipient, file);
  } else if (mode === "s3" && bucket !== undefined) {
    const partMiB = process.env.BENCH_S3_PART_MIB;
    const queue = process.env.BENCH_S3_QUEUE;
    await storeSnapshot(
      new S3Backend({
        ...s3Options(target),
        bucket,
        prefix: `run-${Date.now()}`,
        ...(partMiB === undefined || partMiB === "" ? {} : { partSizeBytes: Number(partMiB) * 1024 * 1024 }),
        ...(queue === undefined || queue === "" ? {} : { queueSize: Number(queue) }),
      }),
      recipient,
      file,
    );
  } else if (mode === "s3-raw" && bucket !== undefined) {
    const client = createS3Client(s3Options(target));
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `raw-${Date.now()}`,
        Body: createReadStream(file, { highWaterMark: READ_SIZE }),
        ContentLength: (await stat(file)).size,
      }),
    );
    client.destroy();
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(`${JSON.stringify({ seconds, maxRssKiB: peakRssKiB() })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
