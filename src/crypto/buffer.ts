/**
 * Whole-buffer helpers for small payloads (facts, manifests, test fixtures). They run the same
 * Transforms as streaming use, so there is one implementation of the format.
 */
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createDecryptStream } from "./decrypt.js";
import { createEncryptStream } from "./encrypt.js";

async function collect(input: Uint8Array | string, transform: Transform): Promise<Buffer> {
  const parts: Buffer[] = [];
  const data = typeof input === "string" ? Buffer.from(input, "utf8") : Buffer.from(input);
  await pipeline(Readable.from([data]), transform, async (source: AsyncIterable<Buffer>) => {
    for await (const part of source) parts.push(part);
  });
  return Buffer.concat(parts);
}

export function encryptBuffer(
  plaintext: Uint8Array | string,
  recipients: readonly string[],
): Promise<Buffer> {
  return collect(plaintext, createEncryptStream(recipients));
}

export function decryptBuffer(ciphertext: Uint8Array, identities: readonly string[]): Promise<Buffer> {
  return collect(ciphertext, createDecryptStream(identities));
}
