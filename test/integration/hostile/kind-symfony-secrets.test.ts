/**
 * Hostile symfony-secrets snapshots. The escrow's inner layer is encrypted to the escrow holders'
 * public recipients, so anyone can make one: an environment that walks out of the restore
 * directory, one that breaks out of the `//` comment of the generated PHP key file, and an escrow
 * of another vault swapped in under the facts. Refused; nothing is written, inside or outside.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../../src/crypto/keys.js";
import { encryptBundle } from "../../../src/kinds/symfony-secrets/bundle.js";
import { entries, hostileWorld, SLOW, treeState, type HostileWorld } from "./kind-support.js";

const JOB = "secrets";
let world: HostileWorld;
let escrowRecipient: string;
let escrowIdentityFile: string;

/** The inner escrow layer as the backup writes it, with whatever environment and files we like. */
async function escrow(
  environment: string,
  files: Array<{ name: string; data: string }> = [],
): Promise<Buffer> {
  const json = {
    format: "backdrill-symfony-vault",
    version: 1,
    environment,
    keySource: "file",
    files: files.map((file) => ({
      name: file.name,
      mode: 0o600,
      data: Buffer.from(file.data).toString("base64"),
    })),
    key: randomBytes(64).toString("base64"),
  };
  const stream = encryptBundle(Buffer.from(JSON.stringify(json)), [escrowRecipient]);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

function facts(environment: string, files: string[] = []): unknown {
  return {
    kind: "symfony-secrets",
    version: 1,
    environment,
    artifact: "vault.escrow",
    secrets: [],
    count: 0,
    publicKeyFingerprint: `sha256:${"0".repeat(64)}`,
    keySource: "file",
    files,
    unlisted: [],
    escrowRecipients: [escrowRecipient],
  };
}

const restore = (id: string, to: string) =>
  world.restore(JOB, id, to, ["--escrow-identity", escrowIdentityFile]);

beforeAll(async () => {
  world = await hostileWorld("hostile-secrets");
  const key = await generateIdentity();
  escrowRecipient = key.recipient;
  escrowIdentityFile = path.join(world.config.root, "escrow-identity.txt");
  await writeFile(escrowIdentityFile, `${key.identity}\n`, { mode: 0o600 });
  await world.writeJob({
    name: JOB,
    kind: "symfony-secrets",
    vault: "/var/www/task/config/secrets/prod",
    decryptionKeyEnv: "SYMFONY_DECRYPTION_SECRET",
    escrowRecipients: [escrowRecipient],
  });
}, SLOW);

afterAll(async () => {
  await world?.remove();
}, SLOW);

describe("hostile symfony-secrets snapshots", () => {
  it(
    "restore: an environment with '..' is refused; no key file appears outside the target",
    async () => {
      const environment = "../outside/evil";
      const forged = await world.forge(JOB, "symfony-secrets", {
        artifacts: { "vault.escrow": await escrow(environment) },
        facts: facts(environment),
      });
      const before = await treeState(world.outside);
      const to = path.join(world.config.root, "restore-dotdot");
      const result = await restore(forged.id, to);
      expect(await treeState(world.outside)).toBe(before);
      expect(await entries(to)).toEqual([]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/environment: not a Symfony environment name/);
    },
    SLOW,
  );

  it(
    "restore: an escrowed environment that would end the PHP comment is refused; no PHP is written",
    async () => {
      const forged = await world.forge(JOB, "symfony-secrets", {
        artifacts: { "vault.escrow": await escrow("prod\nsystem('touch canary');#") },
        facts: facts("prod"),
      });
      const to = path.join(world.config.root, "restore-php");
      await mkdir(to, { recursive: true, mode: 0o700 });
      const result = await restore(forged.id, to);
      expect(await entries(to)).toEqual([]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/environment .* is not a Symfony environment name/);
    },
    SLOW,
  );

  it(
    "restore: an escrow of another environment swapped in under the facts is refused; nothing is written",
    async () => {
      const forged = await world.forge(JOB, "symfony-secrets", {
        artifacts: {
          "vault.escrow": await escrow("staging", [{ name: "staging.list.php", data: "<?php return [];" }]),
        },
        facts: facts("prod", ["prod.list.php"]),
      });
      const to = path.join(world.config.root, "restore-swapped");
      const result = await restore(forged.id, to);
      expect(await entries(to)).toEqual([]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/its escrow holds the vault of environment staging, its facts say prod/);
    },
    SLOW,
  );
});
