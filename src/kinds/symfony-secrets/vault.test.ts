import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
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
      "<?php\n\nreturn [\n    null,\n    'BIN' => null,\n    'a2' => null,\n    'a10' => null,\n];\n",
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

  it("takes a vault without list.php for an empty one, unless secret files lie next to it", async () => {
    const fresh = await generateVault(path.join(root, "fresh", "prod"));
    const key = decodeKeyText(fresh.decryptionSecret, "t");
    const empty = await inspectVault((await readVaultDir(fresh.dir)).files, "prod", key);
    expect(vaultProblems(empty)).toEqual([]);
    expect(empty.listed).toEqual([]);

    await sealSecret(fresh, "LOST", "x");
    await rm(path.join(fresh.dir, "prod.list.php"));
    const lost = await inspectVault((await readVaultDir(fresh.dir)).files, "prod", key);
    expect(vaultProblems(lost)).toEqual([
      "prod.list.php is missing, but 1 secret file(s) are in the vault (Symfony would load none of them)",
    ]);
  });

  it("names list.php and the offset when it cannot be read, and refuses names Symfony refuses", async () => {
    const odd = await generateVault(path.join(root, "odd", "prod"));
    const key = decodeKeyText(odd.decryptionSecret, "t");
    const problemsWith = async (list: string): Promise<string[]> => {
      await writeFile(path.join(odd.dir, "prod.list.php"), list);
      return vaultProblems(await inspectVault((await readVaultDir(odd.dir)).files, "prod", key));
    };
    expect(await problemsWith("<?php\n\nreturn [\n    getenv('X'),\n];\n")).toEqual([
      "prod.list.php: expected null, true, false, a number or a string at offset 20",
    ]);
    expect(await problemsWith("<?php return ['A' => null, \"evil\\nsecret B: ok\" => null];")).toEqual([
      "prod.list.php: key number 2 is not a secret name Symfony accepts (letters, digits and _ only)",
    ]);
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
            environment: "prod",
            files: [{ name: "../x", data: "" }],
            key: Buffer.alloc(64).toString("base64"),
          }),
        ),
      ),
    ).toThrow(/unsafe/);
  });
});
