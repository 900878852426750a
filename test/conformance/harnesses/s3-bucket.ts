/**
 * Conformance harness of the `s3-bucket` kind: an application bucket on the S3 server (moto, with
 * versioning) holding a few objects, unicode keys and an empty one among them; restores go to
 * fresh buckets on the same server, where every object must have the source's bytes.
 */
import { createHash } from "node:crypto";
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { S3Container } from "../../support/containers/s3.js";
import { s3Image } from "../../support/images.js";
import type { KindHarness, RestoreTarget } from "../kind-conformance.js";

const BUCKET = "task-files";
const OBJECTS: Record<string, string> = {
  "uploads/avatar 1.png": "avatar-one",
  "uploads/Überweisung März.pdf": "pdf-content",
  "uploads/empty.txt": "",
  "exports/2026-11.csv": "id,total\n1,42\n",
};

/** Every key of a bucket with the sha256 of its bytes, sorted. */
async function contents(client: S3Client, bucket: string): Promise<string[]> {
  const lines: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      const body = await client.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
      const bytes = await (
        body.Body as { transformToByteArray(): Promise<Uint8Array> }
      ).transformToByteArray();
      lines.push(`${object.Key ?? ""} ${createHash("sha256").update(bytes).digest("hex")}`);
    }
    token = page.NextContinuationToken;
  } while (token !== undefined);
  return lines.sort();
}

export const s3BucketHarness: KindHarness = {
  kind: "s3-bucket",
  async start() {
    const s3 = await new S3Container().start();
    const client = s3.client();
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    for (const [key, body] of Object.entries(OBJECTS)) {
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    }
    let targets = 0;
    return {
      job: {
        bucket: BUCKET,
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
        accessKeyIdEnv: "TASK_S3_ACCESS_KEY",
        secretAccessKeyEnv: "TASK_S3_SECRET_KEY",
      },
      env: { TASK_S3_ACCESS_KEY: s3.accessKeyId, TASK_S3_SECRET_KEY: s3.secretAccessKey },
      target: { image: s3Image() },
      async restoreTarget(): Promise<RestoreTarget> {
        targets += 1;
        const bucket = `restored-${targets}`;
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
        return {
          to: `s3://${bucket}`,
          state: async () => (await contents(client, bucket)).join("\n"),
          occupy: async () => {
            await client.send(new PutObjectCommand({ Bucket: bucket, Key: "someone-else.txt", Body: "x" }));
          },
          verify: async () => {
            const restored = await contents(client, bucket);
            const missing = (await contents(client, BUCKET)).filter((line) => !restored.includes(line));
            if (missing.length > 0) throw new Error(`not restored byte-exact: ${missing.join(", ")}`);
          },
        };
      },
      async stop() {
        client.destroy();
        await s3.stop();
      },
    };
  },
};
