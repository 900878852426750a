/**
 * The STREAM batch implementations (native addon and node:crypto fallback) against an independent
 * per-chunk reference, the rule that CI runs the native one, and bounded buffering of the
 * Transforms built on them.
 */
import { createCipheriv, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { createDecryptStream } from "../decrypt.js";
import { IN_FLIGHT as ENCRYPT_IN_FLIGHT, createEncryptStream } from "../encrypt.js";
import { generateIdentity } from "../keys.js";
import { NATIVE_CRYPTO_ENV, nativeAddonPath, nativeAgeStream, nativeLoadError } from "./native.js";
import {
  CHUNK_SIZE,
  type ChunkCipher,
  ENCRYPTED_CHUNK_SIZE,
  NATIVE_MAX_PIECES,
  chunkCipher,
} from "./stream.js";

type Name = ChunkCipher["name"];
const IMPLEMENTATIONS: Name[] = nativeAgeStream() === null ? ["node:crypto"] : ["native", "node:crypto"];

/** Runs `fn` with BACKDRILL_NATIVE_CRYPTO set for `name`, restoring the environment after. */
async function withImplementation<T>(name: Name, fn: () => T | Promise<T>): Promise<T> {
  const saved = process.env[NATIVE_CRYPTO_ENV];
  process.env[NATIVE_CRYPTO_ENV] = name === "native" ? "1" : "0";
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env[NATIVE_CRYPTO_ENV];
    else process.env[NATIVE_CRYPTO_ENV] = saved;
  }
}

function cipherNamed(name: Name): Promise<ChunkCipher> {
  return withImplementation(name, () => {
    const cipher = chunkCipher();
    expect(cipher.name).toBe(name);
    return cipher;
  });
}

/** Spec "Payload", written out independently: one AEAD message per chunk, nonce built by hand. */
function referenceSeal(key: Buffer, counter: number, final: boolean, plaintext: Buffer): Buffer {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < plaintext.length || chunks.length === 0; offset += CHUNK_SIZE) {
    chunks.push(plaintext.subarray(offset, offset + CHUNK_SIZE));
  }
  return Buffer.concat(
    chunks.map((chunk, i) => {
      const nonce = Buffer.alloc(12);
      nonce.writeBigUInt64BE(BigInt(counter + i), 3);
      nonce[11] = final && i === chunks.length - 1 ? 1 : 0;
      const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
      return Buffer.concat([cipher.update(chunk), cipher.final(), cipher.getAuthTag()]);
    }),
  );
}

/** Cuts `data` into views of the given sizes (cycled), as a stream's writes would arrive. */
function split(data: Buffer, sizes: readonly number[]): Buffer[] {
  const pieces: Buffer[] = [];
  for (let offset = 0, i = 0; offset < data.length; i++) {
    const size = sizes[i % sizes.length] as number;
    pieces.push(data.subarray(offset, offset + size));
    offset += size;
  }
  return pieces;
}

describe("native addon", () => {
  it("is loaded in CI and whenever it was built", () => {
    const path = nativeAddonPath();
    expect(path).not.toBeNull();
    if (process.env.CI === "true" || existsSync(path as string)) {
      // CI must never silently measure or test only the slow path.
      expect(nativeLoadError()).toBeNull();
      expect(nativeAgeStream()).not.toBeNull();
    } else {
      expect(nativeLoadError()).toMatch(/not built .*npm run build:native/);
    }
  });

  it("BACKDRILL_NATIVE_CRYPTO=0 selects node:crypto for streams created afterwards", async () => {
    expect(await withImplementation("node:crypto", () => chunkCipher().name)).toBe("node:crypto");
    expect(await withImplementation("node:crypto", () => nativeAgeStream())).toBeNull();
  });
});

