/**
 * The native X25519 recipient type (C2SP age spec, "The X25519 recipient type"), on node:crypto.
 *
 * node:crypto has no raw X25519 key import, so raw 32-byte keys are wrapped in their fixed DER
 * envelopes (RFC 8410: PKCS#8 for private keys, SubjectPublicKeyInfo for public keys, OID 1.3.101.110).
 */
import {
  type KeyObject,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
} from "node:crypto";
import { DecryptionError } from "../../errors.js";
import { decodeBase64, encodeBase64 } from "./base64.js";
import type { Stanza } from "./header.js";
import { hkdf, openFileKey, sealFileKey } from "./primitives.js";

/** RFC 7748 §5: X25519 scalars and u-coordinates are 32 bytes. */
export const X25519_KEY_SIZE = 32;
/** RFC 8410 §7 PKCS#8 prefix for an X25519 private key (followed by the 32-byte scalar). */
const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
/** RFC 8410 §4 SubjectPublicKeyInfo prefix for an X25519 public key (followed by 32 bytes). */
const SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");
/** Spec "X25519 recipient stanza": the stanza type, first argument. */
export const X25519_STANZA_TYPE = "X25519";
/** Spec "X25519 recipient stanza": HKDF info for the wrap key. */
const X25519_INFO = "age-encryption.org/v1/X25519";

export function x25519PrivateKey(scalar: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, scalar]), format: "der", type: "pkcs8" });
}

export function x25519PublicKey(point: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, point]), format: "der", type: "spki" });
}

export function rawPublicKey(key: KeyObject): Buffer {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  return publicKey.export({ format: "der", type: "spki" }).subarray(SPKI_PREFIX.length);
}

/** An X25519 identity ready for unwrapping: the private key and its public point (for the salt). */
export interface X25519Identity {
  privateKey: KeyObject;
  publicKey: Buffer;
}

export function x25519Identity(scalar: Uint8Array): X25519Identity {
  const privateKey = x25519PrivateKey(scalar);
  return { privateKey, publicKey: rawPublicKey(privateKey) };
}

function wrapKey(sharedSecret: Buffer, share: Uint8Array, recipient: Uint8Array): Buffer {
  // Spec: salt = ephemeral share || recipient.
  return hkdf(sharedSecret, Buffer.concat([share, recipient]), X25519_INFO);
}

/** Wraps the file key for one recipient with a fresh ephemeral key (spec: one per stanza and file). */
export function wrapX25519(recipient: Buffer, fileKey: Uint8Array): Stanza {
  const ephemeral = generateKeyPairSync("x25519");
  const share = rawPublicKey(ephemeral.publicKey);
  const secret = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: x25519PublicKey(recipient) });
  return {
    args: [X25519_STANZA_TYPE, encodeBase64(share)],
    body: sealFileKey(wrapKey(secret, share, recipient), fileKey),
  };
}

/**
 * Tries one identity on one X25519 stanza. Returns the file key, or null when the stanza is for
 * someone else. Throws on a malformed stanza, as the spec requires ("MUST otherwise reject").
 */
export function unwrapX25519(stanza: Stanza, identity: X25519Identity): Buffer | null {
  if (stanza.args.length !== 2) throw new DecryptionError("malformed X25519 stanza: expected 2 arguments");
  const share = decodeBase64(stanza.args[1] as string);
  if (share === null || share.length !== X25519_KEY_SIZE) {
    throw new DecryptionError("malformed X25519 stanza: the ephemeral share is not 32 bytes of base64");
  }
  // Spec: "It MUST check that the body length is exactly 32 bytes before attempting to decrypt it".
  if (stanza.body.length !== 32)
    throw new DecryptionError("malformed X25519 stanza: the body is not 32 bytes");
  let secret: Buffer;
  try {
    secret = diffieHellman({ privateKey: identity.privateKey, publicKey: x25519PublicKey(share) });
  } catch (cause) {
    // OpenSSL refuses low-order points (an all-zero shared secret), which the spec says MUST abort.
    throw new DecryptionError("malformed X25519 stanza: invalid ephemeral share", { cause });
  }
  if (secret.every((byte) => byte === 0))
    throw new DecryptionError("malformed X25519 stanza: low-order share");
  return openFileKey(wrapKey(secret, share, identity.publicKey), stanza.body);
}
