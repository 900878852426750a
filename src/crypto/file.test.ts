/**
 * encryptFile / decryptFile (file.ts): the same age bytes as the streams and the age CLI, with
 * the addon's worker threads (many blocks in flight) and with the node:crypto fallback; pipes as
 * input and output; clear errors for bad paths and failed writes; abort. Decryption failures are
 * covered, message for message, in failures.test.ts.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Decrypter, Encrypter, generateHybridIdentity, identityToRecipient } from "age-encryption";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DecryptionError, OperationError, UsageError } from "../errors.js";
import { run } from "../exec/process.js";
import { decryptBuffer, encryptBuffer } from "./buffer.js";
import { decryptFile, encryptFile } from "./file.js";
import { generateIdentity } from "./keys.js";
import { IMPLEMENTATIONS, useImplementation } from "../../test/support/crypto-implementations.js";

const KiB = 1024;
const MiB = 1024 * KiB;
/** Around the 64 KiB chunk and the addon's 256 KiB block, and many blocks. */
const SIZES = [0, 1, 65535, 65536, 65537, 256 * KiB, 256 * KiB + 1, 3 * MiB + 12345];

let dir: string;
let alice: { identity: string; recipient: string; file: string };
let counter = 0;

function path(label: string): string {
  counter += 1;
  return join(dir, `${counter}-${label}`);
}

