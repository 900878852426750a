/**
 * Writes a Symfony secrets vault in the format Symfony's SodiumVault writes (symfony/framework-bundle
 * Secrets/SodiumVault.php, 5.4 to 7.4), without PHP and without Docker. Vaults written by Symfony
 * itself are in test/fixtures/symfony-secrets/ and test/support/symfony-php.ts; this writer stays
 * for what Symfony never writes and the tests need: a secret sealed to another key, a listed name
 * without its file, a file without its name (the failure tests), and fast vaults for the unit and
 * fault tests. real-vaults.test.ts checks its output against Symfony's own, byte for byte.
 *
 *   generateKeys(): keypair = sodium_crypto_box_keypair() (secret || public, 64 bytes);
 *     export('decrypt.private', keypair); export('encrypt.public', public key)
 *   seal($name, $value): export("$name." . substr(md5($name), 0, 6), sodium_crypto_box_seal($value, $public));
 *     $list[$name] = null; uksort($list, 'strnatcmp');
 *     list.php = "<?php\n\nreturn " . VarExporter::export($list) . ";\n"
 *   export($file, $data): "<?php // <env>.<file> on <date('r')>\n\n" .
 *     ('decrypt.private' === $file ? "// SYMFONY_DECRYPTION_SECRET=" . base64_encode($data) . "\n" : '') .
 *     'return "' . str_replace('%', '\x', rawurlencode($data)) . "\";\n"
 *
 * This is a separate implementation from the engine's on purpose (own rawurlencode, VarExporter
 * and strnatcmp), so the engine is not tested against itself.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import sodium from "libsodium-wrappers";

export interface SymfonyVault {
  dir: string;
  environment: string;
  /** secret key || public key, as in <env>.decrypt.private.php. */
  keypair: Uint8Array;
  publicKey: Uint8Array;
  /** SYMFONY_DECRYPTION_SECRET's value. */
  decryptionSecret: string;
}

async function lib(): Promise<typeof sodium> {
  await sodium.ready;
  return sodium;
}

/** PHP rawurlencode: every byte but A-Z a-z 0-9 - _ . ~ as %XX (uppercase hex). */
function rawurlencode(data: Uint8Array): string {
  let out = "";
  for (const byte of data) {
    const unreserved =
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d ||
      byte === 0x5f ||
      byte === 0x2e ||
      byte === 0x7e;
    out += unreserved ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** PHP date('r'), e.g. "Sat, 28 Nov 2026 02:15:00 +0000". */
function phpDateR(date: Date): string {
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const p = (n: number) => String(n).padStart(2, "0");
  return `${days[date.getUTCDay()]}, ${p(date.getUTCDate())} ${months[date.getUTCMonth()]} ${date.getUTCFullYear()} ${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`;
}

function exportFile(environment: string, file: string, data: Uint8Array): string {
  const b64 =
    file === "decrypt.private"
      ? `// SYMFONY_DECRYPTION_SECRET=${Buffer.from(data).toString("base64")}\n`
      : "";
  const encoded = rawurlencode(data).replace(/%/g, "\\x");
  return `<?php // ${environment}.${file} on ${phpDateR(new Date())}\n\n${b64}return "${encoded}";\n`;
}

/** PHP strnatcmp (case-sensitive natural order), enough for \w names. */
function strnatcmp(a: string, b: string): number {
  const chunks = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const x = chunks(a);
  const y = chunks(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const l = x[i]!;
    const r = y[i]!;
    if (/^\d/.test(l) && /^\d/.test(r)) {
      if (Number(l) !== Number(r)) return Number(l) - Number(r);
    } else if (l !== r) {
      return l < r ? -1 : 1;
    }
  }
  return x.length - y.length;
}

/** A decimal-integer string PHP stores as an integer array key ("0", "123"; not "007"). */
function isIntegerKey(name: string): boolean {
  return /^(0|[1-9][0-9]{0,18})$/.test(name) && BigInt(name) <= 2n ** 63n - 1n;
}

/**
 * VarExporter::export() of [name => null, ...]: four-space indent, `null`, and no key where PHP
 * would assign the same integer anyway (the next one after the largest so far, from 0).
 */
function varExporterList(names: readonly string[]): string {
  if (names.length === 0) return "<?php\n\nreturn [];\n";
  let next = 0n;
  let body = "";
  for (const name of names) {
    if (isIntegerKey(name)) {
      const key = BigInt(name);
      body += key === next ? "    null,\n" : `    ${name} => null,\n`;
      if (key >= next) next = key + 1n;
    } else {
      body += `    '${name.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}' => null,\n`;
    }
  }
  return `<?php\n\nreturn [\n${body}];\n`;
}

function secretFileName(environment: string, name: string): string {
  return `${environment}.${name}.${createHash("md5").update(name).digest("hex").slice(0, 6)}.php`;
}

/** Symfony's `secrets:generate-keys` in `dir` (its basename is the environment). */
export async function generateVault(dir: string): Promise<SymfonyVault> {
  const s = await lib();
  const environment = path.basename(dir);
  await mkdir(dir, { recursive: true });
  const pair = s.crypto_box_keypair();
  const keypair = new Uint8Array([...pair.privateKey, ...pair.publicKey]);
  await writeFile(
    path.join(dir, `${environment}.encrypt.public.php`),
    exportFile(environment, "encrypt.public", pair.publicKey),
  );
  await writeFile(
    path.join(dir, `${environment}.decrypt.private.php`),
    exportFile(environment, "decrypt.private", keypair),
  );
  return {
    dir,
    environment,
    keypair,
    publicKey: pair.publicKey,
    decryptionSecret: Buffer.from(keypair).toString("base64"),
  };
}

/** The names of a list.php this writer wrote (secret names are \w, so no escapes to undo). */
async function readList(vault: SymfonyVault): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path.join(vault.dir, `${vault.environment}.list.php`), "utf8");
  } catch {
    return [];
  }
  let next = 0n;
  return [...text.matchAll(/^ {4}(?:'(\w+)'|(\d+))?(?: => )?null,$/gm)].map((m) => {
    if (m[1] !== undefined) return m[1];
    const key = m[2] === undefined ? next : BigInt(m[2]);
    if (key >= next) next = key + 1n;
    return String(key);
  });
}

