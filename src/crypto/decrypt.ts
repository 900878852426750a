/**
 * Decryption of age v1 files (C2SP age spec) as a Node Transform: age file in, plaintext out.
 *
 * Guarantees: plaintext of a chunk is released only after its Poly1305 tag verifies; the stream
 * fails with a DecryptionError if the file is truncated (no final chunk), has trailing data, or
 * any byte of the header or payload was changed. Memory stays bounded by one encrypted chunk plus
 * the header, whatever the file size.
 */
import { Transform, type TransformCallback } from "node:stream";
import { DecryptionError, UsageError } from "../errors.js";
import { registerSecret } from "../log/redact.js";
import {
  ARMOR_BEGIN,
  type ParsedHeader,
  type Stanza,
  VERSION_PREFIX,
  describeStanzas,
  findHeaderEnd,
  parseHeader,
} from "./age/header.js";
import { PieceQueue } from "./age/pieces.js";
import { AEAD_TAG_SIZE, headerMac, macEquals, payloadKey } from "./age/primitives.js";
import {
  BATCH_CHUNKS,
  ENCRYPTED_CHUNK_SIZE,
  PAYLOAD_NONCE_SIZE,
  type OpenResult,
  StreamOpener,
  slicePieces,
} from "./age/stream.js";
import { X25519_STANZA_TYPE, unwrapX25519 } from "./age/x25519.js";
import { type ParsedIdentity, parseIdentity } from "./keys.js";

/**
 * The spec sets no header size limit; stanzas are small (an X25519 stanza is ~110 bytes, a
 * post-quantum one ~1.6 KiB), so 1 MiB is generous and bounds what a hostile file can make us buffer.
 */
const MAX_HEADER_SIZE = 1024 * 1024;
/**
 * Ciphertext is opened in batches of this size (one call, one pushed buffer of plaintext), and one
 * such buffer may wait in the readable buffer while the consumer writes the previous one, so
 * processing overlaps I/O.
 */
const BATCH_SIZE = BATCH_CHUNKS * ENCRYPTED_CHUNK_SIZE;
/**
 * Batches opened at once on the thread pool (native addon): two keep both cores of a small
 * machine busy while the JS thread reads the next input; memory stays bounded by about
 * IN_FLIGHT + 1 batches each way. The node:crypto fallback opens synchronously.
 */
const IN_FLIGHT = 2;
const OUTPUT_HIGH_WATER_MARK = BATCH_CHUNKS * (ENCRYPTED_CHUNK_SIZE - AEAD_TAG_SIZE);
/** Input buffered ahead of processing: one encrypted chunk (a batch accumulates in `pending`). */
const WRITABLE_HIGH_WATER_MARK = ENCRYPTED_CHUNK_SIZE;
/** Spec "The scrypt recipient type": the stanza type of passphrase-encrypted files. */
const SCRYPT_STANZA_TYPE = "scrypt";
const VERSION_PREFIX_BYTES = Buffer.from(VERSION_PREFIX, "latin1");
const ARMOR_BYTES = Buffer.from(ARMOR_BEGIN, "latin1");

type Phase = "header" | "nonce" | "payload" | "done";

/** A batch being opened: its result, and its ciphertext to explain a failure. */
interface Batch {
  result: Promise<OpenResult>;
  ciphertext: Buffer[];
  final: boolean;
}

function noMatch(count: number, stanzas: readonly Stanza[]): DecryptionError {
  return new DecryptionError(
    `none of the ${count} identit${count === 1 ? "y" : "ies"} can open this file (recipients: ${describeStanzas(stanzas)})`,
    {
      hint: "check that the identity file matches the recipients the file was encrypted to (age-keygen -y FILE)",
    },
  );
}

function notAgeFile(start: Buffer): DecryptionError {
  if (
    start
      .subarray(0, ARMOR_BYTES.length)
      .equals(ARMOR_BYTES.subarray(0, Math.min(start.length, ARMOR_BYTES.length)))
  ) {
    return new DecryptionError(
      "ASCII-armored age files are not supported; decode the armor first (age -d / base64)",
    );
  }
  return new DecryptionError(`not an age file: it does not start with "${VERSION_PREFIX}v1"`);
}

class DecryptStream extends Transform {
  private phase: Phase = "header";
  /** Header bytes received so far (the header ends with a line, so it is re-scanned per LF only). */
  private headerParts: Buffer[] = [];
  private headerSize = 0;
  private readonly pending = new PieceQueue();
  /** Batches in payload order whose plaintext is not pushed yet. */
  private readonly inFlight: Batch[] = [];
  private opener: StreamOpener | null = null;
  private fileKey: Buffer | null = null;