async function file(data: Buffer, label = "in"): Promise<string> {
  const name = path(label);
  await writeFile(name, data);
  return name;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "backdrill-age-file-"));
  const { identity, recipient } = await generateIdentity();
  const keyFile = join(dir, "alice.key");
  await writeFile(keyFile, `${identity}\n`, { mode: 0o600 });
  alice = { identity, recipient, file: keyFile };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each(IMPLEMENTATIONS)("file API (%s STREAM)", (implementation) => {
  useImplementation(implementation);

  describe.each(SIZES)("payload of %i bytes", (size) => {
    const plaintext = randomBytes(size);

    it("encryptFile → age CLI, same length as the CLI's, mode 0600", async () => {
      const input = await file(plaintext);
      const output = path("ours.age");
      const result = await encryptFile(input, output, [alice.recipient]);
      const decrypted = path("cli.out");
      await run("age", ["-d", "-i", alice.file, "-o", decrypted, output]);
      expect((await readFile(decrypted).catch(() => Buffer.alloc(0))).equals(plaintext)).toBe(true);
      const cli = path("cli.age");
      await run("age", ["-r", alice.recipient, "-o", cli, input]);
      const length = (await stat(output)).size;
      expect(length).toBe((await stat(cli)).size);
      expect(result).toEqual({ bytesIn: size, bytesOut: length });
      expect((await stat(output)).mode & 0o777).toBe(0o600);
    });

    it("age CLI → decryptFile, and the streams agree", async () => {
      const input = await file(plaintext);
      const encrypted = path("cli.age");
      await run("age", ["-r", alice.recipient, "-o", encrypted, input]);
      const output = path("ours.out");
      const result = await decryptFile(encrypted, output, [alice.identity]);
      expect((await readFile(output)).equals(plaintext)).toBe(true);
      expect(result).toEqual({ bytesIn: (await stat(encrypted)).size, bytesOut: size });
      const ours = await encryptBuffer(plaintext, [alice.recipient]);
      const viaFile = path("ours.out");
      await decryptFile(await file(ours), viaFile, [alice.identity]);
      expect((await readFile(viaFile)).equals(await decryptBuffer(ours, [alice.identity]))).toBe(true);
    });
  });

  it("round-trips many blocks in flight on every worker (20 MiB)", async () => {
    const plaintext = randomBytes(20 * MiB + 3);
    const encrypted = path("big.age");
    await encryptFile(await file(plaintext), encrypted, [alice.recipient]);
    const output = path("big.out");
    await decryptFile(encrypted, output, [alice.identity]);
    expect((await readFile(output)).equals(plaintext)).toBe(true);
    const cli = path("big.cli");
    await run("age", ["-d", "-i", alice.file, "-o", cli, encrypted]);
    expect((await readFile(cli)).equals(plaintext)).toBe(true);
  });

  it("handles post-quantum recipients (stanzas from age-encryption)", async () => {
    const identity = await generateHybridIdentity();
    const recipient = await identityToRecipient(identity);
    const plaintext = randomBytes(300 * KiB);
    const encrypted = path("pq.age");
    await encryptFile(await file(plaintext), encrypted, [recipient]);
    const decrypter = new Decrypter();
    decrypter.addIdentity(identity);
    expect(Buffer.from(await decrypter.decrypt(await readFile(encrypted))).equals(plaintext)).toBe(true);
    const encrypter = new Encrypter();
    encrypter.addRecipient(recipient);
    const theirs = await file(Buffer.from(await encrypter.encrypt(plaintext)));
    const output = path("pq.out");
    await decryptFile(theirs, output, [alice.identity, identity]);
    expect((await readFile(output)).equals(plaintext)).toBe(true);
  });

  it("reads from and writes to pipes (short reads, blocking writes)", async () => {
    const plaintext = randomBytes(2 * MiB + 999);
    const source = await file(plaintext);
    const fifoIn = path("in.fifo");
    const fifoOut = path("out.fifo");
    await run("mkfifo", [fifoIn, fifoOut]);
    const encrypted = path("piped.age");
    // dd writes the FIFO in odd-sized pieces, so reads come back short.
    await Promise.all([
      run("dd", [`if=${source}`, `of=${fifoIn}`, "bs=7001"]),
      encryptFile(fifoIn, encrypted, [alice.recipient]),
    ]);
    const copied = path("piped.out");
    await Promise.all([run("cp", [fifoOut, copied]), decryptFile(encrypted, fifoOut, [alice.identity])]);
    expect((await readFile(copied)).equals(plaintext)).toBe(true);
  });

  describe("errors", () => {
    it("names a missing input and creates no output", async () => {
      const output = path("never");
      await expect(encryptFile(join(dir, "missing"), output, [alice.recipient])).rejects.toThrow(
        OperationError,
      );
      await expect(decryptFile(join(dir, "missing"), output, [alice.identity])).rejects.toThrow(
        /^cannot open .*missing: ENOENT$/,
      );
      expect(existsSync(output)).toBe(false);
    });

    it("refuses to write over its input", async () => {
      const plaintext = randomBytes(1000);
      const input = await file(plaintext);
      await expect(encryptFile(input, input, [alice.recipient])).rejects.toThrow(UsageError);
      await expect(encryptFile(input, input, [alice.recipient])).rejects.toThrow(/is the input/);
      expect((await readFile(input)).equals(plaintext)).toBe(true);
    });

    it("rejects bad recipients and identities before touching any file", async () => {
      const output = path("never");
      await expect(encryptFile(join(dir, "missing"), output, ["age1nope"])).rejects.toThrow(UsageError);
      await expect(decryptFile(join(dir, "missing"), output, [])).rejects.toThrow(/no age identities/);
      expect(existsSync(output)).toBe(false);
    });

    it("reports a recipient that fails only when its stanza is made, without leaving an output", async () => {
      const { bech32Encode } = await import("./bech32.js");
      // 33 bytes of the right length that are not a compressed P-256 point.
      const bogus = bech32Encode("age1tag", Buffer.alloc(33, 0xff));
      const output = path("never");
      await expect(encryptFile(await file(randomBytes(10)), output, [bogus])).rejects.toThrow(UsageError);
      expect(existsSync(output)).toBe(false);
    });

    it("reports a failed write (ENOSPC on /dev/full)", async () => {
      const input = await file(randomBytes(600 * KiB));
      await expect(encryptFile(input, "/dev/full", [alice.recipient])).rejects.toThrow(
        /^cannot write \/dev\/full: ENOSPC/,
      );
      const encrypted = path("ok.age");
      await encryptFile(input, encrypted, [alice.recipient]);
      await expect(decryptFile(encrypted, "/dev/full", [alice.identity])).rejects.toThrow(
        /^cannot write \/dev\/full: ENOSPC/,
      );
    });

    it("leaves an existing output alone when the identity does not match", async () => {
      const encrypted = path("x.age");
      await encryptFile(await file(randomBytes(100 * KiB)), encrypted, [alice.recipient]);
      const output = await file(Buffer.from("keep me"), "existing");
      const stranger = await generateIdentity();
      await expect(decryptFile(encrypted, output, [stranger.identity])).rejects.toThrow(DecryptionError);
      expect((await readFile(output)).toString()).toBe("keep me");
    });

    it("removes a partial output when the payload fails", async () => {
      const plaintext = randomBytes(3 * MiB);
      const encrypted = await encryptBuffer(plaintext, [alice.recipient]);
      // Cut at a chunk boundary two thirds in: the earlier blocks verify and are written first.
      const cut = encrypted.subarray(0, encrypted.length - 16 * (64 * KiB + 16));
      const output = path("partial.out");
      await expect(decryptFile(await file(cut), output, [alice.identity])).rejects.toThrow(
        /truncated age file: it ends after chunk 31/,
      );
      expect(existsSync(output)).toBe(false);
    });
  });

  it("stops when aborted, removing the partial output", async () => {
    const fifo = path("abort.fifo");
    await run("mkfifo", [fifo]);
    const output = path("aborted.age");
    const controller = new AbortController();
    const reason = new Error("stop now");
    const encrypting = encryptFile(fifo, output, [alice.recipient], { signal: controller.signal });
    encrypting.catch(() => undefined);
    const writer = await open(fifo, "w");
    await writer.write(randomBytes(MiB));
    // Give the workers time to take the first blocks; the input stays open, so no end is seen.
    await sleep(50);
    controller.abort(reason);
    // A worker blocked reading the pipe notices at its next block: let the read return.
    await writer.close();
    await expect(encrypting).rejects.toBe(reason);
    expect(existsSync(output)).toBe(false);
  });
});
