/**
 * Drill of an `s3-bucket` snapshot: a throwaway S3 server container (the target's image) stands
 * in for a replacement bucket; every object of the snapshot is restored into it (from the
 * repository copies when the snapshot has them, else from the versions in the job's bucket), then
 * the listing is compared with the manifest and the bytes of every object (or `checks.sample`
 * random ones) are read back and checked: sha256 when the snapshot copied the bytes, else the
 * MD5 that a single-part ETag is.
 *
 * Images: MinIO (name contains "minio": port 9000, `server /data`, MINIO_ROOT_* credentials) or
 * anything speaking S3 on port 5000 with its own command (moto, the test image).
 */
import { randomBytes } from "node:crypto";
import { CreateBucketCommand, GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";
import type { S3BucketJob } from "./job-schema.js";
import { requireDrillImage, startDrillContainer, type WaitApi } from "../../docker/container.js";
import { OperationError } from "../../errors.js";
import { s3Error } from "../../storage/s3/s3-errors.js";
import type { CheckResult, DrillContext, DrillPhases } from "../contract.js";
import { forEachLimit } from "../../util/for-each-limit.js";
import { pickSample } from "../../util/sample.js";
import { clientFor, jobConnection } from "./connection.js";
import { checkS3Facts, type S3BucketFacts } from "./facts.js";
import { requireArtifacts } from "../facts-values.js";
import type { S3BucketTarget } from "./target.js";
import { isPlainMd5, type ObjectEntry } from "./objects.js";
import { listKeys, restoreObjects, type RestoreObjectsResult } from "./restore-objects.js";
import { digestStream } from "./transfer.js";
import { objectArtifacts, readObjectEntries } from "./read-manifest.js";

const DRILL_BUCKET = "backdrill-drill";
const LISTED = 5;

interface ServerFlavour {
  port: number;
  command?: string[];
  env: Record<string, string>;
  wait: (wait: WaitApi) => ReturnType<WaitApi["forHttp"]>;
}

function flavourOf(image: string, accessKeyId: string, secretAccessKey: string): ServerFlavour {
  if (/minio/i.test(image)) {
    return {
      port: 9000,
      command: ["server", "/data"],
      env: { MINIO_ROOT_USER: accessKeyId, MINIO_ROOT_PASSWORD: secretAccessKey },
      wait: (wait) => wait.forHttp("/minio/health/ready", 9000).forStatusCode(200),
    };
  }
  return { port: 5000, env: {}, wait: (wait) => wait.forHttp("/", 5000).forStatusCode(200) };
}

export function drillS3Bucket(
  context: DrillContext<S3BucketJob, S3BucketTarget, S3BucketFacts>,
): DrillPhases {
  const { job, target, scope, signal, log, facts } = context;
  const image = requireDrillImage(target, job.name, "minio/minio");
  checkS3Facts(facts, context.artifacts, job);
  let drillClient: S3Client | undefined;
  let entries: ObjectEntry[] = [];
  let restored: RestoreObjectsResult | undefined;
  let exposed: { port: number; accessKeyId: string; secretAccessKey: string } | undefined;
  const details: Record<string, unknown> = {};

  return {
    async sandbox() {
      // Throwaway credentials for a throwaway server; registered as secrets all the same.
      const accessKeyId = `drill${randomBytes(6).toString("hex")}`;
      const secretAccessKey = randomBytes(24).toString("hex");
      const flavour = flavourOf(image, accessKeyId, secretAccessKey);
      const container = await startDrillContainer({
        image,
        what: `s3-bucket drill server for ${job.name}`,
        scope,
        pull: target.pull ?? "never",
        signal,
        env: { ...flavour.env, AWS_DEFAULT_REGION: job.region },
        ports: [flavour.port],
        network: context.stack,
        wait: flavour.wait,
        ...(flavour.command === undefined ? {} : { command: flavour.command }),
      });
      const client = clientFor({
        endpoint: `http://${container.getHost()}:${container.getMappedPort(flavour.port)}`,
        region: job.region,
        forcePathStyle: true,
        credentials: { accessKeyId, secretAccessKey },
      });
      scope.defer("drill S3 client", () => client.destroy());
      try {
        await client.send(new CreateBucketCommand({ Bucket: DRILL_BUCKET }), { abortSignal: signal });
      } catch (error) {
        throw s3Error("create the drill bucket on", image, error);
      }
      drillClient = client;
      exposed = { port: flavour.port, accessKeyId, secretAccessKey };
    },

    async restore() {
      if (drillClient === undefined) throw new OperationError("s3-bucket drill: restore before sandbox");
      entries = await readObjectEntries(context.artifacts, facts.manifestArtifact, signal);
      requireArtifacts(context.artifacts, objectArtifacts(entries));
      const needsVersions = entries.some((entry) => entry.artifact === undefined);
      let source: { client: S3Client; bucket: string } | undefined;
      if (needsVersions) {
        const client = clientFor(await jobConnection(job, context.env, context.jobFile));
        scope.defer("job S3 client", () => client.destroy());
        source = { client, bucket: job.bucket };
      }
      restored = await restoreObjects({
        entries,
        source,
        target: { client: drillClient, bucket: DRILL_BUCKET, prefix: "" },
        serverSide: false,
        preferRepository: true,
        artifacts: context.artifacts,
        signal,
        log,
      });
      const fromRepository = restored.restored.filter((r) => r.from === "repository").length;
      Object.assign(details, {
        objects: entries.length,
        bytes: restored.bytes,
        fromRepository,
        fromVersions: restored.restored.length - fromRepository,
        failures: restored.failures.length,
      });
      return [
        {
          name: "objects restored",
          ok: restored.failures.length === 0,
          detail:
            restored.failures.length === 0
              ? `${restored.restored.length} objects (${restored.bytes} bytes): ${fromRepository} from the repository, ${restored.restored.length - fromRepository} from bucket versions`
              : `${restored.failures.length} of ${entries.length} could not be restored: ${restored.failures
                  .slice(0, LISTED)
                  .map((f) => `${JSON.stringify(f.key)} (${f.reason})`)
                  .join("; ")}`,
        },
      ];
    },

    async checks() {
      if (drillClient === undefined || restored === undefined) {
        throw new OperationError("s3-bucket drill: checks before restore");
      }
      const client = drillClient;
      const checks: CheckResult[] = [];
      const listed = await listKeys(client, DRILL_BUCKET, "", signal);
      const missing = entries.filter((entry) => !listed.has(entry.key)).map((e) => e.key);
      const wrongSize = entries
        .filter((entry) => listed.has(entry.key) && listed.get(entry.key) !== entry.size)
        .map((e) => e.key);
      const wanted = new Set(entries.map((entry) => entry.key));
      const extra = [...listed.keys()].filter((key) => !wanted.has(key));
      checks.push({
        name: "listing",
        ok: missing.length + wrongSize.length + extra.length === 0,
        detail:
          missing.length + wrongSize.length + extra.length === 0
            ? `${entries.length} keys with the snapshot's sizes`
            : [
                missing.length > 0 ? `${missing.length} missing: ${some(missing)}` : "",
                wrongSize.length > 0 ? `${wrongSize.length} of another size: ${some(wrongSize)}` : "",
                extra.length > 0 ? `${extra.length} not in the snapshot: ${some(extra)}` : "",
              ]
                .filter((part) => part !== "")
                .join("; "),
      });

      const sent = new Map(restored.restored.map((r) => [r.key, r.sent]));
      const sample = pickSample(
        entries.filter((entry) => listed.has(entry.key)),
        target.checks?.sample,
      );
      const verdicts = { sha256: 0, md5: 0, roundTrip: 0 };
      const bad: string[] = [];
      await forEachLimit(sample, 4, async (entry) => {
        const got = await digest(client, entry, signal);
        const problem = compare(entry, got, sent.get(entry.key), verdicts);
        if (problem !== undefined) bad.push(`${JSON.stringify(entry.key)}: ${problem}`);
      });
      checks.push({
        name:
          target.checks?.sample === undefined
            ? "checksums of every object"
            : `checksums of ${sample.length} random objects`,
        ok: bad.length === 0,
        detail:
          bad.length === 0
            ? `${sample.length} read back: ${verdicts.sha256} by sha256, ${verdicts.md5} by MD5 (ETag), ${verdicts.roundTrip} multipart objects by size and the bytes sent`
            : `${bad.length} of ${sample.length} differ: ${bad.slice(0, LISTED).join("; ")}`,
      });
      Object.assign(details, { checked: sample.length, mismatches: bad.length });
      return checks;
    },

    stack() {
      if (exposed === undefined || context.stack === undefined) {
        throw new OperationError("s3-bucket drill: stack before sandbox");
      }
      return {
        port: exposed.port,
        env: {
          ENDPOINT: `http://${context.stack.alias}:${exposed.port}`,
          BUCKET: DRILL_BUCKET,
          REGION: job.region,
          ACCESS_KEY_ID: exposed.accessKeyId,
          SECRET_ACCESS_KEY: exposed.secretAccessKey,
        },
        files: [],
        volume: null,
      };
    },

    details: () => details,
  };
}

function some(keys: readonly string[]): string {
  const shown = keys
    .slice(0, LISTED)
    .map((k) => JSON.stringify(k))
    .join(", ");
  return keys.length > LISTED ? `${shown} and ${keys.length - LISTED} more` : shown;
}

async function digest(client: S3Client, entry: ObjectEntry, signal: AbortSignal) {
  try {
    const result = await client.send(new GetObjectCommand({ Bucket: DRILL_BUCKET, Key: entry.key }), {
      abortSignal: signal,
    });
    return await digestStream(result.Body as Readable);
  } catch (error) {
    throw s3Error("read back", `s3://${DRILL_BUCKET}/${entry.key}`, error);
  }
}

/** Returns what is wrong, or undefined; counts which evidence was used. */
export function compare(
  entry: ObjectEntry,
  got: { md5: string; sha256: string; size: number },
  sent: { md5: string; sha256: string; size: number } | undefined,
  verdicts: { sha256: number; md5: number; roundTrip: number },
): string | undefined {
  if (got.size !== entry.size) return `size ${got.size}, expected ${entry.size}`;
  if (entry.sha256 !== undefined) {
    verdicts.sha256 += 1;
    return got.sha256 === entry.sha256
      ? undefined
      : `sha256 ${got.sha256.slice(0, 16)}…, expected ${entry.sha256.slice(0, 16)}…`;
  }
  if (isPlainMd5(entry.etag)) {
    verdicts.md5 += 1;
    return got.md5 === entry.etag ? undefined : `MD5 ${got.md5}, expected ETag ${entry.etag}`;
  }
  verdicts.roundTrip += 1;
  if (sent !== undefined && sent.sha256 !== got.sha256)
    return "the bytes read back differ from the bytes restored";
  return undefined;
}
