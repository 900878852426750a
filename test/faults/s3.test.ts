/**
 * S3 faults at the job level, through the CLI (in-process), with the repository's endpoint
 * pointing at a fault proxy (test/support/s3-fault-proxy.ts) in front of a real S3 server (moto):
 *
 *   - the server "stopped" mid-upload at a random moment (proxy drops every connection and
 *     refuses new ones), 20 trials: the backup exits 1 with one clear line, no manifest for the
 *     run; once the server is back, the incomplete multipart upload left behind (its abort could
 *     not reach the server) is removed by the next backup (odd trials) or by prune (even trials),
 *     checked with ListMultipartUploads directly against moto; the next backup succeeds, and at
 *     the end every kept snapshot verifies;
 *   - the server frozen mid-upload (`docker pause`): request timeouts fail the parts instead of
 *     hanging; the upload is aborted when the server is back;
 *   - 500 to everything (from the start, and from mid-upload): a bounded number of attempts per
 *     request (counted by the proxy), exit 1, one error line naming operation, key, status and
 *     attempts; no multipart upload left once prune has run;
 *   - 500 to every k-th request, and 503 SlowDown: retried (SlowDown as throttling), the backup
 *     succeeds and the snapshot verifies.
 *
 * The job is a symfony-secrets vault with a 12 MiB random file in it: the cheapest real job kind
 * (no container) whose artifact needs several parts (5 MiB parts: 5 + 5 + ~2).
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { execa } from "execa";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/keys.js";
import { S3Container, type StartedS3Container } from "../support/containers/s3.js";
import { runCli, type CliResult } from "../support/run-cli.js";
import { INTERNAL_ERROR, S3FaultProxy, SLOW_DOWN } from "../support/s3-fault-proxy.js";
import { generateVault, sealSecret } from "../support/symfony-vault.js";

const BUCKET = "faults-repo";
const JOB_FAST = "secrets-fast"; // policy "fast": 2 attempts per request, for the 20 stop trials
const JOB = "secrets"; // policy "steady": 4 attempts per request
const ATTEMPTS = 4;
const QUEUE_SIZE = 2; // the S3 backend's parts in flight (DEFAULT_QUEUE_SIZE)
const BLOB_BYTES = 12 * 1024 * 1024;
const TRIALS = 20;

let moto: StartedS3Container;
let s3: S3Client;
let proxy: S3FaultProxy;
let dir: string;
const summary: string[] = [];

/** A small deterministic PRNG (mulberry32), so a failing trial can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function policyYaml(name: string, prefix: string, recipient: string, tuning: string): string {
  return [
    `name: ${name}`,
    "repository:",
    "  type: s3",
    `  bucket: ${BUCKET}`,
    `  prefix: ${prefix}`,
    `  endpoint: ${proxy.endpoint}`,
    "  region: us-east-1",
    "  forcePathStyle: true",
    "  accessKeyIdEnv: FAULT_S3_ACCESS_KEY",
    "  secretAccessKeyEnv: FAULT_S3_SECRET_KEY",
    "  partSizeMiB: 5",
    ...tuning.split("\n").map((line) => `  ${line}`),
    `encryption: { recipients: [${recipient}] }`,
    "retention: { keepLast: 3 }",
    "rpo: 26h",
    "",
  ].join("\n");
}

const cliEnv = (): Record<string, string> => ({
  FAULT_S3_ACCESS_KEY: moto.accessKeyId,
  FAULT_S3_SECRET_KEY: moto.secretAccessKey,
});
const cli = (...args: string[]): Promise<CliResult> => runCli(["--config-dir", dir, ...args], cliEnv());

/** Incomplete uploads under a prefix, asked of moto directly (not through the proxy). */
async function incompleteUploads(prefix: string): Promise<string[]> {
  const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }));
  return (page.Uploads ?? [])
    .filter((upload) => upload.Key?.startsWith(prefix) === true)
    .map((upload) => upload.Key ?? "");
}

async function manifests(prefix: string, job: string): Promise<string[]> {
  const page = await s3.send(
    new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/snapshots/${job}/` }),
  );
  return (page.Contents ?? []).map((object) => object.Key ?? "").sort();
}

let deadPid: number | undefined;

/**
 * A failed run against a stopped server cannot release its job lock. In production its process
 * then exits and the next run on this host takes the lock over at once (holder pid not running).
 * Here runs are in-process, so the holder pid is ours and alive: make the lock say what it would
 * after the process exit, by giving it the pid of a process that has exited.
 */
async function holderExited(prefix: string, job: string): Promise<boolean> {
  // The lock's state is its newest generation (src/repository/locks.ts).
  const listing = await s3.send(
    new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/locks/${job}/` }),
  );
  const key = (listing.Contents ?? [])
    .map((object) => object.Key ?? "")
    .sort()
    .at(-1);
  if (key === undefined) return false; // never taken: nothing to do
  let text: string;
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    text = (await object.Body?.transformToString("utf8")) ?? "";
  } catch {
    return false; // replaced meanwhile: nothing to do
  }
  const record = JSON.parse(text) as { pid?: number; state?: string };
  if (record.pid !== process.pid || record.state !== "held") return false;
  if (deadPid === undefined) {
    const child = execa("true");
    deadPid = child.pid;
    await child;
  }
  await s3.send(
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: key,
      Body: JSON.stringify({ ...record, pid: deadPid }),
      ContentType: "application/json",
    }),
  );
  return true;
}