  constructor(private readonly identities: readonly ParsedIdentity[]) {
    super({ writableHighWaterMark: WRITABLE_HIGH_WATER_MARK, readableHighWaterMark: OUTPUT_HIGH_WATER_MARK });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      if (this.phase !== "header") {
        this.pending.push(chunk);
        this.drain(false).then(() => callback(), callback);
        return;
      }
      const header = this.collectHeader(chunk);
      if (header === null) {
        callback();
        return;
      }
      const opened = this.openHeader(header);
      if (opened instanceof Promise) {
        opened.then(() => this.afterHeader(callback), callback);
      } else {
        this.afterHeader(callback);
      }
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.phase === "header") {
        const start = Buffer.concat(this.headerParts, this.headerSize);
        if (start.length === 0) throw new DecryptionError("not an age file: the input is empty");
        this.checkPrefix(start);
        throw new DecryptionError("truncated age file: it ends inside the header");
      }
      this.drain(true).then(() => callback(), callback);
    } catch (error) {
      callback(error as Error);
    }
  }

  private afterHeader(callback: TransformCallback): void {
    this.drain(false).then(() => callback(), callback);
  }

  private checkPrefix(start: Buffer): void {
    const n = Math.min(start.length, VERSION_PREFIX_BYTES.length);
    if (!start.subarray(0, n).equals(VERSION_PREFIX_BYTES.subarray(0, n))) throw notAgeFile(start);
  }

  /** Accumulates header bytes; returns the parsed header once complete (rest goes to `pending`). */
  private collectHeader(chunk: Buffer): ParsedHeader | null {
    this.headerParts.push(chunk);
    this.headerSize += chunk.length;
    if (this.headerSize - chunk.length < VERSION_PREFIX_BYTES.length) {
      // The first bytes just arrived: reject anything that is not age right away.
      this.checkPrefix(Buffer.concat(this.headerParts, this.headerSize));
    }
    // Concatenating only when a line may have ended keeps tiny writes from costing O(n²) copies.
    if (!chunk.includes(0x0a)) {
      if (this.headerSize > MAX_HEADER_SIZE)
        throw new DecryptionError("malformed age header: larger than 1 MiB");
      return null;
    }
    const data = this.headerParts.length === 1 ? chunk : Buffer.concat(this.headerParts, this.headerSize);
    this.headerParts = [data];
    const end = findHeaderEnd(data);
    if (end < 0) {
      if (this.headerSize > MAX_HEADER_SIZE)
        throw new DecryptionError("malformed age header: larger than 1 MiB");
      return null;
    }
    this.headerParts = [];
    this.headerSize = 0;
    const header = parseHeader(data.subarray(0, end));
    this.pending.push(data.subarray(end));
    return header;
  }

  /** Finds the file key with our identities and checks the header MAC (spec "Header MAC"). */
  private openHeader(header: ParsedHeader): void | Promise<void> {
    const { stanzas } = header;
    if (stanzas.some((stanza) => stanza.args[0] === SCRYPT_STANZA_TYPE)) {
      // Spec: an scrypt stanza MUST be the only one; either way we hold no passphrase.
      throw new DecryptionError(
        stanzas.length === 1
          ? "this file is passphrase-encrypted (scrypt); backdrill decrypts with age identities only"
          : "malformed age header: an scrypt stanza is mixed with other stanzas",
      );
    }
    for (const stanza of stanzas) {
      if (stanza.args[0] !== X25519_STANZA_TYPE) continue;
      for (const identity of this.identities) {
        if (identity.kind !== "x25519") continue;
        const fileKey = unwrapX25519(stanza, identity);
        if (fileKey !== null) return this.acceptFileKey(header, fileKey);
      }
    }
    const delegated = this.identities.filter((identity) => identity.kind === "delegated");
    if (delegated.length === 0) throw noMatch(this.identities.length, stanzas);
    // Loaded on demand: the package costs ~250 ms and ~17 MiB to load, and X25519 needs none of it.
    return import("age-encryption")
      .then(({ Decrypter }) => {
        const decrypter = new Decrypter();
        for (const identity of delegated) decrypter.addIdentity(identity.text);
        return decrypter.decryptHeader(header.bytes);
      })
      .then(
        (fileKey) => this.acceptFileKey(header, Buffer.from(fileKey)),
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          if (/no identity matched/i.test(message)) throw noMatch(this.identities.length, stanzas);
          if (/HMAC/i.test(message)) throw macMismatch();
          throw new DecryptionError(`cannot open the age header: ${message}`, { cause: error });
        },
      );
  }

  private acceptFileKey(header: ParsedHeader, fileKey: Buffer): void {
    if (!macEquals(headerMac(fileKey, header.macInput), header.mac)) throw macMismatch();
    this.fileKey = fileKey;
    this.phase = "nonce";
  }

  /**
   * Decrypts every chunk that is complete, in batches, one at a time (the next write waits for
   * the callback, so input and output stay bounded); at end of input (`final`), the last one.
   */
  private async drain(final: boolean): Promise<void> {
    if (this.phase === "nonce") {
      if (this.pending.length < PAYLOAD_NONCE_SIZE) {
        if (!final) return;
        throw new DecryptionError("truncated age file: it ends before the payload nonce");
      }
      const nonce = this.pending.takeContiguous(PAYLOAD_NONCE_SIZE);
      this.opener = new StreamOpener(payloadKey(this.fileKey as Buffer, nonce));
      (this.fileKey as Buffer).fill(0);
      this.fileKey = null;
      this.phase = "payload";
    }
    if (this.phase !== "payload") return;
    const opener = this.opener as StreamOpener;
    // Small writes accumulate to a whole batch (plus one byte) first: one call per batch.
    if (!final && this.pending.length <= BATCH_SIZE) return;
    // A full-size chunk followed by more data is not the last one (spec "Payload").
    while (this.pending.length > ENCRYPTED_CHUNK_SIZE) {
      const chunks = Math.min(BATCH_CHUNKS, Math.floor((this.pending.length - 1) / ENCRYPTED_CHUNK_SIZE));
      this.startBatch(opener, chunks * ENCRYPTED_CHUNK_SIZE, false);
      await this.pushOpened(opener, IN_FLIGHT - 1);
    }
    if (final) await this.finish(opener);
  }

  private startBatch(opener: StreamOpener, bytes: number, final: boolean): void {
    const ciphertext = this.pending.take(bytes);
    const result = opener.openAsync(ciphertext, final);
    // Rejections surface when the batch is awaited below, in order; none may go unhandled.
    result.catch(() => undefined);
    this.inFlight.push({ result, ciphertext, final });
  }

  /**
   * Pushes the plaintext of opened batches, in order, until at most `keep` remain in flight.
   * The first batch that does not authenticate ends the stream: neither it nor any later batch
   * is pushed.
   */
  private async pushOpened(opener: StreamOpener, keep: number): Promise<void> {
    while (this.inFlight.length > keep) {
      const batch = this.inFlight[0] as Batch;
      const opened = await batch.result;
      this.inFlight.shift();
      if (opened.plaintext === null) throw explainFailure(opener, batch, opened);
      if (opened.plaintext.length > 0) this.push(opened.plaintext);
    }
  }

  /** The remaining bytes must be exactly one valid final chunk. */
  private async finish(opener: StreamOpener): Promise<void> {
    // Earlier batches first: their failures are the ones to report.
    await this.pushOpened(opener, 0);
    const size = this.pending.length;
    const index = opener.index;
    if (size === 0) {
      throw new DecryptionError("truncated age file: the payload has no chunks (a final chunk is missing)");
    }
    if (size < AEAD_TAG_SIZE) {
      throw new DecryptionError(
        `truncated age file: it ends inside chunk ${index} (shorter than its 16-byte tag)`,
      );
    }
    this.startBatch(opener, size, true);
    await this.pushOpened(opener, 0);
    if (size === AEAD_TAG_SIZE && index > 0) {
      // Spec: "MUST NOT be empty unless the whole payload is empty"; age rejects this too.
      throw new DecryptionError(
        `invalid age file: final chunk ${index} is empty, which the age format forbids`,
      );
    }
    this.phase = "done";
  }
}