describe.each(IMPLEMENTATIONS)("%s ChunkCipher", (name) => {
  const key = randomBytes(32);

  it.each([
    ["an empty final batch (one empty chunk)", 0, true, 0, [1]],
    ["one short final chunk", 7, true, 1000, [1000]],
    ["whole chunks from odd pieces", 5, false, 3 * CHUNK_SIZE, [1, 7, 65535, 3, 65536, 65537]],
    ["a counter carrying past 2^32", 2 ** 32 - 1, true, 2 * CHUNK_SIZE + 100, [300_000]],
    ["the largest counters", Number.MAX_SAFE_INTEGER - 2, true, CHUNK_SIZE + 1, [CHUNK_SIZE + 1]],
  ])("seals %s exactly like the reference", async (_label, counter, final, length, sizes) => {
    const cipher = await cipherNamed(name);
    const plaintext = randomBytes(length);
    const expected = referenceSeal(key, counter, final, plaintext);
    const output = Buffer.alloc(expected.length + 10, 0xaa);
    const written = cipher.seal(key, counter, final, split(plaintext, sizes), output);
    expect(written).toBe(expected.length);
    expect(output.subarray(0, written).equals(expected)).toBe(true);

    const opened = Buffer.alloc(length);
    const chunks = Math.max(1, Math.ceil(length / CHUNK_SIZE));
    // Tags straddle the pieces: every chunk boundary falls inside some piece.
    expect(cipher.open(key, counter, final, split(expected, [9, 65551, 17, 100_000]), opened)).toBe(chunks);
    expect(opened.equals(plaintext)).toBe(true);
  });

  it("stops at the first chunk that fails and zeroes its plaintext", async () => {
    const cipher = await cipherNamed(name);
    const plaintext = randomBytes(4 * CHUNK_SIZE);
    const sealed = referenceSeal(key, 0, false, plaintext);
    for (const [at, failed] of [
      [2 * ENCRYPTED_CHUNK_SIZE + 5, 2],
      [ENCRYPTED_CHUNK_SIZE - 1, 0], // a tag byte
      [4 * ENCRYPTED_CHUNK_SIZE - 16, 3],
    ] as const) {
      const tampered = Buffer.from(sealed);
      tampered[at] = (tampered[at] as number) ^ 0x01;
      const output = Buffer.alloc(plaintext.length, 0xaa);
      expect(cipher.open(key, 0, false, [tampered], output)).toBe(failed);
      expect(output.subarray(0, failed * CHUNK_SIZE).equals(plaintext.subarray(0, failed * CHUNK_SIZE))).toBe(
        true,
      );
      const rejected = output.subarray(failed * CHUNK_SIZE, (failed + 1) * CHUNK_SIZE);
      expect(rejected.every((byte) => byte === 0)).toBe(true);
    }
  });

  it("authenticates the last flag and the counter", async () => {
    const cipher = await cipherNamed(name);
    const plaintext = randomBytes(CHUNK_SIZE);
    const sealedFinal = referenceSeal(key, 3, true, plaintext);
    const output = Buffer.alloc(CHUNK_SIZE);
    expect(cipher.open(key, 3, false, [sealedFinal], output)).toBe(0);
    expect(cipher.open(key, 4, true, [sealedFinal], output)).toBe(0);
    expect(cipher.open(key, 3, true, [sealedFinal], output)).toBe(1);
  });

  it("refuses malformed batches instead of producing an invalid stream", async () => {
    const cipher = await cipherNamed(name);
    const out = Buffer.alloc(4 * ENCRYPTED_CHUNK_SIZE);
    // Non-final batches hold whole chunks only; a short chunk is only ever the final one.
    expect(() => cipher.seal(key, 0, false, [Buffer.alloc(100)], out)).toThrow(/whole chunks/);
    expect(() => cipher.open(key, 0, false, [Buffer.alloc(100)], out)).toThrow(/whole chunks/);
  });
});