/** The one FAILED line of a failed backup; asserts it is one clear line without a stack trace. */
function failureLine(result: CliResult, job: string): string {
  const lines = result.stdout.split("\n").filter((line) => line.startsWith("FAILED"));
  expect(lines, result.stdout + result.stderr).toHaveLength(1);
  const line = lines[0] ?? "";
  expect(line).toMatch(new RegExp(`^FAILED {2}${job} {2}\\S`));
  expect(result.stdout + result.stderr).not.toMatch(/\n\s+at /); // no stack trace anywhere
  return line;
}

beforeAll(async () => {
  moto = await new S3Container().start();
  s3 = moto.client();
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  proxy = await new S3FaultProxy(moto.endpoint).start();

  dir = await mkdtemp(path.join(os.tmpdir(), "s3-faults-"));
  await mkdir(path.join(dir, "policies"));
  await mkdir(path.join(dir, "jobs"));
  const policyKey = await generateIdentity();
  const escrowKey = await generateIdentity();
  const vault = await generateVault(path.join(dir, "vault", "prod"));
  await sealSecret(vault, "DATABASE_PASSWORD", "fault-test-password");
  // Incompressible bulk so the artifact spans several 5 MiB parts.
  await writeFile(path.join(vault.dir, "bulk.bin"), randomBytes(BLOB_BYTES));

  await writeFile(
    path.join(dir, "policies", "fast.yaml"),
    policyYaml(
      "fast",
      "fast",
      policyKey.recipient,
      "retries: { attempts: 2, maxDelay: 1s }\ntimeouts: { connect: 2s, idle: 3s }",
    ),
  );
  await writeFile(
    path.join(dir, "policies", "steady.yaml"),
    policyYaml(
      "steady",
      "steady",
      policyKey.recipient,
      `retries: { attempts: ${ATTEMPTS}, maxDelay: 1s }\ntimeouts: { connect: 2s, idle: 3s }`,
    ),
  );
  for (const [name, policy] of [
    [JOB_FAST, "fast"],
    [JOB, "steady"],
  ] as const) {
    await writeFile(
      path.join(dir, "jobs", `${name}.yaml`),
      [
        `name: ${name}`,
        "kind: symfony-secrets",
        `policy: ${policy}`,
        `vault: ${vault.dir}`,
        `escrowRecipients: [${escrowKey.recipient}]`,
        "",
      ].join("\n"),
    );
  }
  // A committed snapshot of each job before any fault: "the previous snapshot" of the trials.
  for (const name of [JOB_FAST, JOB]) {
    const first = await cli("backup", name);
    expect(first.code, first.stdout + first.stderr).toBe(0);
  }
});