async function writeList(vault: SymfonyVault, names: string[]): Promise<void> {
  const unique = [...new Set(names)].sort(strnatcmp);
  await writeFile(path.join(vault.dir, `${vault.environment}.list.php`), varExporterList(unique));
}

export interface SealOptions {
  /** Seal to this public key instead of the vault's (a secret the vault key cannot open). */
  publicKey?: Uint8Array;
  /** Write the file but leave the name out of the list. */
  unlisted?: boolean;
}

/** Symfony's `secrets:set NAME` with `value`. */
export async function sealSecret(
  vault: SymfonyVault,
  name: string,
  value: Uint8Array | string,
  options: SealOptions = {},
): Promise<void> {
  if (!/^\w+$/.test(name)) throw new Error(`"${name}" is not a valid Symfony secret name`);
  const s = await lib();
  const data = typeof value === "string" ? new TextEncoder().encode(value) : value;
  const sealed = s.crypto_box_seal(data, options.publicKey ?? vault.publicKey);
  await writeFile(
    path.join(vault.dir, secretFileName(vault.environment, name)),
    exportFile(
      vault.environment,
      `${name}.${createHash("md5").update(name).digest("hex").slice(0, 6)}`,
      sealed,
    ),
  );
  if (options.unlisted !== true) await writeList(vault, [...(await readList(vault)), name]);
}

/** Deletes a secret's file but keeps its name in the list (a vault damaged by hand). */
export async function removeSecretFile(vault: SymfonyVault, name: string): Promise<void> {
  await rm(path.join(vault.dir, secretFileName(vault.environment, name)));
}

/** Another keypair's public key, for secrets sealed to the wrong key. */
export async function foreignPublicKey(): Promise<Uint8Array> {
  return (await lib()).crypto_box_keypair().publicKey;
}

/** Opens a secret the way SodiumVault::reveal does, for asserting restored vaults in tests. */
export async function revealSecret(
  dir: string,
  environment: string,
  name: string,
  keypair: Uint8Array,
): Promise<Uint8Array> {
  const s = await lib();
  const text = await readFile(path.join(dir, secretFileName(environment, name)), "latin1");
  const match = /return "((?:[A-Za-z0-9_.~-]|\\x[0-9A-F]{2})*)";/.exec(text);
  if (match === null) throw new Error("unexpected secret file format");
  const sealed = Buffer.from(
    match[1]!
      .replace(/\\x/g, "%")
      .replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
    "latin1",
  );
  return s.crypto_box_seal_open(sealed, keypair.subarray(32), keypair.subarray(0, 32));
}

export { secretFileName };
