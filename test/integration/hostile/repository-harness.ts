/**
 * A small deployment for the hostile-repository tests: a config directory (policy, two `files`
 * jobs with local sources and destinations, a drill), a repository on local disk or on the S3
 * test server, and the attacker's view of that repository: its Backend, used to read, copy and
 * forge objects exactly as someone with write access to the bucket or directory (and no keys)
 * could. Every backdrill action goes through the CLI in-process (`runCli`), as an operator's or
 * the scheduler's would.
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { generateIdentity } from "../../../src/crypto/keys.js";
import { generateSigningKey } from "../../../src/crypto/signing.js";
import { layout } from "../../../src/repository/layout.js";
import type { SnapshotManifest } from "../../../src/repository/manifest.js";
import type { Backend } from "../../../src/storage/backend.js";
import { LocalBackend } from "../../../src/storage/local/local-backend.js";
import { S3Backend } from "../../../src/storage/s3/s3-backend.js";
import type { StartedS3Container } from "../../support/containers/s3.js";
import { sshdImage } from "../../support/images.js";
import { runCli, type CliResult } from "../../support/run-cli.js";

export type RepositoryPlace = { type: "local" } | { type: "s3"; server: StartedS3Container; bucket: string };

export interface StackOptions {
  repository: RepositoryPlace;
  /** Sign snapshots (policy `signing.keyFile`); default false, as in the observed attack. */
  signing?: boolean;
  keepLast?: number;
}

/** A manifest as stored: the fields plus, when signed, its signature. */
export type StoredManifest = SnapshotManifest & { signature?: unknown };

export interface Stack {
  root: string;
  configDir: string;
  identityFile: string;
  /** The attacker's (and the test's) direct access to the repository. */
  backend: Backend;
  /** The policy's signing public key (a key exists even while signing is off). */
  publicKey: string;
  /** Turns the policy's `signing` on or off (a deployment that starts signing later). */
  setSigning(on: boolean): Promise<void>;
  /** Writes `drills/<name>.yaml` drilling `snapshot` of the files job (no container: for refusals). */
  pinnedDrill(name: string, snapshot: string): Promise<void>;
  /** The newest JSON report of a drill. */
  drillReport(name: string): Promise<{
    ok: boolean;
    targets: Array<{ snapshot: string | null; ok: boolean; error?: string; warnings?: string[] }>;
  }>;
  cli(...args: string[]): Promise<CliResult>;
  /** `backdrill backup <job>`; the new snapshot's id. */
  backup(job?: string): Promise<string>;
  /** Ids of the job's manifests present in the repository (trusted or not). */
  manifestIds(job?: string): Promise<string[]>;
  /** Trusted snapshot ids, as `backdrill snapshots --json` lists them. */
  listed(job?: string): Promise<string[]>;
  readManifest(job: string, id: string): Promise<StoredManifest>;
  readText(key: string): Promise<string>;
  put(key: string, body: string | Buffer): Promise<void>;
  /** Every key under a prefix. */
  keys(prefix: string): Promise<string[]>;
  /** A restore target directory that does not exist yet. */
  restoreTarget(): string;
  /** Entries of a restore target: empty when nothing was written. */
  restored(target: string): Promise<string[]>;
  /** Snapshot directories in a files job's destination. */
  destinationDirs(job?: string): Promise<string[]>;
  close(): Promise<void>;
}

let counter = 0;

