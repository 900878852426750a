/**
 * age keys: `age1…` recipients (public, safe in config) and `AGE-SECRET-KEY-1…` identities (secret,
 * only on the machine that restores). Encodings per C2SP age spec, "Native recipient types".
 */
import { type KeyObject, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { UsageError } from "../errors.js";
import { registerSecret } from "../log/redact.js";
import { X25519_KEY_SIZE, x25519Identity } from "./age/x25519.js";
import { Bech32Error, bech32Decode, bech32Encode } from "./bech32.js";

/** Spec "The X25519 recipient type": recipients use HRP `age`, identities `AGE-SECRET-KEY-`. */
const X25519_RECIPIENT_HRP = "age";
const X25519_IDENTITY_HRP = "AGE-SECRET-KEY-";
/** Spec "The MLKEM768-X25519 … recipient type": identity HRP (a 32-byte seed). */
const PQ_IDENTITY_HRP = "AGE-SECRET-KEY-PQ-";

/**
 * Recipient types that age-encryption implements and we delegate to (loaded lazily, only when
 * such a key is used) (spec "Native recipient
 * types"), with their payload sizes: an ML-KEM-768 encapsulation key (1184) + X25519 point (32);
 * a compressed P-256 point (33); ML-KEM-768 + uncompressed P-256 point (1184 + 65).
 */
const DELEGATED_RECIPIENTS = {
  age1pq: { type: "mlkem768x25519", size: 1216, postQuantum: true },
  age1tag: { type: "p256tag", size: 33, postQuantum: false },
  age1tagpq: { type: "mlkem768p256tag", size: 1249, postQuantum: true },
} as const;

export type ParsedRecipient =
  | { kind: "x25519"; text: string; publicKey: Buffer }
  | { kind: "delegated"; text: string; type: string; postQuantum: boolean };

export type ParsedIdentity =
  | { kind: "x25519"; privateKey: KeyObject; publicKey: Buffer }
  | { kind: "delegated"; type: string; text: string };

function shorten(text: string): string {
  return text.length > 40 ? `${text.slice(0, 20)}…${text.slice(-8)}` : text;
}

/**
 * Parses a recipient. Throws a UsageError naming what is wrong; the message may quote the
 * recipient (public) but never quotes anything that looks like a secret key.
 */
export function parseRecipient(text: string): ParsedRecipient {
  if (/^AGE-SECRET-KEY-/i.test(text)) {
    throw new UsageError(
      "a secret age identity (AGE-SECRET-KEY-…) was given where a public recipient belongs",
      {
        hint: "configure the recipient (age1…) printed by `age-keygen -y IDENTITY_FILE`; keep the identity off the backup host",
      },
    );
  }
  if (/^ssh-(ed25519|rsa) /.test(text) || text.startsWith("ecdsa-sha2-")) {
    throw new UsageError(`SSH public keys are not supported as recipients (${text.split(" ")[0]})`, {
      hint: "generate an age key pair with `age-keygen` and use its age1… recipient",
    });
  }
  if (!text.startsWith("age1")) {
    throw new UsageError(`not an age recipient: ${JSON.stringify(shorten(text))} (expected age1…)`);
  }
  let decoded;
  try {
    decoded = bech32Decode(text);
  } catch (cause) {
    const why = cause instanceof Bech32Error ? cause.message : String(cause);
    throw new UsageError(`invalid age recipient ${JSON.stringify(shorten(text))}: ${why}`, { cause });
  }
  if (decoded.hrp !== decoded.hrp.toLowerCase()) {
    throw new UsageError(`invalid age recipient ${JSON.stringify(shorten(text))}: must be lower-case`);
  }
  if (decoded.hrp === X25519_RECIPIENT_HRP) {
    if (decoded.data.length !== X25519_KEY_SIZE) {
      throw new UsageError(`invalid age recipient ${JSON.stringify(shorten(text))}: wrong key length`);
    }
    return { kind: "x25519", text, publicKey: decoded.data };
  }
  const delegated = (
    DELEGATED_RECIPIENTS as Record<string, (typeof DELEGATED_RECIPIENTS)[keyof typeof DELEGATED_RECIPIENTS]>
  )[decoded.hrp];
  if (delegated === undefined) {
    const plugin = decoded.hrp.slice("age1".length);
    throw new UsageError(`age plugin recipients are not supported (age-plugin-${plugin}): ${shorten(text)}`, {
      hint: "backdrill encrypts in-process and does not run age plugins; use an X25519 (age1…) or age1pq1… recipient",
    });
  }
  if (decoded.data.length !== delegated.size) {
    throw new UsageError(`invalid age recipient ${JSON.stringify(shorten(text))}: wrong key length`);
  }
  // The key material itself (e.g. that a P-256 point is on the curve) is checked by age-encryption
  // when encryption starts; loading it here would cost every process ~250 ms and ~17 MiB.
  return { kind: "delegated", text, type: delegated.type, postQuantum: delegated.postQuantum };
}

export function isValidRecipient(text: string): boolean {
  try {
    parseRecipient(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses an identity. Error messages never include the identity, only what is wrong with it.
 * Throws a plain Error (callers add where the identity came from).
 */
export function parseIdentity(text: string): ParsedIdentity {
  if (text.startsWith("age1")) throw new Error("this is a public recipient (age1…), not a secret identity");
  if (!/^AGE-SECRET-KEY-/i.test(text)) throw new Error("not an age identity (expected AGE-SECRET-KEY-1…)");
  if (text !== text.toUpperCase()) throw new Error("malformed age identity: must be upper-case");
  let decoded;
  try {
    decoded = bech32Decode(text);
  } catch (cause) {
    throw new Error(
      `malformed age identity: ${cause instanceof Bech32Error ? cause.message : "invalid encoding"}`,
    );
  }
  if (decoded.data.length !== X25519_KEY_SIZE) throw new Error("malformed age identity: wrong key length");
  if (decoded.hrp === X25519_IDENTITY_HRP) return { kind: "x25519", ...x25519Identity(decoded.data) };
  if (decoded.hrp === PQ_IDENTITY_HRP) return { kind: "delegated", type: "mlkem768x25519", text };
  throw new Error("unsupported age identity type (plugin identities are not supported)");
}

/** The public recipient of an identity (`age-keygen -y`). Supports X25519 and ML-KEM-768-X25519. */
export async function identityToRecipient(identity: string): Promise<string> {
  const parsed = parseIdentity(identity);
  if (parsed.kind === "delegated") {
    const age = await import("age-encryption");
    return age.identityToRecipient(identity);
  }
  return bech32Encode(X25519_RECIPIENT_HRP, parsed.publicKey);
}

/**
 * A new X25519 key pair, as `age-keygen` makes it (spec: identity = read(CSPRNG, 32)). Tests check
 * the result against age-keygen -y and age-encryption.
 */
export async function generateIdentity(): Promise<{ identity: string; recipient: string }> {
  const scalar = randomBytes(X25519_KEY_SIZE);
  const identity = bech32Encode(X25519_IDENTITY_HRP, scalar, true);
  scalar.fill(0);
  return { identity, recipient: await identityToRecipient(identity) };
}

interface KeyLine {
  line: number;
  text: string;
}

/** Lines of an age key file: `#` comments and blank lines skipped (age's identity/recipients file). */
function keyLines(text: string): KeyLine[] {
  const out: KeyLine[] = [];
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  lines.forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    out.push({ line: index + 1, text: trimmed });
  });
  return out;
}

/**
 * Parses an age identity file: one identity per line, `#` comments and blank lines allowed (the
 * format `age-keygen` writes). Errors name `source` and the line, never the line's content.
 */
export function parseIdentityFile(text: string, source: string): string[] {
  if (text.startsWith("age-encryption.org/") || text.startsWith("-----BEGIN AGE ENCRYPTED FILE-----")) {
    throw new UsageError(`identity file ${source} is itself age-encrypted (passphrase-protected)`, {
      hint: "decrypt it first (age -d) into a file readable only by the backdrill user",
    });
  }
  if (text.includes("-----BEGIN OPENSSH PRIVATE KEY-----") || text.includes("PRIVATE KEY-----")) {
    throw new UsageError(`identity file ${source} holds an SSH/PEM private key, which is not supported`, {
      hint: "use an age identity file created by `age-keygen -o FILE`",
    });
  }
  const identities: string[] = [];
  for (const { line, text: value } of keyLines(text)) {
    // Registered before validation, so even a malformed secret never reaches a log unmasked.
    registerSecret(value);
    try {
      parseIdentity(value);
    } catch (cause) {
      throw new UsageError(`identity file ${source}, line ${line}: ${(cause as Error).message}`);
    }
    identities.push(value);
  }
  if (identities.length === 0) {
    throw new UsageError(`identity file ${source} contains no identities`, {
      hint: "expected lines starting AGE-SECRET-KEY-1 (see `age-keygen`)",
    });
  }
  return identities;
}

/** Reads an identity file and registers every identity in it for redaction. */
export async function readIdentityFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES" || code === "EPERM"
          ? "permission denied"
          : code === "EISDIR"
            ? "is a directory"
            : (cause as Error).message;
    throw new UsageError(`cannot read identity file ${path}: ${why}`, { cause });
  }
  return parseIdentityFile(text, path);
}

/** Parses a recipients file (`recipientsFile` in a policy): one recipient per line, `#` comments. */
export function parseRecipientsFile(text: string, source: string): string[] {
  const out: string[] = [];
  for (const { line, text: value } of keyLines(text)) {
    try {
      parseRecipient(value);
    } catch (cause) {
      throw new UsageError(`recipients file ${source}, line ${line}: ${(cause as Error).message}`, {
        hint: cause instanceof UsageError ? cause.hint : undefined,
      });
    }
    out.push(value);
  }
  if (out.length === 0) throw new UsageError(`recipients file ${source} contains no recipients`);
  return out;
}
