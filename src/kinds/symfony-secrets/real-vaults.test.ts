/**
 * The parsers against vaults written by Symfony itself: test/fixtures/symfony-secrets/<version>/
 * holds, byte for byte, what the SodiumVault of Symfony 5.4, 6.4 and 7.4 wrote for the scenarios
 * of test/support/symfony-php.ts, and expected.json what Symfony then listed and revealed
 * (regenerate with scripts/symfony-vault-fixtures.ts). Every name must come out as Symfony lists
 * it, in its order, and every secret must open to the value Symfony revealed.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import sodium from "libsodium-wrappers";
import { beforeAll, describe, expect, it } from "vitest";
import {
  MAIN_NAMES,
  MAIN_SECRETS,
  SCENARIOS,
  SYMFONY_VERSIONS,
  type ListedName,
  type RevealedValue,
} from "../../../test/support/symfony-php.js";
import { generateVault, sealSecret } from "../../../test/support/symfony-vault.js";
import { parsePhpListFile, parsePhpStringFile, phpStringLiteral, renderDecryptionKeyFile } from "./php.js";
import { decodeKeyFile, fileNames, inspectVault, publicKeyOf, readVaultDir, vaultProblems } from "./vault.js";

const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../../test/fixtures/symfony-secrets",
);

interface Expected {
  symfony: string;
  php: string;
  scenarios: Record<string, { names: ListedName[]; values: RevealedValue[] }>;
}

const expectedOf = (version: string): Expected =>
  JSON.parse(readFileSync(path.join(FIXTURES, version, "expected.json"), "utf8")) as Expected;

/** The list.php every release wrote for the main scenario. */
const MAIN_LIST = `<?php

return [
    null,
    null,
    3 => null,
    '007' => null,
    123 => null,
    9223372036854775807 => null,
    '99999999999999999999' => null,
    'A1' => null,
    'BINARY' => null,
    'DATABASE_PASSWORD' => null,
    'EMPTY' => null,
    'MULTILINE' => null,
    'QUOTES' => null,
    'UNICODE' => null,
    '_' => null,
    'a2' => null,
    'a10' => null,
];
`;

/** `<?php // <file> on <date('r')>` as SodiumVault::export() starts every file; the date. */
function exportedDate(text: string, file: string): string {
  const match = new RegExp(
    `^<\\?php // ${file.replace(/\./g, "\\.")} on ((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d\\d [A-Z][a-z]{2} \\d{4} \\d\\d:\\d\\d:\\d\\d \\+0000)\\n\\n`,
  ).exec(text);
  if (match === null) throw new Error(`${file}: not the header SodiumVault writes`);
  return match[1] as string;
}

beforeAll(async () => {
  await sodium.ready;
});