export async function makeStack(options: StackOptions): Promise<Stack> {
  const root = await mkdtemp(path.join(os.tmpdir(), "backdrill-hostile-"));
  const configDir = path.join(root, "config");
  for (const sub of ["policies", "jobs", "drills"])
    await mkdir(path.join(configDir, sub), { recursive: true });
  const keys = await generateIdentity();
  const identityFile = path.join(root, "identity.txt");
  await writeFile(identityFile, `${keys.identity}\n`, { mode: 0o600 });

  // The backup host's signing key; the policy names it only while signing is on.
  const generated = generateSigningKey();
  const publicKey = generated.publicKey;
  const keyFile = path.join(root, "signing-key.pem");
  await writeFile(keyFile, generated.privateKeyPem, { mode: 0o600 });
  const signing = `signing: { keyFile: ${keyFile}, publicKeys: [${publicKey}] }\n`;

  const env: Record<string, string> = {};
  let backend: Backend;
  let repositoryYaml: string;
  if (options.repository.type === "local") {
    const repoDir = path.join(root, "repo");
    backend = new LocalBackend({ path: repoDir });
    repositoryYaml = `repository: { type: local, path: ${repoDir} }\n`;
  } else {
    const { server, bucket } = options.repository;
    const client = server.client();
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
    const prefix = `p${++counter}`;
    env.HOSTILE_S3_KEY = server.accessKeyId;
    env.HOSTILE_S3_SECRET = server.secretAccessKey;
    backend = new S3Backend({
      bucket,
      prefix,
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
    repositoryYaml =
      `repository: { type: s3, bucket: ${bucket}, prefix: ${prefix}, endpoint: "${server.endpoint}", region: ${server.region}, ` +
      `forcePathStyle: true, accessKeyIdEnv: HOSTILE_S3_KEY, secretAccessKeyEnv: HOSTILE_S3_SECRET }\n`;
  }
  const writePolicy = (withSigning: boolean): Promise<void> =>
    writeFile(
      path.join(configDir, "policies", "p.yaml"),
      `name: p\n${repositoryYaml}encryption: { recipients: [${keys.recipient}] }\n` +
        `retention: { keepLast: ${options.keepLast ?? 1} }\nrpo: 26h\n${withSigning ? signing : ""}`,
    );
  await writePolicy(options.signing === true);
  for (const job of ["files", "other"]) {
    const source = path.join(root, `${job}-source`);
    await mkdir(path.join(source, "sub"), { recursive: true });
    await writeFile(path.join(source, "a.txt"), `alpha of ${job}\n`);
    await writeFile(path.join(source, "sub", "b.bin"), Buffer.alloc(70_000, job.length));
    await writeFile(
      path.join(configDir, "jobs", `${job}.yaml`),
      `name: ${job}\nkind: files\npolicy: p\nsource: ${source}\ndestination: ${path.join(root, `${job}-destination`)}\n`,
    );
  }
  await writeFile(
    path.join(configDir, "drills", "d.yaml"),
    `name: d\nidentityFile: ${identityFile}\nreportDir: ${path.join(root, "reports")}\n` +
      `targets:\n  - { job: files, image: "${sshdImage()}" }\n`,
  );

  const cli = (...args: string[]): Promise<CliResult> =>
    runCli([...args, "--config-dir", configDir], { ...env, BACKDRILL_IDENTITY_FILE: identityFile });

  const keysUnder = async (prefix: string): Promise<string[]> => {
    const found: string[] = [];
    for await (const info of backend.list(prefix)) found.push(info.key);
    return found;
  };
  const manifestIds = async (job = "files"): Promise<string[]> =>
    (await keysUnder(layout.manifestsPrefix(job)))
      .map((key) => /\/([^/]+)\.json$/.exec(key)?.[1] ?? key)
      .sort();
  let targets = 0;
  let lastBackupSecond = 0;

  return {
    root,
    configDir,
    identityFile,
    backend,
    publicKey,
    setSigning: writePolicy,
    async pinnedDrill(name, snapshot) {
      await writeFile(
        path.join(configDir, "drills", `${name}.yaml`),
        `name: ${name}\nidentityFile: ${identityFile}\nreportDir: ${path.join(root, "reports")}\n` +
          `targets:\n  - { job: files, snapshot: ${snapshot}, image: "${sshdImage()}" }\n`,
      );
    },
    async drillReport(name) {
      const dir = path.join(root, "reports");
      const newest = (await readdir(dir))
        .filter((file) => file.startsWith(`${name}-`) && file.endsWith(".json"))
        .sort()
        .at(-1);
      if (newest === undefined) throw new Error(`no report of drill ${name}`);
      return JSON.parse(await readFile(path.join(dir, newest), "utf8")) as Awaited<
        ReturnType<Stack["drillReport"]>
      >;
    },
    cli,
    async backup(job = "files") {
      // Ids have second precision: two backups in one second would sort by their random suffix.
      // The id's second is taken inside the CLI, after its start-up, so the next backup starts
      // only in a second after the previous one ended.
      while (Math.floor(Date.now() / 1000) <= lastBackupSecond)
        await new Promise((done) => setTimeout(done, 50));
      const before = new Set(await manifestIds(job));
      const result = await cli("backup", job);
      lastBackupSecond = Math.floor(Date.now() / 1000);
      if (result.code !== 0) throw new Error(`backup ${job} failed: ${result.stdout}${result.stderr}`);
      const made = (await manifestIds(job)).filter((id) => !before.has(id));
      if (made.length !== 1) throw new Error(`backup ${job} made ${made.length} snapshots`);
      return made[0] ?? "";
    },
    manifestIds,
    async listed(job = "files") {
      const result = await cli("snapshots", job, "--json");
      return (JSON.parse(result.stdout) as Array<{ id: string }>).map((entry) => entry.id);
    },
    async readManifest(job, id) {
      return JSON.parse(await text(await backend.get(layout.manifest(job, id)))) as StoredManifest;
    },
    async readText(key) {
      return text(await backend.get(key));
    },
    async put(key, body) {
      await backend.put(key, Readable.from([typeof body === "string" ? Buffer.from(body) : body]), {
        overwrite: true,
      });
    },
    keys: keysUnder,
    restoreTarget() {
      return path.join(root, `restore-${++targets}`);
    },
    async restored(target) {
      return readdir(target).catch(() => []);
    },
    async destinationDirs(job = "files") {
      return (await readdir(path.join(root, `${job}-destination`)).catch(() => []))
        .filter((name) => !name.startsWith("."))
        .sort();
    },
    async close() {
      await backend.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** A snapshot id for `at` with a fixed suffix (ids sort by time, see snapshot-id.ts). */
export function idAt(at: Date, suffix = "f0f0f0"): string {
  return `${at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z")}-${suffix}`;
}

/**
 * What someone with write access and no keys does to make a snapshot look newer (the attack
 * observed in issue 17): copy a genuine snapshot's artifacts to a new id, rewrite the manifest
 * and its copy with the new id, times and paths. Every hash stays consistent: the ciphertext is
 * the genuine one. The signature, if any, is carried over unchanged (no key to make a new one).
 */
export async function forgeCopy(
  stack: Stack,
  job: string,
  genuineId: string,
  at: Date,
  options: { keepSignature?: boolean; targetJob?: string; pathsOf?: { job: string; id: string } } = {},
): Promise<string> {
  const targetJob = options.targetJob ?? job;
  const id = idAt(at);
  const genuine = await stack.readManifest(job, genuineId);
  const artifacts = [];
  for (const record of genuine.artifacts) {
    const from = options.pathsOf ?? { job: targetJob, id };
    const destination = layout.artifact(from.job, from.id, record.name);
    if (options.pathsOf === undefined) {
      const bytes = await readAll(stack, record.path);
      await stack.put(destination, bytes);
    }
    artifacts.push({ ...record, path: destination });
  }
  const { signature, ...fields } = genuine;
  const forged: StoredManifest = {
    ...fields,
    id,
    job: targetJob,
    createdAt: at.toISOString(),
    finishedAt: new Date(at.getTime() + 60_000).toISOString(),
    artifacts,
    ...(options.keepSignature === false || signature === undefined ? {} : { signature }),
  };
  const body = JSON.stringify(forged, null, 2) + "\n";
  await stack.put(layout.manifest(targetJob, id), body);
  await stack.put(layout.manifestCopy(targetJob, id), body);
  return id;
}

async function readAll(stack: Stack, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await stack.backend.get(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