describe.each(IMPLEMENTATIONS.filter((name) => name === "native"))("%s addon only", () => {
  const native = nativeAgeStream();
  const key = randomBytes(32);

  it("checks sizes and counters before touching memory", () => {
    const addon = native as NonNullable<typeof native>;
    const plaintext = randomBytes(2 * CHUNK_SIZE);
    expect(() => addon.seal(key, 0, true, [plaintext], Buffer.alloc(2 * CHUNK_SIZE))).toThrow(/too small/);
    expect(() =>
      addon.open(key, 0, true, [Buffer.alloc(ENCRYPTED_CHUNK_SIZE + 5)], Buffer.alloc(CHUNK_SIZE * 2)),
    ).toThrow(/shorter than its tag/);
    expect(() =>
      addon.seal(key, Number.MAX_SAFE_INTEGER, true, [plaintext], Buffer.alloc(3 * CHUNK_SIZE)),
    ).toThrow(/overflow/);
    expect(() => addon.seal(key.subarray(1), 0, true, [plaintext], Buffer.alloc(3 * CHUNK_SIZE))).toThrow(
      /32 bytes/,
    );
    expect(() => addon.seal(key, 0.5, true, [plaintext], Buffer.alloc(3 * CHUNK_SIZE))).toThrow(/counter/);
  });

  it("async calls give the same bytes and failure index as sync ones", async () => {
    const addon = native as NonNullable<typeof native>;
    const plaintext = randomBytes(5 * CHUNK_SIZE + 3);
    const sealed = referenceSeal(key, 9, true, plaintext);
    const output = Buffer.alloc(sealed.length);
    expect(await addon.sealAsync(key, 9, true, split(plaintext, [70_000]), output)).toBe(sealed.length);
    expect(output.equals(sealed)).toBe(true);
    const tampered = Buffer.from(sealed);
    tampered[3 * ENCRYPTED_CHUNK_SIZE + 100] = (tampered[3 * ENCRYPTED_CHUNK_SIZE + 100] as number) ^ 0xff;
    const opened = Buffer.alloc(plaintext.length, 0xaa);
    expect(await addon.openAsync(key, 9, true, split(tampered, [123_456]), opened)).toBe(3);
    expect(opened.subarray(3 * CHUNK_SIZE, 4 * CHUNK_SIZE).every((byte) => byte === 0)).toBe(true);
    // Misuse throws synchronously, as in the sync calls: it is checked before queueing the work.
    expect(() => addon.openAsync(key, 9, false, [tampered], opened)).toThrow(/whole chunks/);
  });
});

describe.each(IMPLEMENTATIONS)("%s Transforms fed small writes", (name) => {
  // Regression: a 1 MiB batch cut from writes under 1 KiB holds more than NATIVE_MAX_PIECES
  // pieces; the addon refused it and every encryption fed by small writes failed.
  it("round-trip when one batch spans far more than the addon's piece limit", async () => {
    const { identity, recipient } = await generateIdentity();
    const data = randomBytes(3 * 1024 * 1024 + 77);
    const pieces = split(data, [100, 1000, 7]);
    // 1 MiB (one batch) of these writes is well over the limit.
    expect(pieces.length / 3).toBeGreaterThan(2 * NATIVE_MAX_PIECES);
    await withImplementation(name, async () => {
      const encrypted: Buffer[] = [];
      await pipeline(Readable.from(pieces), createEncryptStream([recipient]), collect(encrypted));
      const ciphertext = Buffer.concat(encrypted);
      const decrypted: Buffer[] = [];
      await pipeline(
        Readable.from(split(ciphertext, [300, 5])),
        createDecryptStream([identity]),
        collect(decrypted),
      );
      expect(Buffer.concat(decrypted).equals(data)).toBe(true);
    });
  });
});

/** A sink that keeps what it is written. */
function collect(into: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      into.push(chunk);
      callback();
    },
  });
}

describe.each(IMPLEMENTATIONS)("%s Transforms under a slow consumer", (name) => {
  const MiB = 1024 * 1024;

  /** Pipes `data` in 64 KiB writes through `transform` into a slow sink; the most it buffered. */
  async function throughSlowSink(
    transform: Readable & NodeJS.WritableStream,
    data: Buffer,
  ): Promise<{ maxBuffered: number; output: Buffer }> {
    let maxBuffered = 0;
    const parts: Buffer[] = [];
    const sink = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        parts.push(chunk);
        const buffered = transform.readableLength + (transform as unknown as Writable).writableLength;
        maxBuffered = Math.max(maxBuffered, buffered);
        setImmediate(callback);
      },
    });
    await pipeline(Readable.from(split(data, [64 * 1024])), transform, sink);
    return { maxBuffered, output: Buffer.concat(parts) };
  }

  it("buffer a few batches at most, whatever the size (backpressure)", async () => {
    const { identity, recipient } = await generateIdentity();
    const data = randomBytes(24 * MiB);
    await withImplementation(name, async () => {
      const encrypted = await throughSlowSink(createEncryptStream([recipient]), data);
      expect(encrypted.maxBuffered).toBeGreaterThan(0);
      // Encryption keeps up to IN_FLIGHT batches sealing at once; finished ones are pushed together.
      expect(encrypted.maxBuffered).toBeLessThanOrEqual((ENCRYPT_IN_FLIGHT + 1) * MiB);
      const decrypted = await throughSlowSink(createDecryptStream([identity]), encrypted.output);
      expect(decrypted.maxBuffered).toBeLessThanOrEqual(3 * MiB);
      expect(decrypted.output.equals(data)).toBe(true);
    });
  });
});
