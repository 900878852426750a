/**
 * Interoperability of our age implementation with the two independent ones we have: the Go `age`
 * CLI (the reference implementation) and the age-encryption package (typage), in both directions.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  Decrypter,
  Encrypter,
  generateHybridIdentity,
  identityToRecipient as ageIdentityToRecipient,
} from "age-encryption";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../errors.js";
import { run } from "../exec/process.js";
import { decryptBuffer, encryptBuffer } from "./buffer.js";
import { createDecryptStream } from "./decrypt.js";
import { createEncryptStream } from "./encrypt.js";
import { generateIdentity } from "./keys.js";
import { IMPLEMENTATIONS, useImplementation } from "../../test/support/crypto-implementations.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [0, 1, 65535, 65536, 65537, 131072, 3 * MiB + 12345, 4 * MiB];

interface KeyPair {
  identity: string;
  recipient: string;
  file: string;
}

let dir: string;
let alice: KeyPair;
let bob: KeyPair;
let carol: KeyPair;
let counter = 0;

async function keyPair(name: string): Promise<KeyPair> {
  const { identity, recipient } = await generateIdentity();
  const file = join(dir, `${name}.key`);
  await writeFile(file, `# ${name}\n${identity}\n`, { mode: 0o600 });
  return { identity, recipient, file };
}

function tempPath(label: string): string {
  counter += 1;
  return join(dir, `${counter}-${label}`);
}

async function cliEncrypt(plaintext: Buffer, recipients: string[]): Promise<Buffer> {
  const input = tempPath("plain");
  const output = tempPath("cli.age");
  await writeFile(input, plaintext);
  await run("age", [...recipients.flatMap((r) => ["-r", r]), "-o", output, input]);
  return readFile(output);
}

async function cliDecrypt(ciphertext: Buffer, identityFile: string): Promise<Buffer> {
  const input = tempPath("ours.age");
  const output = tempPath("cli.plain");
  await writeFile(input, ciphertext);
  await run("age", ["-d", "-i", identityFile, "-o", output, input]);
  // age creates the output file lazily, on the first plaintext byte: none for an empty payload.
  return readFile(output).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return Buffer.alloc(0);
    throw error;
  });
}

async function ageJsEncrypt(plaintext: Buffer, recipients: string[]): Promise<Buffer> {
  const encrypter = new Encrypter();
  for (const recipient of recipients) encrypter.addRecipient(recipient);
  return Buffer.from(await encrypter.encrypt(plaintext));
}

async function ageJsDecrypt(ciphertext: Buffer, identity: string): Promise<Buffer> {
  const decrypter = new Decrypter();
  decrypter.addIdentity(identity);
  return Buffer.from(await decrypter.decrypt(ciphertext));
}

/** Streams `input` through `transform` in pieces of the given sizes (cycled). */
async function streamThrough(
  transform: NodeJS.ReadWriteStream,
  input: Buffer,
  pieceSizes: number[],
): Promise<Buffer> {
  const parts: Buffer[] = [];
  function* pieces(): Generator<Buffer> {
    let offset = 0;
    for (let i = 0; offset < input.length; i++) {
      const size = pieceSizes[i % pieceSizes.length] as number;
      yield input.subarray(offset, offset + size);
      offset += size;
    }
  }
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  });
  await pipeline(Readable.from(pieces(), { objectMode: false }), transform, sink);
  return Buffer.concat(parts);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-age-"));
  [alice, bob, carol] = await Promise.all([keyPair("alice"), keyPair("bob"), keyPair("carol")]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Every test runs with each STREAM implementation (test/support/crypto-implementations.ts).

describe.each(IMPLEMENTATIONS)("interop (%s STREAM)", (implementation) => {
  useImplementation(implementation);

  describe.each(SIZES)("payload of %i bytes", (size) => {
    const plaintext = randomBytes(size);

    it("ours → age CLI", async () => {
      const ciphertext = await encryptBuffer(plaintext, [alice.recipient]);
      expect((await cliDecrypt(ciphertext, alice.file)).equals(plaintext)).toBe(true);
    });

    it("age CLI → ours", async () => {
      const ciphertext = await cliEncrypt(plaintext, [alice.recipient]);
      expect((await decryptBuffer(ciphertext, [alice.identity])).equals(plaintext)).toBe(true);
    });

    it("ours → age-encryption", async () => {
      const ciphertext = await encryptBuffer(plaintext, [alice.recipient]);
      expect((await ageJsDecrypt(ciphertext, alice.identity)).equals(plaintext)).toBe(true);
    });

    it("age-encryption → ours", async () => {
      const ciphertext = await ageJsEncrypt(plaintext, [alice.recipient]);
      expect((await decryptBuffer(ciphertext, [alice.identity])).equals(plaintext)).toBe(true);
    });

    it("has the exact age ciphertext size (no empty trailing chunk)", async () => {
      const ciphertext = await encryptBuffer(plaintext, [alice.recipient]);
      const cli = await cliEncrypt(plaintext, [alice.recipient]);
      // Same header shape (one X25519 stanza) and same STREAM chunking: same length as the CLI's.
      expect(ciphertext.length).toBe(cli.length);
    });
  });

  describe("several recipients", () => {
    const plaintext = randomBytes(200 * KiB + 3);

    it("ours → age CLI: each identity alone decrypts", async () => {
      const ciphertext = await encryptBuffer(plaintext, [alice.recipient, bob.recipient, carol.recipient]);
      for (const who of [alice, bob, carol]) {
        expect((await cliDecrypt(ciphertext, who.file)).equals(plaintext)).toBe(true);
        expect((await ageJsDecrypt(ciphertext, who.identity)).equals(plaintext)).toBe(true);
        expect((await decryptBuffer(ciphertext, [who.identity])).equals(plaintext)).toBe(true);
      }
    });

    it("age CLI → ours: each identity alone decrypts, any order of several works", async () => {
      const ciphertext = await cliEncrypt(plaintext, [alice.recipient, bob.recipient, carol.recipient]);
      for (const who of [alice, bob, carol]) {
        expect((await decryptBuffer(ciphertext, [who.identity])).equals(plaintext)).toBe(true);
      }
      const stranger = await generateIdentity();
      expect((await decryptBuffer(ciphertext, [stranger.identity, carol.identity])).equals(plaintext)).toBe(
        true,
      );
    });

    it("age-encryption → ours with several recipients", async () => {
      const ciphertext = await ageJsEncrypt(plaintext, [alice.recipient, bob.recipient]);
      expect((await decryptBuffer(ciphertext, [bob.identity])).equals(plaintext)).toBe(true);
    });

    it("uses a fresh file key, nonce and ephemeral share every time", async () => {
      const a = await encryptBuffer("same", [alice.recipient]);
      const b = await encryptBuffer("same", [alice.recipient]);
      expect(a.equals(b)).toBe(false);
      expect(a.subarray(0, 40).equals(b.subarray(0, 40))).toBe(false);
    });
  });

  describe("streaming", () => {
    const plaintext = randomBytes(5 * MiB + 777);

    it.each([
      ["1-byte and odd pieces", [1, 7, 65535, 3, 65536, 65537]],
      ["large writes", [3 * MiB]],
      ["exact chunks", [65536]],
    ])("encrypts and decrypts with %s", async (_name, pieces) => {
      const ciphertext = await streamThrough(createEncryptStream([alice.recipient]), plaintext, pieces);
      expect((await cliDecrypt(ciphertext, alice.file)).equals(plaintext)).toBe(true);
      const decrypted = await streamThrough(createDecryptStream([alice.identity]), ciphertext, pieces);
      expect(decrypted.equals(plaintext)).toBe(true);
    });

    it("decrypts a header split across many tiny writes", async () => {
      const ciphertext = await cliEncrypt(Buffer.from("hello"), [alice.recipient, bob.recipient]);
      const decrypted = await streamThrough(createDecryptStream([bob.identity]), ciphertext, [1, 2, 3]);
      expect(decrypted.toString()).toBe("hello");
    });
  });

  describe("post-quantum recipients (via age-encryption stanzas, native payload)", () => {
    it("round-trips ours ↔ age-encryption", async () => {
      const identity = await generateHybridIdentity();
      const recipient = await ageIdentityToRecipient(identity);
      const plaintext = randomBytes(300 * KiB);
      const ours = await encryptBuffer(plaintext, [recipient]);
      expect(ours.subarray(0, 60).toString("latin1")).toContain("-> mlkem768x25519 ");
      expect((await ageJsDecrypt(ours, identity)).equals(plaintext)).toBe(true);
      expect((await decryptBuffer(ours, [identity])).equals(plaintext)).toBe(true);
      const theirs = await ageJsEncrypt(plaintext, [recipient]);
      expect((await decryptBuffer(theirs, [alice.identity, identity])).equals(plaintext)).toBe(true);
    });

    it("reports an invalid hardware-tag key when encryption starts", async () => {
      const { bech32Encode } = await import("./bech32.js");
      // 33 bytes of the right length that are not a compressed P-256 point.
      const bogus = bech32Encode("age1tag", Buffer.alloc(33, 0xff));
      await expect(encryptBuffer("x", [bogus])).rejects.toThrow(UsageError);
    });

    it("refuses to mix post-quantum and classic recipients", async () => {
      const recipient = await ageIdentityToRecipient(await generateHybridIdentity());
      expect(() => createEncryptStream([recipient, alice.recipient])).toThrow(UsageError);
      expect(() => createEncryptStream([recipient, alice.recipient])).toThrow(/cannot be mixed/);
    });
  });

  describe("recipient validation at construction", () => {
    it("throws a UsageError before any data flows", () => {
      expect(() => createEncryptStream([])).toThrow(/no recipients/);
      expect(() => createEncryptStream(["ssh-ed25519 AAAA x"])).toThrow(UsageError);
      expect(() => createDecryptStream([])).toThrow(/no age identities/);
      expect(() => createDecryptStream([alice.recipient])).toThrow(
        /identity 1 of 1: this is a public recipient/,
      );
    });
  });
});
