/**
 * Canonical unpadded base64 (C2SP age spec, "Conventions"): standard alphabet (RFC 4648 §4) without
 * `=`; "decoders MUST reject non-canonical encodings and encodings ending with `=` padding".
 * Buffer's decoder is lenient (skips junk, accepts padding and non-zero trailing bits), so every
 * decode is checked by re-encoding.
 */
const ALPHABET = /^[A-Za-z0-9+/]*$/;

export function encodeBase64(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64").replace(/=+$/, "");
}

/** Returns null for anything that is not canonical unpadded base64. */
export function decodeBase64(text: string): Buffer | null {
  if (!ALPHABET.test(text) || text.length % 4 === 1) return null;
  const data = Buffer.from(text, "base64");
  return encodeBase64(data) === text ? data : null;
}
