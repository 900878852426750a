/**
 * Ed25519 signing keys (node:crypto): the backup host signs every manifest and WAL record it
 * writes, and drill, restore, verify, prune and status act only on what a trusted key signed
 * (docs/security.md (Signed snapshots)). The age keys keep the data secret; these keep it authentic: the
 * age recipients are public, so without a signature anyone who can write to the repository can
 * forge a snapshot that decrypts fine.
 *
 *   private key: a PKCS#8 PEM file (`backdrill keys signing-keygen --out FILE`, 0600), on the
 *                backup host only; `openssl pkey -in FILE -pubout` reads it too.
 *   public key:  `ed25519:` + base64 of the 32 raw key bytes, in the policy's (or drill's)
 *                `signing.publicKeys`.
 *   signature:   `{ algorithm: "ed25519", publicKey, value }` stored beside what it signs; `value`
 *                is base64 of the Ed25519 signature over `<context>\n` + the canonical JSON of the
 *                signed value (canonical-json.ts). The context ("backdrill-manifest-v1", ...)
 *                keeps a signature of one kind of record from being replayed as another.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { z } from "zod";
import { UsageError } from "../errors.js";
import { registerSecret } from "../log/redact.js";
import { canonicalJson } from "./canonical-json.js";

export const SIGNING_ALGORITHM = "ed25519";
const PUBLIC_KEY_PREFIX = "ed25519:";
/** `ed25519:` + base64 of 32 bytes (43 characters and one `=`). */
export const SIGNING_PUBLIC_KEY = /^ed25519:[A-Za-z0-9+/]{43}=$/;
const SIGNATURE_BYTES = 64;

/** A private signing key, loaded; `publicKey` is its text form. */
export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: string;
}

export const signatureSchema = z.strictObject({
  algorithm: z.literal(SIGNING_ALGORITHM),
  publicKey: z.string().regex(SIGNING_PUBLIC_KEY),
  value: z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/),
});
export type DetachedSignature = z.infer<typeof signatureSchema>;

export type SignatureCheck = { ok: true; publicKey: string } | { ok: false; problem: string };

/** The text form of a public key object. */
export function publicKeyText(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" });
  if (jwk.crv !== "Ed25519" || typeof jwk.x !== "string") throw new Error("not an Ed25519 key");
  return `${PUBLIC_KEY_PREFIX}${Buffer.from(jwk.x, "base64url").toString("base64")}`;
}

/** Makes a key pair: the private key as PKCS#8 PEM and the public key's text form. */
export function generateSigningKey(): { privateKeyPem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicKey: publicKeyText(publicKey),
  };
}

/** Parses a public key's text form; the UsageError says what is wrong with it. */
export function parseSigningPublicKey(text: string): KeyObject {
  if (text.startsWith("ssh-ed25519 ")) {
    throw new UsageError(
      "an SSH public key was given where a backdrill signing public key belongs (ed25519:…)",
      { hint: "use the line `backdrill keys signing-keygen` printed" },
    );
  }
  if (!SIGNING_PUBLIC_KEY.test(text)) {
    throw new UsageError(
      `not a signing public key: ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)} (expected ed25519: and 44 base64 characters)`,
    );
  }
  const raw = Buffer.from(text.slice(PUBLIC_KEY_PREFIX.length), "base64");
  return createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") },
    format: "jwk",
  });
}

/** Parses a PKCS#8 PEM Ed25519 private key; `source` names the file in errors. */
export function parseSigningKey(pem: string, source: string): SigningKey {
  registerSecret(pem);
  for (const line of pem.split("\n")) if (!line.startsWith("-----")) registerSecret(line);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: "pem" });
  } catch {
    throw new UsageError(`signing key file ${source} does not hold a PEM private key`, {
      hint: "create one with `backdrill keys signing-keygen --out FILE`",
    });
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new UsageError(
      `signing key file ${source} holds a ${privateKey.asymmetricKeyType ?? "unknown"} key, not an Ed25519 key`,
      { hint: "create one with `backdrill keys signing-keygen --out FILE`" },
    );
  }
  return { privateKey, publicKey: publicKeyText(createPublicKey(privateKey)) };
}

/**
 * Reads the signing key file. Refuses a file others can read or write (like ssh): whoever reads
 * it can sign snapshots that every drill and restore host trusts.
 */
export async function readSigningKeyFile(path: string, field = "signing.keyFile"): Promise<SigningKey> {
  let text: string;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw Object.assign(new Error("not a file"), { code: "EISDIR" });
    if ((info.mode & 0o077) !== 0) {
      throw new UsageError(
        `${field} ${path} is accessible by group or others (mode 0${(info.mode & 0o777).toString(8)}): chmod 600 ${path}`,
      );
    }
    text = await readFile(path, "utf8");
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file (create it with `backdrill keys signing-keygen --out FILE`)"
        : code === "EACCES" || code === "EPERM"
          ? "permission denied"
          : code === "EISDIR"
            ? "is not a file"
            : (error as Error).message;
    throw new UsageError(`cannot read ${field} ${path}: ${why}`, { cause: error });
  }
  return parseSigningKey(text, path);
}

function message(context: string, value: unknown): Buffer {
  return Buffer.from(`${context}\n${canonicalJson(value)}`, "utf8");
}

/** Signs `value` (canonical JSON) under `context`. */
export function signValue(context: string, value: unknown, key: SigningKey): DetachedSignature {
  return {
    algorithm: SIGNING_ALGORITHM,
    publicKey: key.publicKey,
    value: sign(null, message(context, value), key.privateKey).toString("base64"),
  };
}

/**
 * Checks a signature (as read: untrusted, any shape) over `value` under `context`, made by one of
 * `trusted` (public keys in text form). The problem says which of the three went wrong: a
 * malformed signature, a key this host does not trust, or content that is not what was signed.
 */
export function verifyValue(
  context: string,
  value: unknown,
  signature: unknown,
  trusted: ReadonlySet<string>,
): SignatureCheck {
  const parsed = signatureSchema.safeParse(signature);
  if (!parsed.success) return { ok: false, problem: "its signature is malformed" };
  const { publicKey, value: encoded } = parsed.data;
  if (!trusted.has(publicKey)) {
    return { ok: false, problem: `it is signed by ${publicKey}, which is not a trusted signing key` };
  }
  const bytes = Buffer.from(encoded, "base64");
  // Canonical base64 only: the decoder ignores the unused low bits of the last character, so
  // without this check an altered signature text could still verify.
  if (bytes.length !== SIGNATURE_BYTES || bytes.toString("base64") !== encoded) {
    return { ok: false, problem: "its signature is malformed" };
  }
  let good: boolean;
  try {
    good = verify(null, message(context, value), parseSigningPublicKey(publicKey), bytes);
  } catch {
    // Content that cannot be serialized canonically (nested too deep) was never signed by us.
    good = false;
  }
  return good
    ? { ok: true, publicKey }
    : { ok: false, problem: "its signature does not match its content (it was altered after signing)" };
}
