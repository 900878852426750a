/**
 * Decryption failures: every way an age file can be wrong must end in a DecryptionError with a
 * message an operator can act on, and no unauthenticated plaintext may be emitted first. Each
 * case runs through the decrypt stream and through decryptFile (file.ts), which must fail alike.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Encrypter, generateHybridIdentity } from "age-encryption";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DecryptionError } from "../errors.js";
import { run } from "../exec/process.js";
import { encodeHeader } from "./age/header.js";
import { payloadKey } from "./age/primitives.js";
import { CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, PAYLOAD_NONCE_SIZE, StreamSealer } from "./age/stream.js";
import { wrapX25519 } from "./age/x25519.js";
import { encryptBuffer } from "./buffer.js";
import { createDecryptStream } from "./decrypt.js";
import { decryptFile } from "./file.js";
import { generateIdentity, parseRecipient } from "./keys.js";
import { IMPLEMENTATIONS, useImplementation } from "../../test/support/crypto-implementations.js";

interface Outcome {
  emitted: Buffer;
  error: unknown;
}

type Api = "stream" | "file";
const APIS: Api[] = ["stream", "file"];
/** The API the running `describe` block decrypts with (set in its beforeAll). */
let api: Api = "stream";
let files = 0;

/**
 * decryptFile from a file to a file; what the output holds afterwards counts as emitted. A failed
 * run must not leave a partial output behind.
 */
async function attemptFile(ciphertext: Buffer, identities: string[]): Promise<Outcome> {
  files += 1;
  const input = join(dir, `${files}.age`);
  const output = join(dir, `${files}.out`);
  await writeFile(input, ciphertext);
  let error: unknown = null;
  try {
    await decryptFile(input, output, identities);
  } catch (caught) {
    error = caught;
  }
  if (error !== null) expect(existsSync(output)).toBe(false);
  const emitted = error === null ? await readFile(output) : Buffer.alloc(0);
  await rm(input);
  await rm(output, { force: true });
  return { emitted, error };
}

/** Decrypts in 64 KiB writes, recording what was emitted before the failure. */
async function attempt(ciphertext: Buffer, identities: string[], pieceSize = 64 * 1024): Promise<Outcome> {
  if (api === "file") return attemptFile(ciphertext, identities);
  const parts: Buffer[] = [];
  function* pieces(): Generator<Buffer> {
    for (let offset = 0; offset < ciphertext.length; offset += pieceSize) {
      yield ciphertext.subarray(offset, offset + pieceSize);
    }
  }
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  });
  let error: unknown = null;
  try {
    await pipeline(Readable.from(pieces(), { objectMode: false }), createDecryptStream(identities), sink);
  } catch (caught) {
    error = caught;
  }
  return { emitted: Buffer.concat(parts), error };
}

async function expectFailure(ciphertext: Buffer, identities: string[], message: RegExp): Promise<Buffer> {
  const { emitted, error } = await attempt(ciphertext, identities);
  expect(error).toBeInstanceOf(DecryptionError);
  expect((error as Error).message).toMatch(message);
  return emitted;
}

function headerLength(file: Buffer): number {
  return file.indexOf("\n--- ") + 1 + file.subarray(file.indexOf("\n--- ") + 1).indexOf("\n") + 1;
}

function flip(file: Buffer, offset: number): Buffer {
  const copy = Buffer.from(file);
  copy[offset] = (copy[offset] as number) ^ 0x01;
  return copy;
}

const CHUNKS = 5;
const plaintext = randomBytes((CHUNKS - 1) * CHUNK_SIZE + 1000);
let alice: { identity: string; recipient: string };
let bob: { identity: string; recipient: string };
let file: Buffer;
let payloadStart: number;
let dir: string;