afterAll(async () => {
  if (summary.length > 0) console.log(`S3 fault summary:\n  ${summary.join("\n  ")}`);
  await proxy?.close();
  s3?.destroy();
  await moto?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

// A failed test must not leave the next one with a stopped or faulting proxy.
beforeEach(async () => {
  proxy.onRequest = undefined;
  proxy.heal();
  await proxy.start();
  await holderExited("fast", JOB_FAST);
  await holderExited("steady", JOB);
});

describe("S3 server stopped mid-upload", () => {
  it(`fails cleanly at a random moment, ${TRIALS} trials; the next backup or prune removes the upload left behind`, async () => {
    const seed = Number(process.env.S3_FAULT_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const outcomes = {
      failed: 0,
      lockLeft: 0,
      leftBehind: 0,
      cleanedByBackup: 0,
      cleanedByPrune: 0,
      maxFailMs: 0,
    };
    for (let trial = 0; trial < TRIALS; trial++) {
      const where = `trial ${trial} (seed ${seed})`;
      const before = await manifests("fast", JOB_FAST);
      // Anywhere from the first bytes of the artifact's first part to its last part.
      const stopAfter = Math.floor(64 * 1024 + random() * (BLOB_BYTES - 128 * 1024));
      proxy.resetCounts();
      proxy.stopAfterForwardedBytes(stopAfter);
      const started = Date.now();
      const failed = await cli("backup", JOB_FAST);
      outcomes.maxFailMs = Math.max(outcomes.maxFailMs, Date.now() - started);
      expect(proxy.stopped, `${where}: the proxy never stopped`).toBe(true);
      expect(failed.code, `${where}\n${failed.stdout}${failed.stderr}`).toBe(1);
      const line = failureLine(failed, JOB_FAST);
      expect(line, `${where}\n${failed.stderr}`).toMatch(
        /ECONNREFUSED|ECONNRESET|socket hang up|TimeoutError|EPIPE/,
      );
      expect(line, where).toContain("data/secrets-fast/");
      outcomes.failed += 1;
      expect(await manifests("fast", JOB_FAST), `${where}: a manifest for a failed run`).toEqual(before);

      await proxy.start();
      if (await holderExited("fast", JOB_FAST)) outcomes.lockLeft += 1;
      const left = await incompleteUploads("fast/data/");
      if (left.length > 0) outcomes.leftBehind += 1;
      if (trial % 2 === 0) {
        const pruned = await cli("prune", JOB_FAST);
        expect(pruned.code, `${where}\n${pruned.stdout}${pruned.stderr}`).toBe(0);
        expect(await incompleteUploads("fast/"), `${where}: uploads left after prune`).toEqual([]);
        if (left.length > 0) outcomes.cleanedByPrune += 1;
      }
      const next = await cli("backup", JOB_FAST);
      expect(next.code, `${where}\n${next.stdout}${next.stderr}`).toBe(0);
      expect(await incompleteUploads("fast/"), `${where}: uploads left after the next backup`).toEqual([]);
      if (trial % 2 === 1 && left.length > 0) outcomes.cleanedByBackup += 1;
    }
    // The cleanup must have been needed, and done by each path, for the trials to prove anything.
    expect(outcomes.leftBehind).toBeGreaterThan(0);
    expect(outcomes.cleanedByBackup).toBeGreaterThan(0);
    expect(outcomes.cleanedByPrune).toBeGreaterThan(0);
    const verified = await cli("verify", JOB_FAST);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    summary.push(
      `stopped mid-upload (seed ${seed}): ${TRIALS} trials, ${outcomes.failed} failed with exit 1 and one line, ` +
        `${outcomes.lockLeft} left their lock (taken over by the next run), ${outcomes.leftBehind} left an incomplete upload (cleaned: ${outcomes.cleanedByBackup} by the next backup, ` +
        `${outcomes.cleanedByPrune} by prune), slowest failure ${(outcomes.maxFailMs / 1000).toFixed(1)} s, ` +
        `${TRIALS} next backups ok, verify ok`,
    );
  });

  it("a frozen server (docker pause) fails the parts by timeout instead of hanging", async () => {
    const before = await manifests("fast", JOB_FAST);
    proxy.resetCounts();
    let paused = false;
    let unpaused: Promise<unknown> | undefined;
    proxy.onRequest = (operation) => {
      if (operation === "UploadPart" && !paused && proxy.count("UploadPart") >= 2) {
        paused = true;
        execa("docker", ["pause", moto.getId()]).catch(() => undefined);
      }
      // The upload's own abort comes once every part has failed: let the server wake up for it.
      if (operation === "AbortMultipartUpload" && paused && unpaused === undefined) {
        unpaused = execa("docker", ["unpause", moto.getId()]);
      }
    };
    try {
      const failed = await cli("backup", JOB_FAST);
      expect(failed.code, failed.stdout + failed.stderr).toBe(1);
      const line = failureLine(failed, JOB_FAST);
      expect(line).toMatch(/timed out|TimeoutError/);
      expect(line).toContain("gave up after 2 attempts");
    } finally {
      proxy.onRequest = undefined;
      await unpaused;
      if (paused) await execa("docker", ["unpause", moto.getId()]).catch(() => undefined);
    }
    expect(await manifests("fast", JOB_FAST)).toEqual(before);
    await holderExited("fast", JOB_FAST);
    // Aborted by the failed run itself once the server answered again; the next run cleans anyway.
    const left = await incompleteUploads("fast/");
    const next = await cli("backup", JOB_FAST);
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(await incompleteUploads("fast/")).toEqual([]);
    summary.push(
      `frozen (docker pause) mid-upload: exit 1 by timeout, ${left.length} upload(s) left, next backup ok`,
    );
  });
});

describe("S3 server answering errors", () => {
  it("500 to everything from the start: exactly the configured attempts, exit 1, one clear line", async () => {
    proxy.resetCounts();
    proxy.failAll(INTERNAL_ERROR);
    try {
      const result = await cli("backup", JOB);
      expect(result.code, result.stdout + result.stderr).toBe(1);
      const line = failureLine(result, JOB);
      expect(line).toContain("HTTP 500");
      expect(line).toContain(`gave up after ${ATTEMPTS} attempts`);
      expect(line).toContain("InternalError");
      // The first request (bucket setup) failed after its attempts and nothing else was tried.
      expect(proxy.total()).toBe(ATTEMPTS);
      summary.push(`500 to everything from the start: ${proxy.total()} requests, "${line}"`);
    } finally {
      proxy.heal();
    }
  });

  it("500 to everything from mid-upload: bounded attempts per request; prune removes the upload left", async () => {
    const before = await manifests("steady", JOB);
    proxy.resetCounts();
    proxy.onRequest = (operation) => {
      if (operation === "UploadPart") proxy.failAll(INTERNAL_ERROR);
    };
    let counts: Record<string, number>;
    try {
      const result = await cli("backup", JOB);
      expect(result.code, result.stdout + result.stderr).toBe(1);
      const line = failureLine(result, JOB);
      expect(line).toContain("HTTP 500");
      expect(line).toContain(`gave up after ${ATTEMPTS} attempts`);
      expect(line).toMatch(/cannot write s3:\/\/faults-repo\/steady\/data\/secrets\/\S+/);
      counts = Object.fromEntries(proxy.counts);
      // Each part in flight got ATTEMPTS tries, then the upload stopped: no new parts.
      expect(counts.UploadPart).toBeGreaterThanOrEqual(ATTEMPTS);
      expect(counts.UploadPart).toBeLessThanOrEqual(QUEUE_SIZE * ATTEMPTS);
      expect(counts.CreateMultipartUpload).toBe(1);
      expect(counts.AbortMultipartUpload).toBe(ATTEMPTS); // one abort, retried, never landed
      // Per SDK call at most ATTEMPTS requests, and no outer layer re-ran a failed call: every
      // call that ended in a fault made exactly ATTEMPTS requests, each a call of its own.
      const calls = [...proxy.invocations.values()];
      for (const call of calls) {
        expect(call.requests, call.operation).toBeLessThanOrEqual(ATTEMPTS);
        expect(call.maxAttempt, call.operation).toBe(call.requests);
      }
      const failedCalls = calls.filter((call) => call.requests === ATTEMPTS);
      expect(failedCalls.length).toBeGreaterThan(0);
      expect(proxy.total()).toBeLessThanOrEqual(calls.length * ATTEMPTS);
      summary.push(
        `500 from mid-upload: ${proxy.total()} requests in ${calls.length} SDK calls, ${failedCalls.length} calls gave up after ${ATTEMPTS} attempts; ${JSON.stringify(counts)}`,
      );
    } finally {
      proxy.onRequest = undefined;
      proxy.heal();
    }
    expect(await manifests("steady", JOB)).toEqual(before);
    await holderExited("steady", JOB);
    const left = await incompleteUploads("steady/");
    expect(left.length, "the abort could not land: an upload must be left").toBeGreaterThan(0);
    const pruned = await cli("prune", JOB);
    expect(pruned.code, pruned.stdout + pruned.stderr).toBe(0);
    expect(await incompleteUploads("steady/")).toEqual([]);
    summary.push(`500 from mid-upload: ${left.length} upload(s) left, removed by prune`);
  });

  it("500 to every 3rd request: retried, the backup succeeds and verifies", async () => {
    proxy.resetCounts();
    proxy.failEvery(3, INTERNAL_ERROR);
    try {
      const result = await cli("backup", JOB, "--log-level", "debug");
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(proxy.faulted).toBeGreaterThan(0);
      expect(result.stderr).toMatch(/"errorType":"TRANSIENT".*S3 request failed, retrying/);
      summary.push(`500 every 3rd: ${proxy.faulted} of ${proxy.total()} requests faulted, backup ok`);
    } finally {
      proxy.heal();
    }
    const verified = await cli("verify", JOB);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });

  it("503 SlowDown: treated as throttling and retried with backoff; the backup succeeds", async () => {
    proxy.resetCounts();
    // Every 3rd, not every 2nd: with two requests in flight taking turns (two parts of one
    // upload), every 2nd would fail the same one forever, which no real throttling does.
    proxy.failEvery(3, SLOW_DOWN);
    try {
      const result = await cli("backup", JOB, "--log-level", "debug");
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(proxy.faulted).toBeGreaterThan(0);
      const retries = result.stderr
        .split("\n")
        .filter((entry) => entry.includes("S3 request failed, retrying"));
      expect(retries.length).toBeGreaterThan(0);
      // Throttling backoff (twice the base) for every one, HEAD's bodiless 503 included.
      for (const entry of retries) expect(entry).toContain('"throttled":true');
      expect(retries.some((entry) => entry.includes('"errorType":"THROTTLING"'))).toBe(true);
      summary.push(
        `503 SlowDown every 3rd: ${proxy.faulted} of ${proxy.total()} faulted, ${retries.length} throttling retries, backup ok`,
      );
    } finally {
      proxy.heal();
    }
    const verified = await cli("verify", JOB);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });
});
