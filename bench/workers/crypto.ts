/**
 * Bench worker: one encryption or decryption file→file in its own process, so that the peak RSS
 * it reports (getrusage ru_maxrss, KiB on Linux) is ours alone.
 *
 *   node bench/out/bench/workers/crypto.js encrypt RECIPIENT IN OUT [IMPL]
 *   node bench/out/bench/workers/crypto.js decrypt IDENTITY_FILE IN OUT [IMPL]
 *   node bench/out/bench/workers/crypto.js aead-only BYTES [IMPL]
 *   node bench/out/bench/workers/crypto.js encrypt-file RECIPIENT IN OUT [IMPL]
 *   node bench/out/bench/workers/crypto.js decrypt-file IDENTITY_FILE IN OUT [IMPL]
 *   node bench/out/bench/workers/crypto.js passthrough IN OUT
 *
 * encrypt / decrypt run the streams (createReadStream → Transform → createWriteStream), the way
 * backdrill's artifacts flow; encrypt-file / decrypt-file the file API (src/crypto/file.ts).
 * IMPL is `native` (the addon, the default when it is built) or `node:crypto` (the fallback,
 * as with BACKDRILL_NATIVE_CRYPTO=0). `aead-only` is the ceiling of that implementation:
 * ChaCha20-Poly1305 over 64 KiB chunks, no I/O, no streams (native: 1 MiB batches into one
 * reused buffer). `passthrough` is the ceiling of the streams themselves: the same pipeline with a
 * PassThrough where the cipher would be (no crypto at all). Prints one JSON line: { seconds, maxRssKiB, node, openssl, implementation }.
 */
import { peakRssKiB } from "./peak-rss.js";
import { createCipheriv, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { NATIVE_CRYPTO_ENV } from "../../src/crypto/age/native.js";
import { BATCH_CHUNKS, type ChunkCipher, chunkCipher } from "../../src/crypto/age/stream.js";
import { createDecryptStream } from "../../src/crypto/decrypt.js";
import { createEncryptStream } from "../../src/crypto/encrypt.js";
import { decryptFile, encryptFile } from "../../src/crypto/file.js";
import { readIdentityFile } from "../../src/crypto/keys.js";

/**
 * Read size. fs.ReadStream's default (64 KiB) costs a thread-pool round trip per 64 KiB, which
 * alone takes seconds per GiB; backdrill's own file sources read in 1 MiB pieces too.
 */
const READ_SIZE = 1024 * 1024;
const CHUNK = 64 * 1024;

function aeadOnly(bytes: number, cipher: ChunkCipher): void {
  const key = randomBytes(32);
  if (cipher.name === "native") {
    const batch = randomBytes(BATCH_CHUNKS * CHUNK);
    const output = Buffer.alloc(batch.length + BATCH_CHUNKS * 16);
    for (let done = 0; done < bytes; done += batch.length) {
      cipher.seal(key, done / CHUNK, false, [batch], output);
    }
    return;
  }
  const nonce = Buffer.alloc(12);
  const chunk = randomBytes(CHUNK);
  for (let done = 0; done < bytes; done += CHUNK) {
    nonce.writeUInt32BE(done / CHUNK, 7);
    const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
    c.update(chunk);
    c.final();
    c.getAuthTag();
  }
}

async function main(): Promise<void> {
  const [mode, a, ...rest] = process.argv.slice(2);
  if (mode === "passthrough" && a !== undefined && rest[0] !== undefined) {
    const started = process.hrtime.bigint();
    await pipeline(
      createReadStream(a, { highWaterMark: READ_SIZE }),
      new PassThrough(),
      createWriteStream(rest[0]),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    process.stdout.write(`${JSON.stringify({ seconds, maxRssKiB: peakRssKiB(), node: process.version })}\n`);
    return;
  }
  const implementation = mode === "aead-only" ? rest[0] : rest[2];
  if (implementation === "node:crypto") process.env[NATIVE_CRYPTO_ENV] = "0";
  else if (implementation !== undefined && implementation !== "native")
    throw new Error(`unknown implementation "${implementation}": native or node:crypto`);
  const [input, output] = rest;
  const cipher = chunkCipher();
  // A bench must never quietly measure the other implementation.
  if (implementation !== undefined && cipher.name !== implementation)
    throw new Error(`wanted the ${implementation ?? "default"} STREAM implementation, got ${cipher.name}`);
  const start = process.hrtime.bigint();
  if (mode === "aead-only" && a !== undefined) {
    aeadOnly(Number(a), cipher);
  } else if (mode === "encrypt-file" && a !== undefined && input !== undefined && output !== undefined) {
    await encryptFile(input, output, [a]);
  } else if (mode === "decrypt-file" && a !== undefined && input !== undefined && output !== undefined) {
    await decryptFile(input, output, await readIdentityFile(a));
  } else if (
    (mode === "encrypt" || mode === "decrypt") &&
    a !== undefined &&
    input !== undefined &&
    output !== undefined
  ) {
    const transform =
      mode === "encrypt" ? createEncryptStream([a]) : createDecryptStream(await readIdentityFile(a));
    await pipeline(
      createReadStream(input, { highWaterMark: READ_SIZE }),
      transform,
      createWriteStream(output),
    );
  } else {
    throw new Error(
      "usage: crypto.js encrypt[-file] RECIPIENT IN OUT [IMPL] | decrypt[-file] IDENTITY_FILE IN OUT [IMPL] | aead-only BYTES [IMPL] | passthrough IN OUT",
    );
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const report = {
    seconds,
    maxRssKiB: peakRssKiB(),
    node: process.version,
    openssl: process.versions.openssl,
    implementation: cipher.name,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