describe.each(SYMFONY_VERSIONS)("a vault written by Symfony %s", (version) => {
  const expected = expectedOf(version);

  it("comes from that release", () => {
    expect(expected.symfony.startsWith(`${version}.`)).toBe(true);
  });

  it.each(SCENARIOS.map((s) => s.name))("%s: lists every name as Symfony does, in its order", (scenario) => {
    const listFile = path.join(FIXTURES, version, scenario, "prod", "prod.list.php");
    const names = expected.scenarios[scenario]?.names.map((n) => n.name);
    if (!existsSync(listFile)) {
      expect(scenario).toBe("keys-only");
      expect(names).toEqual([]);
      return;
    }
    expect(parsePhpListFile(readFileSync(listFile))).toEqual(names);
  });

  it.each(SCENARIOS.map((s) => s.name))(
    "%s: the key opens every secret to the value Symfony reveals",
    async (scenario) => {
      const dir = path.join(FIXTURES, version, scenario, "prod");
      const { files } = await readVaultDir(dir);
      const key = decodeKeyFile(readFileSync(path.join(dir, "prod.decrypt.private.php")), "fixture");
      const report = await inspectVault(files, "prod", key);
      expect(vaultProblems(report)).toEqual([]);
      expect(report.publicKeyMatches).toBe(true);
      expect(report.unlisted).toEqual([]);
      const values = expected.scenarios[scenario]?.values ?? [];
      // Natural order (naturalCompare) agrees with Symfony's strnatcmp on these names.
      expect(report.listed).toEqual(values.map((v) => v.name));
      expect(report.opened).toBe(values.length);
      for (const { name, value } of values) {
        const sealed = parsePhpStringFile(readFileSync(path.join(dir, fileNames.secret("prod", name))));
        const opened = sodium.crypto_box_seal_open(sealed, publicKeyOf(key), key.bytes.subarray(0, 32));
        expect(Buffer.from(opened).toString("base64"), name).toBe(value);
      }
    },
  );

  it("main: is the scenario's secrets, list.php exactly as every release writes it", () => {
    const main = expected.scenarios.main;
    expect(main?.names.map((n) => n.name).sort()).toEqual([...MAIN_NAMES].sort());
    // "0", "1", "3", "123" and PHP_INT_MAX are integer keys for PHP, "007" and beyond stay strings.
    expect(main?.names.filter((n) => n.type === "int").map((n) => n.name)).toEqual([
      "0",
      "1",
      "3",
      "123",
      "9223372036854775807",
    ]);
    const byName = new Map(main?.values.map((v) => [v.name, v.value]));
    for (const [name, value] of MAIN_SECRETS) {
      if (name !== "2") expect(byName.get(name), name).toBe(Buffer.from(value).toString("base64"));
    }
    expect(readFileSync(path.join(FIXTURES, version, "main", "prod", "prod.list.php"), "latin1")).toBe(
      MAIN_LIST,
    );
    expect(readFileSync(path.join(FIXTURES, version, "integers", "prod", "prod.list.php"), "latin1")).toBe(
      "<?php\n\nreturn [\n    null,\n    null,\n    null,\n];\n",
    );
    expect(readFileSync(path.join(FIXTURES, version, "emptied", "prod", "prod.list.php"), "latin1")).toBe(
      "<?php\n\nreturn [];\n",
    );
  });

  it('main: every value file is `return "<rawurlencode with \\x>";` and reads back to those bytes', () => {
    const dir = path.join(FIXTURES, version, "main", "prod");
    for (const name of [...MAIN_NAMES, "encrypt.public"]) {
      const file = name === "encrypt.public" ? "prod.encrypt.public.php" : fileNames.secret("prod", name);
      const text = readFileSync(path.join(dir, file), "latin1");
      const label = file.slice(0, -".php".length);
      const bytes = parsePhpStringFile(Buffer.from(text, "latin1"));
      expect(text).toBe(
        `<?php // ${label} on ${exportedDate(text, label)}\n\nreturn ${phpStringLiteral(bytes)};\n`,
      );
    }
  });

  it("renders the decryption key file byte for byte as Symfony does", () => {
    for (const scenario of SCENARIOS) {
      const text = readFileSync(
        path.join(FIXTURES, version, scenario.name, "prod", "prod.decrypt.private.php"),
      );
      const key = decodeKeyFile(text, "fixture");
      const date = new Date(exportedDate(text.toString("latin1"), "prod.decrypt.private"));
      expect(Buffer.from(renderDecryptionKeyFile("prod", key.bytes, date), "latin1").equals(text)).toBe(true);
    }
  });
});

describe("the TypeScript writer of the unit and fault tests (test/support/symfony-vault.ts)", () => {
  it("writes what Symfony writes", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "backdrill-ts-vault-"));
    try {
      const vault = await generateVault(path.join(root, "prod"));
      for (const [name, value] of MAIN_SECRETS) if (name !== "2") await sealSecret(vault, name, value);
      expect(await readFile(path.join(vault.dir, "prod.list.php"), "latin1")).toBe(MAIN_LIST);
      const symfonyKey = readFileSync(path.join(FIXTURES, "7.4", "main", "prod", "prod.decrypt.private.php"));
      const ours = await readFile(path.join(vault.dir, "prod.decrypt.private.php"));
      // Same layout, other key and date: equal once both are rendered from their own bytes.
      for (const text of [symfonyKey, ours]) {
        const key = decodeKeyFile(text, "t");
        const date = new Date(exportedDate(text.toString("latin1"), "prod.decrypt.private"));
        expect(Buffer.from(renderDecryptionKeyFile("prod", key.bytes, date), "latin1").equals(text)).toBe(
          true,
        );
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