beforeAll(async () => {
  [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
  file = await encryptBuffer(plaintext, [alice.recipient, bob.recipient]);
  payloadStart = headerLength(file) + PAYLOAD_NONCE_SIZE;
  dir = await mkdtemp(join(tmpdir(), "backdrill-age-fail-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Every test runs with each STREAM implementation (test/support/crypto-implementations.ts) and
// through each API.

const CASES = IMPLEMENTATIONS.flatMap((implementation) => APIS.map((which) => [implementation, which]));

describe.each(CASES)("decryption failures (%s STREAM, %s API)", (implementation, which) => {
  useImplementation(implementation);
  beforeAll(() => {
    api = which as Api;
  });

  describe("identities", () => {
    it("names the identity count and the file's recipients when none matches", async () => {
      const stranger = await generateIdentity();
      await expectFailure(
        file,
        [stranger.identity],
        /^none of the 1 identity can open this file \(recipients: X25519 x2\)$/,
      );
      const other = await generateIdentity();
      await expectFailure(
        file,
        [stranger.identity, other.identity],
        /none of the 2 identities can open this file/,
      );
    });

    it("reports no match through the age-encryption path for post-quantum identities", async () => {
      const pq = await generateHybridIdentity();
      await expectFailure(
        file,
        [pq],
        /^none of the 1 identity can open this file \(recipients: X25519 x2\)$/,
      );
    });

    it("refuses passphrase-encrypted files", async () => {
      const encrypter = new Encrypter();
      encrypter.setPassphrase("correct horse battery staple");
      encrypter.setScryptWorkFactor(10);
      const scrypt = Buffer.from(await encrypter.encrypt("secret"));
      await expectFailure(scrypt, [alice.identity], /passphrase-encrypted \(scrypt\)/);
    });
  });

  describe("header tampering", () => {
    it("detects a changed MAC", async () => {
      // Swap one base64 character for another valid one (a bit flip could make invalid base64).
      const tampered = Buffer.from(file);
      const at = headerLength(file) - 5;
      tampered[at] = tampered[at] === 0x41 ? 0x42 : 0x41;
      await expectFailure(tampered, [alice.identity], /^header MAC mismatch: the age header was modified/);
      const garbled = Buffer.from(file);
      garbled[at] = 0x2a; // "*" is not base64
      await expectFailure(garbled, [alice.identity], /malformed age header: invalid MAC encoding/);
    });

    it("detects a changed stanza of another recipient through the MAC", async () => {
      // Bob's stanza is the second one; change one base64 character of its body.
      const text = file.subarray(0, headerLength(file)).toString("latin1");
      const bobBody = text.indexOf("\n", text.indexOf("-> X25519", text.indexOf("-> X25519") + 1)) + 1;
      const tampered = Buffer.from(file);
      tampered[bobBody + 3] = tampered[bobBody + 3] === 0x41 ? 0x42 : 0x41;
      await expectFailure(tampered, [alice.identity], /header MAC mismatch: the age header was modified/);
    });

    it("cannot open a changed own stanza", async () => {
      const text = file.subarray(0, headerLength(file)).toString("latin1");
      const aliceShare = text.indexOf("-> X25519 ") + "-> X25519 ".length;
      const tampered = Buffer.from(file);
      tampered[aliceShare + 5] = tampered[aliceShare + 5] === 0x41 ? 0x42 : 0x41;
      const emitted = await expectFailure(
        tampered,
        [alice.identity],
        /none of the 1 identity can open this file/,
      );
      expect(emitted.length).toBe(0);
    });

    it("rejects an unsupported version and malformed stanzas", async () => {
      const v2 = Buffer.from(file);
      v2.write("v2", "age-encryption.org/".length, "latin1");
      await expectFailure(v2, [alice.identity], /unsupported age format version "v2"/);
      const longLine = Buffer.from(
        `age-encryption.org/v1\n-> X25519 abc\n${"A".repeat(65)}\n--- ${"A".repeat(43)}\n`,
      );
      await expectFailure(
        longLine,
        [alice.identity],
        /malformed age header: stanza body line 3 is longer than 64/,
      );
      const badArg = Buffer.from(`age-encryption.org/v1\n->  X25519\n\n--- ${"A".repeat(43)}\n`);
      await expectFailure(badArg, [alice.identity], /malformed age header: invalid stanza arguments/);
      const shortShare = Buffer.from(
        `age-encryption.org/v1\n-> X25519 AAAA\n${"A".repeat(43)}\n--- ${"A".repeat(43)}\n`,
      );
      await expectFailure(
        shortShare,
        [alice.identity],
        /malformed X25519 stanza: the ephemeral share is not 32 bytes/,
      );
    });

    it("bounds the header size", async () => {
      const huge = Buffer.concat([
        Buffer.from("age-encryption.org/v1\n-> X25519 x\n"),
        Buffer.alloc(2 * 1024 * 1024, 0x41),
      ]);
      await expectFailure(huge, [alice.identity], /larger than 1 MiB/);
    });
  });

  describe("payload tampering", () => {
    it.each([0, 1, 3])("stops at tampered chunk %i without emitting any of its plaintext", async (index) => {
      const offset = payloadStart + index * ENCRYPTED_CHUNK_SIZE + 1234;
      const emitted = await expectFailure(
        flip(file, offset),
        [alice.identity],
        new RegExp(
          `^chunk ${index} of the payload failed authentication: the file was tampered with or corrupted$`,
        ),
      );
      expect(emitted.length).toBeLessThanOrEqual(index * CHUNK_SIZE);
      expect(emitted.equals(plaintext.subarray(0, emitted.length))).toBe(true);
    });

    it.each([
      [17, "chunk 17 of the payload failed"],
      [40, "chunk 40 of the payload failed"],
      [49, "final chunk 49 failed authentication"],
    ])(
      "in a file of several batches, stops at tampered chunk %i and emits only earlier plaintext",
      async (index, message) => {
        // 50 chunks: about three batches of 16, so later batches are in flight when one fails.
        const big = randomBytes(49 * CHUNK_SIZE + 10);
        const encrypted = await encryptBuffer(big, [alice.recipient]);
        const start = headerLength(encrypted) + PAYLOAD_NONCE_SIZE;
        const emitted = await expectFailure(
          flip(encrypted, start + index * ENCRYPTED_CHUNK_SIZE + 5),
          [alice.identity],
          new RegExp(message),
        );
        expect(emitted.length).toBeLessThanOrEqual(index * CHUNK_SIZE);
        expect(emitted.equals(big.subarray(0, emitted.length))).toBe(true);
      },
    );

    it("detects a tampered tag", async () => {
      const offset = payloadStart + 2 * ENCRYPTED_CHUNK_SIZE - 3;
      const emitted = await expectFailure(
        flip(file, offset),
        [alice.identity],
        /chunk 1 of the payload failed/,
      );
      expect(emitted.length).toBeLessThanOrEqual(CHUNK_SIZE);
    });

    it("detects a tampered final chunk", async () => {
      const emitted = await expectFailure(
        flip(file, file.length - 20),
        [alice.identity],
        /final chunk 4 failed authentication/,
      );
      expect(emitted.length).toBeLessThanOrEqual(4 * CHUNK_SIZE);
    });

    it("detects a tampered payload nonce at the first chunk", async () => {
      const emitted = await expectFailure(
        flip(file, payloadStart - 1),
        [alice.identity],
        /chunk 0 of the payload failed/,
      );
      expect(emitted.length).toBe(0);
    });
  });

  describe("truncation", () => {
    it("cut mid-chunk", async () => {
      const cut = file.subarray(0, payloadStart + 2 * ENCRYPTED_CHUNK_SIZE + 5000);
      const emitted = await expectFailure(
        cut,
        [alice.identity],
        /final chunk 2 failed authentication: the file was truncated/,
      );
      expect(emitted.length).toBeLessThanOrEqual(2 * CHUNK_SIZE);
    });

    it.each([1, 2, 4])("cut exactly after chunk %i", async (chunks) => {
      const cut = file.subarray(0, payloadStart + chunks * ENCRYPTED_CHUNK_SIZE);
      const emitted = await expectFailure(
        cut,
        [alice.identity],
        new RegExp(`truncated age file: it ends after chunk ${chunks - 1}, which is not the final chunk`),
      );
      expect(emitted.length).toBeLessThanOrEqual((chunks - 1) * CHUNK_SIZE);
    });

    it("cut inside a tag", async () => {
      await expectFailure(
        file.subarray(0, payloadStart + ENCRYPTED_CHUNK_SIZE + 10),
        [alice.identity],
        /shorter than its 16-byte tag/,
      );
    });

    it("cut right after the nonce, inside the nonce, inside the header", async () => {
      await expectFailure(file.subarray(0, payloadStart), [alice.identity], /the payload has no chunks/);
      await expectFailure(
        file.subarray(0, payloadStart - 3),
        [alice.identity],
        /ends before the payload nonce/,
      );
      await expectFailure(
        file.subarray(0, 60),
        [alice.identity],
        /truncated age file: it ends inside the header/,
      );
    });
  });

  describe("appended data", () => {
    it("after a full-size final chunk", async () => {
      const full = await encryptBuffer(randomBytes(2 * CHUNK_SIZE), [alice.recipient]);
      for (const extra of [Buffer.from("x"), randomBytes(100 * 1024)]) {
        await expectFailure(
          Buffer.concat([full, extra]),
          [alice.identity],
          /^trailing data after the final chunk/,
        );
      }
    });

    it("after a short final chunk", async () => {
      await expectFailure(Buffer.concat([file, Buffer.from("junk")]), [alice.identity], /had bytes appended/);
    });

    it("a second age file concatenated", async () => {
      const one = await encryptBuffer(Buffer.alloc(CHUNK_SIZE, 1), [alice.recipient]);
      await expectFailure(Buffer.concat([one, one]), [alice.identity], /trailing data after the final chunk/);
    });
  });

  describe("not an age file", () => {
    it.each([
      ["empty input", Buffer.alloc(0), /not an age file: the input is empty/],
      [
        "text",
        Buffer.from("hello, world\n"),
        /not an age file: it does not start with "age-encryption.org\/v1"/,
      ],
      ["random bytes", randomBytes(100_000), /not an age file/],
      ["2 MiB without a line feed", Buffer.alloc(2 * 1024 * 1024, 0x41), /not an age file/],
      ["a gzip stream", Buffer.from("1f8b0800000000000003", "hex"), /not an age file/],
      ["a short prefix", Buffer.from("age-enc"), /truncated age file: it ends inside the header/],
    ])("%s", async (_name, input, message) => {
      await expectFailure(input, [alice.identity], message);
    });

    it("explains armored files", async () => {
      const plain = join(dir, "p.txt");
      const armored = join(dir, "p.age.asc");
      await writeFile(plain, "hello");
      await run("age", ["-a", "-r", alice.recipient, "-o", armored, plain]);
      await expectFailure(
        await readFile(armored),
        [alice.identity],
        /ASCII-armored age files are not supported/,
      );
    });
  });

  describe("non-canonical payloads", () => {
    it("rejects an empty final chunk after a full one (the spec forbids it)", async () => {
      const fileKey = randomBytes(16);
      const header = encodeHeader(
        [wrapX25519((parseRecipient(alice.recipient) as { publicKey: Buffer }).publicKey, fileKey)],
        fileKey,
      );
      const nonce = randomBytes(PAYLOAD_NONCE_SIZE);
      const sealer = new StreamSealer(payloadKey(fileKey, nonce));
      const body = [sealer.seal([randomBytes(CHUNK_SIZE)], false), sealer.seal([], true)];
      const crafted = Buffer.concat([header, nonce, ...body]);
      await expectFailure(crafted, [alice.identity], /final chunk 1 is empty, which the age format forbids/);
      // The Go reference implementation rejects it as well.
      const path = join(dir, "empty-last.age");
      await writeFile(path, crafted);
      await writeFile(join(dir, "alice.key"), `${alice.identity}\n`);
      await expect(
        run("age", ["-d", "-i", join(dir, "alice.key"), "-o", join(dir, "out"), path]),
      ).rejects.toThrow(/empty/);
    });
  });
});