/** Says why a batch failed: tampering, a cut at a chunk boundary, or appended bytes. */
function explainFailure(opener: StreamOpener, batch: Batch, opened: OpenResult): DecryptionError {
  const failed = opened.failedIndex as number;
  if (batch.final) {
    const size = batch.ciphertext.reduce((sum, piece) => sum + piece.length, 0);
    if (size === ENCRYPTED_CHUNK_SIZE && opener.authenticates(batch.ciphertext, failed, false)) {
      return new DecryptionError(
        `truncated age file: it ends after chunk ${failed}, which is not the final chunk (cut at a chunk boundary)`,
      );
    }
    return new DecryptionError(
      `final chunk ${failed} failed authentication: the file was truncated mid-chunk, tampered with, or had bytes appended`,
    );
  }
  const at = (failed - opened.first) * ENCRYPTED_CHUNK_SIZE;
  const chunk = slicePieces(batch.ciphertext, at, ENCRYPTED_CHUNK_SIZE);
  // A full chunk that authenticates as the final one means bytes were appended after it.
  if (opener.authenticates(chunk, failed, true)) return trailingData();
  return new DecryptionError(
    `chunk ${failed} of the payload failed authentication: the file was tampered with or corrupted`,
  );
}

function macMismatch(): DecryptionError {
  return new DecryptionError("header MAC mismatch: the age header was modified (tampered or corrupted)");
}

function trailingData(): DecryptionError {
  return new DecryptionError("trailing data after the final chunk: bytes were appended to the age file");
}

/**
 * Returns a Transform that decrypts an age file with the first identity that opens it. Invalid
 * identities throw a UsageError here (without echoing them); every identity is registered for
 * redaction.
 */
export function createDecryptStream(identities: readonly string[]): Transform {
  if (identities.length === 0) throw new UsageError("cannot decrypt: no age identities given");
  const parsed = identities.map((identity, index) => {
    registerSecret(identity);
    try {
      return parseIdentity(identity);
    } catch (cause) {
      throw new UsageError(`identity ${index + 1} of ${identities.length}: ${(cause as Error).message}`);
    }
  });
  return new DecryptStream(parsed);
}
