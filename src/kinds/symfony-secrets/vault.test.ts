import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  foreignPublicKey,
  generateVault,
  removeSecretFile,
  sealSecret,
  type SymfonyVault,
} from "../../../test/support/symfony-vault.js";
import { decodeBundle, encodeBundle } from "./bundle.js";
import {
  decodeKeyFile,
  decodeKeyText,
  inspectVault,
  naturalCompare,
  readVaultDir,
  vaultProblems,
} from "./vault.js";

let root: string;
let vault: SymfonyVault;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "backdrill-vault-unit-"));
  vault = await generateVault(path.join(root, "prod"));
  await sealSecret(vault, "a10", "x");
  await sealSecret(vault, "a2", "y");
  await sealSecret(vault, "0", "");
  await sealSecret(
    vault,
    "BIN",
    Uint8Array.from({ length: 256 }, (_, i) => i),
  );
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("vault", () => {
  it("writes the list as Symfony does (natural order, integer key) and reads it back", async () => {
    const list = await readFile(path.join(vault.dir, "prod.list.php"), "utf8");
    expect(list).toBe(
      "<?php\n\nreturn array (\n  0 => NULL,\n  'BIN' => NULL,\n  'a2' => NULL,\n  'a10' => NULL,\n);\n",
    );
    const { files } = await readVaultDir(vault.dir);
    const report = await inspectVault(files, "prod", decodeKeyText(vault.decryptionSecret, "t"));
    expect(report.listed).toEqual(["0", "BIN", "a2", "a10"]);
    expect(report.opened).toBe(4);
    expect(vaultProblems(report)).toEqual([]);
    expect(report.publicKeyMatches).toBe(true);
  });

  it("decodes the key from the PHP file, base64 and base64url, and refuses wrong lengths", async () => {
    const fromFile = decodeKeyFile(await readFile(path.join(vault.dir, "prod.decrypt.private.php")), "f");
    expect(Buffer.from(fromFile.bytes).equals(Buffer.from(vault.keypair))).toBe(true);
    const url = Buffer.from(vault.keypair).toString("base64url");
    expect(Buffer.from(decodeKeyText(url, "e").bytes).equals(Buffer.from(vault.keypair))).toBe(true);
    expect(() => decodeKeyText("AAAA", "env X")).toThrow(/env X: decodes to 3 bytes/);
    expect(() => decodeKeyText("not base64!", "env X")).toThrow(/not base64/);
  });

  it("names secrets that do not open and listed names without a file", async () => {
    const bad = await generateVault(path.join(root, "bad", "prod"));
    await sealSecret(bad, "GOOD", "1");
    await sealSecret(bad, "FOREIGN", "2", { publicKey: await foreignPublicKey() });
    await sealSecret(bad, "GONE", "3");
    await sealSecret(bad, "EXTRA", "4", { unlisted: true });
    await removeSecretFile(bad, "GONE");
    const { files } = await readVaultDir(bad.dir);
    const report = await inspectVault(files, "prod", decodeKeyText(bad.decryptionSecret, "t"));
    expect(report.failing.map((f) => f.name)).toEqual(["FOREIGN"]);
    expect(report.missingFiles).toEqual(["GONE"]);
    expect(report.unlisted).toEqual(["EXTRA"]);
    expect(vaultProblems(report)).toHaveLength(2);
  });

  it("detects a key that is not a keypair", async () => {
    const { files } = await readVaultDir(vault.dir);
    const broken = new Uint8Array(vault.keypair);
    broken[40] = (broken[40] ?? 0) ^ 1;
    const report = await inspectVault(files, "prod", { bytes: broken });
    expect(report.keypairConsistent).toBe(false);
    expect(report.publicKeyMatches).toBe(false);
  });

  it("sorts naturally and round-trips the escrow bundle", async () => {
    expect(["a10", "a2", "0", "b", "A"].sort(naturalCompare)).toEqual(["0", "A", "a2", "a10", "b"]);
    const { files } = await readVaultDir(vault.dir);
    const bundle = decodeBundle(
      encodeBundle({ environment: "prod", keySource: "file", files, key: { bytes: vault.keypair } }),
    );
    expect(bundle.files.map((f) => f.name)).toEqual(files.map((f) => f.name));
    expect(bundle.files.every((f, i) => f.data.equals(files[i]!.data))).toBe(true);
    expect(() =>
      decodeBundle(
        Buffer.from(
          JSON.stringify({
            format: "backdrill-symfony-vault",
            version: 1,
            files: [{ name: "../x", data: "" }],
            key: Buffer.alloc(64).toString("base64"),
          }),
        ),
      ),
    ).toThrow(/unsafe/);
  });
});
