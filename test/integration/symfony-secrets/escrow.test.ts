/**
 * symfony-secrets through the real backup and drill runners and an encrypted local repository,
 * against vaults written in Symfony's exact file format (test/support/symfony-vault.ts) with the
 * edge cases that break naive parsers: an empty value, every byte 0-255, newlines, `$` and
 * quotes, names a2/a10 (natural order) and a secret named `0` (an integer key in list.php).
 *
 * No container is needed: the drill works in memory. What is proven: the key is checked before
 * anything is stored, the escrow is encrypted to the escrow recipients inside the policy's
 * encryption, only an escrow identity opens it, the drill names every failing secret, no value
 * reaches logs, reports or disk, and the restore writes a vault Symfony can use.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobBackup } from "../../../src/runner/backup.js";
import type { DrillTarget } from "../../../src/config/drill-schema.js";
import type { SymfonySecretsJob } from "../../../src/kinds/symfony-secrets/job-schema.js";
import { decryptBuffer } from "../../../src/crypto/buffer.js";
import { generateIdentity } from "../../../src/crypto/keys.js";
import { runDrillTarget } from "../../../src/runner/drill-target.js";
import { ESCROW_ARTIFACT, encodeBundle, encryptBundle } from "../../../src/kinds/symfony-secrets/bundle.js";
import { symfonySecretsKind } from "../../../src/kinds/symfony-secrets/index.js";
import { parsePhpListFile } from "../../../src/kinds/symfony-secrets/php.js";
import { decodeKeyText, readVaultDir } from "../../../src/kinds/symfony-secrets/vault.js";
import { createLogger } from "../../../src/log/logger.js";
import { FACTS_ARTIFACT, type SnapshotManifest } from "../../../src/repository/manifest.js";
import { Repository } from "../../../src/repository/repository.js";
import { LocalBackend } from "../../../src/storage/local/local-backend.js";
import {
  foreignPublicKey,
  generateVault,
  removeSecretFile,
  revealSecret,
  sealSecret,
  secretFileName,
  type SymfonyVault,
} from "../../support/symfony-vault.js";
import { restoreWith } from "../../support/restore.js";

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
const QUOTES = `price: $5 and $HOME, {$x} "double" 'single' \\ back\\slash \\x41`;
const MULTILINE = "line one\nline two\r\nline three\n";
/** Plaintext values whose presence anywhere (logs, reports, repository) would be a leak. */
const CANARIES = ["line two", "$HOME", "double", "s3cr3t-db-password-6f1e"];

let root: string;
let repository: Repository;
let policy: { identity: string; recipient: string };
let escrow: { identity: string; recipient: string };
let other: { identity: string; recipient: string };
let escrowIdentityFile: string;
let otherIdentityFile: string;
let logText = "";

const log = createLogger({
  level: "debug",
  pretty: false,
  destination: new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logText += chunk.toString("utf8");
      callback();
    },
  }),
});

async function makeVault(name: string): Promise<SymfonyVault> {
  const vault = await generateVault(path.join(root, name, "config", "secrets", "prod"));
  await sealSecret(vault, "EMPTY", "");
  await sealSecret(vault, "BINARY", ALL_BYTES);
  await sealSecret(vault, "MULTILINE", MULTILINE);
  await sealSecret(vault, "QUOTES", QUOTES);
  await sealSecret(vault, "a10", "ten");
  await sealSecret(vault, "a2", "two");
  await sealSecret(vault, "0", "zero");
  await sealSecret(vault, "DATABASE_PASSWORD", "s3cr3t-db-password-6f1e");
  return vault;
}

function job(
  vault: SymfonyVault,
  extra: Partial<SymfonySecretsJob> = {},
  name = "task-secrets",
): SymfonySecretsJob {
  return {
    name,
    kind: "symfony-secrets",
    policy: "nightly",
    vault: vault.dir,
    environment: "prod",
    escrowRecipients: [escrow.recipient],
    ...extra,
  } as SymfonySecretsJob;
}

const context = (env: NodeJS.ProcessEnv = {}) => ({
  log,
  signal: new AbortController().signal,
  env,
  configDir: root,
});

