/**
 * The symmetric primitives of the age v1 format (C2SP age spec, "Conventions used in this
 * document"), on node:crypto so that OpenSSL does the work.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, timingSafeEqual } from "node:crypto";

/** ChaCha20-Poly1305 (RFC 7539): 256-bit key, 96-bit nonce, 128-bit tag. */
export const AEAD_KEY_SIZE = 32;
export const AEAD_NONCE_SIZE = 12;
export const AEAD_TAG_SIZE = 16;
/** Spec "File key": 16 bytes of CSPRNG output. */
export const FILE_KEY_SIZE = 16;
/** Spec "Conventions": HKDF output is always 32 bytes. */
const HKDF_OUTPUT_SIZE = 32;
/** Spec "X25519 recipient stanza" and "scrypt recipient stanza": the wrap nonce is 12 zero bytes. */
const ZERO_NONCE = Buffer.alloc(AEAD_NONCE_SIZE);

export const CIPHER = "chacha20-poly1305";

/** HKDF-SHA-256 (RFC 5869) with a 32-byte output, as the spec's every key derivation. */
export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync("sha256", ikm, salt, info, HKDF_OUTPUT_SIZE));
}

/** Spec "Header MAC": HMAC key = HKDF-SHA-256(ikm = file key, salt = empty, info = "header"). */
export function headerMac(fileKey: Uint8Array, headerUpToMacMark: Uint8Array): Buffer {
  const key = hkdf(fileKey, Buffer.alloc(0), "header");
  return createHmac("sha256", key).update(headerUpToMacMark).digest();
}

export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Spec "Payload": payload key = HKDF-SHA-256(ikm = file key, salt = nonce, info = "payload"). */
export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return hkdf(fileKey, nonce, "payload");
}

/** Encrypts a file key under a wrap key with the fixed zero nonce (stanza bodies). */
export function sealFileKey(wrapKey: Uint8Array, fileKey: Uint8Array): Buffer {
  const cipher = createCipheriv(CIPHER, wrapKey, ZERO_NONCE, { authTagLength: AEAD_TAG_SIZE });
  return Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()]);
}

/** Opens a stanza body; null when authentication fails (wrong identity or tampered stanza). */
export function openFileKey(wrapKey: Uint8Array, body: Uint8Array): Buffer | null {
  if (body.length !== FILE_KEY_SIZE + AEAD_TAG_SIZE) return null;
  const decipher = createDecipheriv(CIPHER, wrapKey, ZERO_NONCE, { authTagLength: AEAD_TAG_SIZE });
  decipher.setAuthTag(body.subarray(FILE_KEY_SIZE));
  const plain = decipher.update(body.subarray(0, FILE_KEY_SIZE));
  try {
    decipher.final();
  } catch {
    return null;
  }
  return plain;
}
