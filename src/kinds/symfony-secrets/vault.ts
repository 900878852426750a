/**
 * A Symfony secrets vault in memory, and the proof that a decryption key opens it.
 *
 * Facts of the format (Symfony's SodiumVault):
 *   - `<env>.decrypt.private.php`: the 64-byte sodium box keypair, secret key || public key;
 *     SYMFONY_DECRYPTION_SECRET holds the same 64 bytes as base64 (or base64url);
 *   - `<env>.encrypt.public.php`: the 32-byte public key;
 *   - `<env>.list.php`: the secret names, as array keys;
 *   - `<env>.<NAME>.<md5(NAME)[0:6]>.php`: sodium_crypto_box_seal(value, public key).
 *
 * `inspectVault` opens every listed secret with crypto_box_seal_open and forgets the value at once
 * (the buffer is zeroed); nothing here keeps, returns, logs or writes a secret value.
 */
import { SECRET_NAME } from "./names.js";
import { createHash } from "node:crypto";
import { lstat, readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import sodium from "libsodium-wrappers";
import { OperationError } from "../../errors.js";
import { PhpParseError, parsePhpListFile, parsePhpStringFile } from "./php.js";

export const KEYPAIR_BYTES = 64;
export const KEY_BYTES = 32;

export interface Keypair {
  /** secret key (32) || public key (32), as Symfony stores it. */
  bytes: Uint8Array;
}

export function secretKeyOf(keypair: Keypair): Uint8Array {
  return keypair.bytes.subarray(0, KEY_BYTES);
}

export function publicKeyOf(keypair: Keypair): Uint8Array {
  return keypair.bytes.subarray(KEY_BYTES, KEYPAIR_BYTES);
}

export function wipe(...buffers: Array<Uint8Array | undefined>): void {
  for (const buffer of buffers) buffer?.fill(0);
}

let ready: Promise<typeof sodium> | undefined;
/** libsodium (WebAssembly) initialised once. */
export function loadSodium(): Promise<typeof sodium> {
  ready ??= sodium.ready.then(() => sodium);
  return ready;
}

export const fileNames = {
  list: (env: string): string => `${env}.list.php`,
  publicKey: (env: string): string => `${env}.encrypt.public.php`,
  privateKey: (env: string): string => `${env}.decrypt.private.php`,
  secret: (env: string, name: string): string =>
    `${env}.${name}.${createHash("md5").update(name, "utf8").digest("hex").slice(0, 6)}.php`,
};

/** Names sorted the way Symfony sorts its list (strnatcmp): a2 before a10. */
export function naturalCompare(a: string, b: string): number {
  const split = (s: string): string[] => s.match(/\d+|\D+/g) ?? [];
  const left = split(a);
  const right = split(b);
  for (let i = 0; i < Math.min(left.length, right.length); i += 1) {
    const x = left[i] as string;
    const y = right[i] as string;
    if (/^\d/.test(x) && /^\d/.test(y)) {
      const diff = Number(x) - Number(y);
      if (diff !== 0) return diff;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return left.length - right.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** SYMFONY_DECRYPTION_SECRET (base64 or base64url of the keypair) → keypair; throws without echoing it. */
export function decodeKeyText(value: string, source: string): Keypair {
  const text = value.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    throw new OperationError(`${source}: not base64 (expected SYMFONY_DECRYPTION_SECRET's value)`);
  }
  const bytes = new Uint8Array(Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64"));
  if (bytes.length !== KEYPAIR_BYTES) {
    wipe(bytes);
    throw new OperationError(
      `${source}: decodes to ${bytes.length} bytes, expected the ${KEYPAIR_BYTES}-byte sodium keypair`,
    );
  }
  return { bytes };
}

/** `<env>.decrypt.private.php` content → keypair. */
export function decodeKeyFile(content: Buffer, source: string): Keypair {
  let bytes: Buffer;
  try {
    bytes = parsePhpStringFile(content);
  } catch (error) {
    throw new OperationError(`${source}: cannot read the key: ${(error as Error).message}`);
  }
  if (bytes.length !== KEYPAIR_BYTES) {
    wipe(bytes);
    throw new OperationError(
      `${source}: holds ${bytes.length} bytes, expected the ${KEYPAIR_BYTES}-byte sodium keypair`,
    );
  }
  return { bytes: new Uint8Array(bytes) };
}

export interface VaultFile {
  name: string;
  mode: number;
  data: Buffer;
}

/** Regular files of the vault directory (not recursive); subdirectories are reported, not read. */
export async function readVaultDir(dir: string): Promise<{ files: VaultFile[]; skipped: string[] }> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new OperationError(
      code === "ENOENT"
        ? `vault directory ${dir} does not exist`
        : `cannot read vault directory ${dir}: ${(error as Error).message}`,
    );
  }
  const files: VaultFile[] = [];
  const skipped: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(dir, entry.name);
    const info = entry.isSymbolicLink() ? await stat(full).catch(() => undefined) : await lstat(full);
    if (info === undefined || !info.isFile()) {
      skipped.push(entry.name);
      continue;
    }
    files.push({ name: entry.name, mode: info.mode & 0o777, data: await readFile(full) });
  }
  return { files, skipped };
}

export interface VaultReport {
  environment: string;
  /** Names in `<env>.list.php`, natural order. */
  listed: string[];
  listError: string | undefined;
  /** The keypair's public half derives from its secret half. */
  keypairConsistent: boolean;
  /** `<env>.encrypt.public.php` equals the keypair's public half; undefined when the file is absent. */
  publicKeyMatches: boolean | undefined;
  publicKeyError: string | undefined;
  /** Listed secrets that did not open (or whose file does not parse), with why. */
  failing: Array<{ name: string; reason: string }>;
  /** Listed secrets without their file. */
  missingFiles: string[];
  /** Secret files (`<env>.<NAME>.<hash>.php`) whose name is not in the list. */
  unlisted: string[];
  opened: number;
  /** sha256:<hex> of the public key. */
  fingerprint: string;
}

export function fingerprintOf(publicKey: Uint8Array): string {
  return `sha256:${createHash("sha256").update(publicKey).digest("hex")}`;
}

/**
 * The names `<env>.list.php` gives Symfony, natural order, or why it cannot be read. No list.php
 * is what a vault holds after `secrets:generate-keys` and before the first `secrets:set`; Symfony
 * lists no secrets then, which is fine unless secret files lie next to it (a lost list).
 */
function readList(
  file: Buffer | undefined,
  environment: string,
  secretFiles: number,
): { listed: string[]; listError: string | undefined } {
  const listName = fileNames.list(environment);
  if (file === undefined) {
    return secretFiles === 0
      ? { listed: [], listError: undefined }
      : {
          listed: [],
          listError: `${listName} is missing, but ${secretFiles} secret file(s) are in the vault (Symfony would load none of them)`,
        };
  }
  let names: string[];
  try {
    names = parsePhpListFile(file);
  } catch (error) {
    return {
      listed: [],
      listError: `${listName}: ${error instanceof PhpParseError ? error.message : String(error)}`,
    };
  }
  const invalid = names.findIndex((name) => !SECRET_NAME.test(name));
  if (invalid !== -1) {
    return {
      listed: [],
      // The name is not echoed: it is untrusted text that could forge log lines.
      listError: `${listName}: key number ${invalid + 1} is not a secret name Symfony accepts (letters, digits and _ only)`,
    };
  }
  return { listed: names.sort(naturalCompare), listError: undefined };
}

/**
 * Checks `key` against the vault: derives the public key, compares it with the public key file,
 * and opens every listed secret. Returns what failed; never throws for a secret that fails.
 */
export async function inspectVault(
  files: readonly VaultFile[],
  environment: string,
  key: Keypair,
): Promise<VaultReport> {
  const lib = await loadSodium();
  const byName = new Map(files.map((file) => [file.name, file.data]));
  const secretKey = secretKeyOf(key);
  const publicKey = publicKeyOf(key);
  const derived = lib.crypto_scalarmult_base(secretKey);
  const keypairConsistent = Buffer.from(derived).equals(Buffer.from(publicKey));

  let publicKeyMatches: boolean | undefined;
  let publicKeyError: string | undefined;
  const publicFile = byName.get(fileNames.publicKey(environment));
  if (publicFile !== undefined) {
    try {
      const stored = parsePhpStringFile(publicFile);
      publicKeyMatches = stored.equals(Buffer.from(publicKey));
      if (!publicKeyMatches)
        publicKeyError = `${fileNames.publicKey(environment)} holds another public key (${fingerprintOf(stored)})`;
    } catch (error) {
      publicKeyMatches = false;
      publicKeyError = `${fileNames.publicKey(environment)}: ${(error as Error).message}`;
    }
  }

  const pattern = new RegExp(
    `^${environment.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&")}\\.(\\w+)\\.([0-9a-f]{6})\\.php$`,
  );
  const secretFiles = files.filter((file) => pattern.test(file.name));
  const { listed, listError } = readList(
    byName.get(fileNames.list(environment)),
    environment,
    secretFiles.length,
  );

  const failing: VaultReport["failing"] = [];
  const missingFiles: string[] = [];
  const expectedFiles = new Set<string>();
  let opened = 0;
  for (const name of listed) {
    const fileName = fileNames.secret(environment, name);
    expectedFiles.add(fileName);
    const content = byName.get(fileName);
    if (content === undefined) {
      missingFiles.push(name);
      continue;
    }
    let sealed: Buffer;
    try {
      sealed = parsePhpStringFile(content);
    } catch (error) {
      failing.push({ name, reason: `${fileName} cannot be read: ${(error as Error).message}` });
      continue;
    }
    try {
      const value = lib.crypto_box_seal_open(sealed, publicKey, secretKey);
      wipe(value);
      opened += 1;
    } catch {
      failing.push({ name, reason: "does not open with this key (sealed to another key, or damaged)" });
    }
  }
  wipe(derived);

  const unlisted: string[] = [];
  for (const file of secretFiles) {
    if (!expectedFiles.has(file.name))
      unlisted.push((pattern.exec(file.name) as RegExpExecArray)[1] as string);
  }
  return {
    environment,
    listed,
    listError,
    keypairConsistent,
    publicKeyMatches,
    publicKeyError,
    failing,
    missingFiles,
    unlisted: unlisted.sort(naturalCompare),
    opened,
    fingerprint: fingerprintOf(publicKey),
  };
}

/** Everything that makes the key unfit to restore this vault, one line each; empty when fit. */
export function vaultProblems(report: VaultReport): string[] {
  const out: string[] = [];
  if (report.listError !== undefined) out.push(report.listError);
  if (!report.keypairConsistent)
    out.push("the key's public half does not belong to its secret half (damaged key)");
  if (report.publicKeyMatches === false)
    out.push(report.publicKeyError ?? "the public key file does not match the key");
  for (const { name, reason } of report.failing) out.push(`secret ${name}: ${reason}`);
  for (const name of report.missingFiles) {
    out.push(
      `secret ${name}: listed in ${fileNames.list(report.environment)} but ${fileNames.secret(report.environment, name)} is missing`,
    );
  }
  return out;
}
