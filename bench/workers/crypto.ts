/**
 * Bench worker: one encryption or decryption file→file in its own process, so that the peak RSS
 * it reports (getrusage ru_maxrss, KiB on Linux) is ours alone.
 *
 *   node bench/out/bench/workers/crypto.js encrypt RECIPIENT IN OUT
 *   node bench/out/bench/workers/crypto.js decrypt IDENTITY_FILE IN OUT
 *   node bench/out/bench/workers/crypto.js aead-only BYTES
 *
 * `aead-only` is the ceiling: node:crypto ChaCha20-Poly1305 over 64 KiB chunks, no I/O, no streams.
 * Prints one JSON line: { seconds, maxRssKiB, node, openssl }.
 */
import { createCipheriv, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createDecryptStream } from "../../src/crypto/decrypt.js";
import { createEncryptStream } from "../../src/crypto/encrypt.js";
import { readIdentityFile } from "../../src/crypto/keys.js";

/**
 * Read size. fs.ReadStream's default (64 KiB) costs a thread-pool round trip per 64 KiB, which
 * alone takes seconds per GiB; backdrill's own file sources read in 1 MiB pieces too.
 */
const READ_SIZE = 1024 * 1024;
const CHUNK = 64 * 1024;

function aeadOnly(bytes: number): void {
  const key = randomBytes(32);
  const nonce = Buffer.alloc(12);
  const chunk = randomBytes(CHUNK);
  for (let done = 0; done < bytes; done += CHUNK) {
    nonce.writeUInt32BE(done / CHUNK, 7);
    const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
    cipher.update(chunk);
    cipher.final();
    cipher.getAuthTag();
  }
}

async function main(): Promise<void> {
  const [mode, a, input, output] = process.argv.slice(2);
  const start = process.hrtime.bigint();
  if (mode === "aead-only" && a !== undefined) {
    aeadOnly(Number(a));
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
      "usage: crypto.js encrypt RECIPIENT IN OUT | decrypt IDENTITY_FILE IN OUT | aead-only BYTES",
    );
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const report = {
    seconds,
    maxRssKiB: process.resourceUsage().maxRSS,
    node: process.version,
    openssl: process.versions.openssl,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