function backup(j: SymfonySecretsJob, env: NodeJS.ProcessEnv = {}) {
  return runJobBackup(
    { job: j, kind: symfonySecretsKind, repository, recipients: [policy.recipient] },
    context(env),
  );
}

function drill(j: SymfonySecretsJob, identityFile: string, checks?: DrillTarget["checks"]) {
  return runDrillTarget(
    {
      job: j,
      target: {
        job: j.name,
        snapshot: "latest",
        escrowIdentityFile: identityFile,
        ...(checks ? { checks } : {}),
      } as DrillTarget,
      kind: symfonySecretsKind,
      repository,
      snapshot: "latest",
      identities: [policy.identity],
      rtoSeconds: null,
    },
    context(),
  );
}

async function restore(
  j: SymfonySecretsJob,
  options: { to: string; force: boolean },
  env: NodeJS.ProcessEnv,
  dryRun = false,
) {
  const outcome = await restoreWith({
    kind: symfonySecretsKind,
    job: j,
    repository,
    identity: policy.identity,
    to: options.to,
    force: options.force,
    dryRun,
    env,
    log,
  });
  return outcome.plan;
}

/** Writes a snapshot whose escrow holds `vaultDir` as is, bypassing the backup's key check. */
async function craftSnapshot(jobName: string, vault: SymfonyVault): Promise<SnapshotManifest> {
  const { files } = await readVaultDir(vault.dir);
  const key = decodeKeyText(vault.decryptionSecret, "test");
  const writer = repository.createSnapshot({
    job: jobName,
    kind: "symfony-secrets",
    recipients: [policy.recipient],
  });
  await writer.addArtifact(
    ESCROW_ARTIFACT,
    encryptBundle(encodeBundle({ environment: "prod", keySource: "file", files, key }), [escrow.recipient]),
  );
  const names = parsePhpListFile(await readFile(path.join(vault.dir, "prod.list.php")));
  await writer.addJson(FACTS_ARTIFACT, {
    kind: "symfony-secrets",
    version: 1,
    environment: "prod",
    artifact: ESCROW_ARTIFACT,
    secrets: names,
    count: names.length,
    // Not the key's: the drill reports that; the shape is what a backup writes.
    publicKeyFingerprint: `sha256:${"0".repeat(64)}`,
    keySource: "file",
    files: files.map((f) => f.name),
    unlisted: [],
    escrowRecipients: [escrow.recipient],
  });
  return writer.commit({});
}

async function allFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(path.join(entry.parentPath, entry.name));
  }
  return out;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "backdrill-symfony-"));
  repository = new Repository(new LocalBackend({ path: path.join(root, "repo") }));
  [policy, escrow, other] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
  escrowIdentityFile = path.join(root, "escrow-identity.txt");
  otherIdentityFile = path.join(root, "other-identity.txt");
  await writeFile(escrowIdentityFile, `# escrow holder\n${escrow.identity}\n`, { mode: 0o600 });
  await writeFile(otherIdentityFile, `${other.identity}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await repository?.backend.close();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe("symfony-secrets escrow", () => {
  let vault: SymfonyVault;
  let manifest: SnapshotManifest | undefined;

  it("backs up a vault in Symfony's format, with every edge case, and records names but no values", async () => {
    vault = await makeVault("good");
    const result = await backup(job(vault));
    expect(result.result.error).toBeUndefined();
    expect(result.result.ok).toBe(true);
    manifest = result.manifest;
    expect(manifest?.artifacts.map((a) => a.name).sort()).toEqual([FACTS_ARTIFACT, ESCROW_ARTIFACT].sort());

    const facts = await repository.readFacts<Record<string, unknown>>(manifest!, [policy.identity]);
    expect(facts.secrets).toEqual([
      "0",
      "BINARY",
      "DATABASE_PASSWORD",
      "EMPTY",
      "MULTILINE",
      "QUOTES",
      "a2",
      "a10",
    ]);
    expect(facts.count).toBe(8);
    expect(facts.publicKeyFingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(facts.escrowRecipients).toEqual([escrow.recipient]);
    // The plaintext manifest says nothing about the secrets. "a10" only as a name of its own: the
    // manifest's sha256 values and snapshot ids are hex and contain "a10" in ~6 % of runs.
    expect(JSON.stringify(manifest)).not.toMatch(/DATABASE_PASSWORD|(?<![0-9a-f])a10(?![0-9a-f])/);
  });

  it("encrypts the escrow twice: the policy identity opens only the outer layer", async () => {
    const stream = await repository.openArtifact(manifest!, ESCROW_ARTIFACT, [policy.identity], {});
    const parts: Buffer[] = [];
    for await (const chunk of stream) parts.push(chunk as Buffer);
    const inner = Buffer.concat(parts);
    expect(inner.subarray(0, 21).toString()).toBe("age-encryption.org/v1");
    await expect(decryptBuffer(inner, [policy.identity])).rejects.toThrow();
    const bundle = JSON.parse((await decryptBuffer(inner, [escrow.identity])).toString("utf8")) as {
      key: string;
    };
    expect(Buffer.from(bundle.key, "base64").equals(Buffer.from(vault.keypair))).toBe(true);
  });

  it("drills with the escrow identity: keypair matches and every secret opens", async () => {
    const report = await drill(job(vault), escrowIdentityFile, {
      secrets: ["DATABASE_PASSWORD", "0", "a10"],
    });
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    const names = report.checks.map((c) => c.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "escrow opens",
        "keypair",
        "secrets open",
        "listed secrets have files",
        "required secrets",
      ]),
    );
    expect(report.checks.find((c) => c.name === "secrets open")?.detail).toContain("all 8");
  });

  it("fails the drill with a wrong escrow identity, naming the identity file", async () => {
    const report = await drill(job(vault), otherIdentityFile);
    expect(report.ok).toBe(false);
    const check = report.checks.find((c) => c.name === "escrow opens");
    expect(check?.ok).toBe(false);
    expect(check?.detail).toContain(otherIdentityFile);
    expect(check?.detail).toContain(escrow.recipient);
  });

  it("accepts SYMFONY_DECRYPTION_SECRET as base64url and escrows the key without a key file", async () => {
    const envVault = await makeVault("env");
    await rm(path.join(envVault.dir, "prod.decrypt.private.php"));
    const b64url = Buffer.from(envVault.keypair).toString("base64url");
    const j = job(envVault, { decryptionKeyEnv: "SYMFONY_DECRYPTION_SECRET" }, "env-secrets");
    const result = await backup(j, { SYMFONY_DECRYPTION_SECRET: b64url });
    expect(result.result.error).toBeUndefined();
    const report = await drill(j, escrowIdentityFile);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);

    // Restore renders the key file Symfony would have written.
    const target = path.join(root, "restored-env", "prod");
    await restore(j, { to: target, force: false }, { BACKDRILL_ESCROW_IDENTITY_FILE: escrowIdentityFile });
    const keyFile = await readFile(path.join(target, "prod.decrypt.private.php"), "utf8");
    expect(keyFile).toContain(`// SYMFONY_DECRYPTION_SECRET=${envVault.decryptionSecret}`);
    expect(
      Buffer.from(await revealSecret(target, "prod", "DATABASE_PASSWORD", envVault.keypair)).toString(),
    ).toBe("s3cr3t-db-password-6f1e");
  });

  it("refuses to back up when a secret is sealed to another key, naming it; nothing is stored", async () => {
    const bad = await makeVault("foreign");
    await sealSecret(bad, "STRIPE_KEY", "sk_live_x", { publicKey: await foreignPublicKey() });
    const result = await backup(job(bad, {}, "foreign-secrets"));
    expect(result.result.ok).toBe(false);
    expect(result.result.error).toContain("secret STRIPE_KEY: does not open");
    expect(result.result.error).not.toMatch(/secret (a2|a10|0|BINARY):/);
    expect(await repository.snapshots("foreign-secrets")).toEqual([]);
    expect(await repository.leftovers("foreign-secrets")).toEqual([]);

    // A snapshot made without the check (e.g. by an older version) fails its drill by name.
    await craftSnapshot("foreign-secrets", bad);
    const report = await drill(job(bad, {}, "foreign-secrets"), escrowIdentityFile);
    const check = report.checks.find((c) => c.name === "secrets open");
    expect(check?.ok).toBe(false);
    expect(check?.detail).toContain("STRIPE_KEY");
    expect(check?.detail).toMatch(/^1 of 9 do not open/);
  });

  it("refuses to back up when a listed secret's file is missing, and the drill names it", async () => {
    const bad = await makeVault("missing");
    await removeSecretFile(bad, "a2");
    await sealSecret(bad, "LEFTOVER", "old", { unlisted: true });
    const result = await backup(job(bad, {}, "missing-secrets"));
    expect(result.result.ok).toBe(false);
    expect(result.result.error).toContain(
      `secret a2: listed in prod.list.php but ${secretFileName("prod", "a2")} is missing`,
    );

    await craftSnapshot("missing-secrets", bad);
    const report = await drill(job(bad, {}, "missing-secrets"), escrowIdentityFile);
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === "listed secrets have files")).toMatchObject({
      ok: false,
      detail: expect.stringContaining("a2"),
    });
    expect(report.checks.find((c) => c.name === "files in list")?.detail).toContain("LEFTOVER");
    expect(report.checks.find((c) => c.name === "secrets open")?.ok).toBe(true);
  });

  it("refuses a key whose public half is not the vault's encrypt.public.php", async () => {
    const bad = await makeVault("mismatch");
    const otherVault = await generateVault(path.join(root, "mismatch-other", "prod"));
    await writeFile(
      path.join(bad.dir, "prod.encrypt.public.php"),
      await readFile(path.join(otherVault.dir, "prod.encrypt.public.php")),
    );
    const result = await backup(job(bad, {}, "mismatch-secrets"));
    expect(result.result.ok).toBe(false);
    expect(result.result.error).toContain("prod.encrypt.public.php holds another public key");
  });

  it("restores into a private directory, refusing to overwrite without --force", async () => {
    const target = path.join(root, "restored", "prod");
    const env = { BACKDRILL_ESCROW_IDENTITY_FILE: escrowIdentityFile };
    const plan = await restore(job(vault), { to: target, force: false }, env, true);
    expect(plan.steps.join("\n")).toContain("prod.decrypt.private.php");
    await expect(stat(target)).rejects.toThrow(); // dry run touched nothing

    await restore(job(vault), { to: target, force: false }, env);
    expect((await stat(target)).mode & 0o777).toBe(0o700);
    const written = (await readdir(target)).sort();
    expect(written).toEqual((await readdir(vault.dir)).sort());
    for (const name of written) expect((await stat(path.join(target, name))).mode & 0o777).toBe(0o600);
    for (const name of written) {
      expect(
        (await readFile(path.join(target, name))).equals(await readFile(path.join(vault.dir, name))),
      ).toBe(true);
    }
    const binary = await revealSecret(target, "prod", "BINARY", vault.keypair);
    expect(Buffer.from(binary).equals(Buffer.from(ALL_BYTES))).toBe(true);
    expect(Buffer.from(await revealSecret(target, "prod", "EMPTY", vault.keypair)).length).toBe(0);
    expect(Buffer.from(await revealSecret(target, "prod", "QUOTES", vault.keypair)).toString()).toBe(QUOTES);
    expect(Buffer.from(await revealSecret(target, "prod", "0", vault.keypair)).toString()).toBe("zero");

    const again = await restore(job(vault), { to: target, force: false }, env, true);
    expect(again.warnings.join("\n")).toContain("refuses to overwrite");
    await expect(restore(job(vault), { to: target, force: false }, env)).rejects.toThrow(
      /refusing to overwrite/,
    );
    await restore(job(vault), { to: target, force: true }, env);

    await expect(restore(job(vault), { to: path.join(root, "nope"), force: false }, {})).rejects.toThrow(
      /escrow holder's age identity/,
    );
  });

  it("never lets a secret value reach the logs, the reports or the repository", async () => {
    const report = JSON.stringify(await drill(job(vault), escrowIdentityFile));
    const repoFiles = await allFilesUnder(path.join(root, "repo"));
    const repoText = (await Promise.all(repoFiles.map((f) => readFile(f, "latin1")))).join("\n");
    for (const canary of CANARIES) {
      expect(logText).not.toContain(canary);
      expect(report).not.toContain(canary);
      expect(repoText).not.toContain(canary);
    }
    expect(logText).not.toContain(vault.decryptionSecret);
    expect(repoText).not.toContain(vault.decryptionSecret);
  });
});
