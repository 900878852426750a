/**
 * Encryption to age v1 (C2SP age spec) as a Node Transform: plaintext in, age file out.
 *
 * X25519 recipients are handled natively on node:crypto. Recipient types we do not implement but
 * age-encryption does (post-quantum `age1pq1…`, hardware tags `age1tag1…`) get their stanzas from
 * age-encryption; the payload is always our native STREAM, so every file is encrypted at OpenSSL
 * speed whatever its recipients.
 */
import { randomBytes } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import type { Recipient } from "age-encryption";
import { UsageError } from "../errors.js";
import { type Stanza, encodeHeader, parseHeader } from "./age/header.js";
import { PieceQueue } from "./age/pieces.js";
import { FILE_KEY_SIZE, payloadKey } from "./age/primitives.js";
import { BATCH_CHUNKS, CHUNK_SIZE, PAYLOAD_NONCE_SIZE, StreamSealer } from "./age/stream.js";
import { wrapX25519 } from "./age/x25519.js";
import { type ParsedRecipient, parseRecipient } from "./keys.js";

/**
 * Plaintext is sealed in batches of this size (one call, one pushed buffer of ciphertext), and one
 * such buffer may wait in the readable buffer while the consumer writes the previous one, so
 * processing overlaps I/O.
 */
const BATCH_SIZE = BATCH_CHUNKS * CHUNK_SIZE;
const OUTPUT_HIGH_WATER_MARK = BATCH_SIZE;
/** Input buffered ahead of processing: one chunk (a batch accumulates in `pending`). */
const WRITABLE_HIGH_WATER_MARK = CHUNK_SIZE;
/**
 * Batches handed to the thread pool at once (native addon). More than the pool has threads, so a
 * thread that finishes one batch starts the next at once instead of waiting for the JS thread to
 * push and submit: on 2 cores with a pool of 2 (src/cli/threadpool.cts), 1 GiB took 0.75 s with
 * 2 in flight, 0.70 s with 3, 0.64–0.66 s with 4, 0.68–0.75 s with 6. Memory stays bounded by
 * about IN_FLIGHT + 1 batches each way (~10 MiB). The node:crypto fallback seals synchronously.
 */
export const IN_FLIGHT = 4;

export interface FileKeyAndHeader {
  /** Spec "File key"; the caller zeroes it once the payload key is derived. */
  fileKey: Buffer;
  /** The header (version line through MAC line), without the payload nonce. */
  header: Buffer;
}

function checkRecipients(parsed: readonly ParsedRecipient[]): void {
  if (parsed.length === 0) throw new UsageError("cannot encrypt: no recipients configured");
  const postQuantum = parsed.filter((r) => r.kind === "delegated" && r.postQuantum);
  if (postQuantum.length > 0 && postQuantum.length < parsed.length) {
    // Spec "The MLKEM768-X25519 … recipient type": "the same file SHOULD NOT be encrypted to both
    // this recipient type and to other non-quantum-resistant recipient types" (age refuses too).
    throw new UsageError("post-quantum recipients (age1pq1…) cannot be mixed with classic recipients", {
      hint: "the file would only be as strong as its weakest recipient; use only age1pq1… recipients, or none",
    });
  }
}

function nativeHeader(recipients: readonly Buffer[]): FileKeyAndHeader {
  // Spec "File key": 16 bytes of CSPRNG output, never reused across files.
  const fileKey = randomBytes(FILE_KEY_SIZE);
  const stanzas = recipients.map((recipient) => wrapX25519(recipient, fileKey));
  return { fileKey, header: encodeHeader(stanzas, fileKey) };
}

/**
 * age-encryption wraps the file key for the recipient types it implements. Its Recipient interface
 * hands each recipient the file key; a capturing recipient (adding no stanza) gives it to us, and
 * the stanzas are read back from the header of an empty file, which is then discarded.
 */
async function delegatedHeader(parsed: readonly ParsedRecipient[]): Promise<FileKeyAndHeader> {
  let captured: Uint8Array | null = null;
  const capture: Recipient = {
    wrapFileKey(fileKey: Uint8Array): [] {
      captured = Uint8Array.from(fileKey);
      return [];
    },
  };
  // Loaded on demand: the package costs ~250 ms and ~17 MiB to load, and X25519 needs none of it.
  const { Encrypter } = await import("age-encryption");
  const encrypter = new Encrypter();
  for (const recipient of parsed) {
    if (recipient.kind !== "delegated") continue;
    try {
      encrypter.addRecipient(recipient.text);
    } catch (cause) {
      throw new UsageError(
        `invalid age recipient ${recipient.text.slice(0, 20)}…: ${(cause as Error).message}`,
        { cause },
      );
    }
  }
  encrypter.addRecipient(capture);
  let empty: Buffer;
  try {
    empty = Buffer.from(await encrypter.encrypt(new Uint8Array(0)));
  } catch (cause) {
    // Some recipient types only decode their key material here (e.g. the P-256 point of age1tag1…).
    throw new UsageError(`cannot encrypt to the configured recipients: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (captured === null) throw new Error("age-encryption did not hand out the file key");
  const fileKey = Buffer.from(captured as Uint8Array);
  const stanzas: Stanza[] = parseHeader(empty).stanzas;
  for (const recipient of parsed)
    if (recipient.kind === "x25519") stanzas.push(wrapX25519(recipient.publicKey, fileKey));
  return { fileKey, header: encodeHeader(stanzas, fileKey) };
}

class EncryptStream extends Transform {
  private readonly pending = new PieceQueue();
  /** Sealed batches in payload order, not yet pushed. */
  private readonly inFlight: Promise<Buffer>[] = [];
  private sealer: StreamSealer | null = null;
  private setup: FileKeyAndHeader | Promise<FileKeyAndHeader>;

  constructor(setup: FileKeyAndHeader | Promise<FileKeyAndHeader>) {
    super({ writableHighWaterMark: WRITABLE_HIGH_WATER_MARK, readableHighWaterMark: OUTPUT_HIGH_WATER_MARK });
    this.setup = setup;
    // Reported through the first batch or flush; avoid an unhandled rejection meanwhile.
    if (setup instanceof Promise) setup.catch(() => undefined);
  }

  /** Emits the header and payload nonce (once), when the file key and stanzas exist. */
  private sealerFor(ready: FileKeyAndHeader): StreamSealer {
    if (this.sealer !== null) return this.sealer;
    const nonce = randomBytes(PAYLOAD_NONCE_SIZE);
    this.sealer = new StreamSealer(payloadKey(ready.fileKey, nonce));
    ready.fileKey.fill(0);
    this.push(Buffer.concat([ready.header, nonce]));
    return this.sealer;
  }

  /** Runs `work` once the sealer exists, then calls back (with its error, if any). */
  private withSealer(callback: TransformCallback, work: (sealer: StreamSealer) => Promise<void>): void {
    const sealer =
      this.sealer !== null
        ? Promise.resolve(this.sealer)
        : Promise.resolve(this.setup).then((ready) => this.sealerFor(ready));
    sealer.then(work).then(
      () => callback(),
      (error: unknown) => callback(error as Error),
    );
  }

  private startBatch(sealer: StreamSealer, bytes: number, final: boolean): void {
    const sealed = sealer.sealAsync(this.pending.take(bytes), final);
    // Rejections surface when the batch is awaited below, in order; none may go unhandled.
    sealed.catch(() => undefined);
    this.inFlight.push(sealed);
  }

  /** Pushes finished batches, in order, until at most `keep` remain in flight. */
  private async pushSealed(keep: number): Promise<void> {
    while (this.inFlight.length > keep) {
      const sealed = await (this.inFlight[0] as Promise<Buffer>);
      this.inFlight.shift();
      this.push(sealed);
    }
  }

  /**
   * Seals every full chunk known not to be the last one, in batches. Up to IN_FLIGHT - 1 stay in
   * flight when this returns, so the next write is accepted while they are sealed.
   */
  private async sealFullChunks(sealer: StreamSealer): Promise<void> {
    // Spec "Payload": only the final chunk carries the last flag, so a full chunk is sealed only
    // once at least one more byte is known to follow it.
    while (this.pending.length > CHUNK_SIZE) {
      const chunks = Math.min(BATCH_CHUNKS, Math.floor((this.pending.length - 1) / CHUNK_SIZE));
      this.startBatch(sealer, chunks * CHUNK_SIZE, false);
      await this.pushSealed(IN_FLIGHT - 1);
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending.push(chunk);
    // Small writes accumulate to a whole batch (plus one byte) first: one call per batch.
    if (this.pending.length <= BATCH_SIZE) {
      callback();
      return;
    }
    this.withSealer(callback, (sealer) => this.sealFullChunks(sealer));
  }

  override _flush(callback: TransformCallback): void {
    // Spec: "The final chunk MAY be shorter than 64 KiB but MUST NOT be empty unless the whole
    // payload is empty" — holding back every full chunk above guarantees exactly that.
    this.withSealer(callback, async (sealer) => {
      await this.sealFullChunks(sealer);
      this.startBatch(sealer, this.pending.length, true);
      await this.pushSealed(0);
    });
  }
}

/**
 * Returns a Transform that encrypts to every recipient (any one identity can decrypt). Invalid or
 * unsupported recipients throw a UsageError here, before any data flows.
 */
export function createEncryptStream(recipients: readonly string[]): Transform {
  return new EncryptStream(prepareHeader(recipients));
}

/**
 * A new file key and the header that wraps it for every recipient (any one identity can
 * decrypt). Invalid or unsupported recipients throw a UsageError here, synchronously; the result
 * is a promise only when age-encryption wraps the key for some of them.
 */
export function prepareHeader(recipients: readonly string[]): FileKeyAndHeader | Promise<FileKeyAndHeader> {
  const parsed = recipients.map((recipient) => parseRecipient(recipient));
  checkRecipients(parsed);
  const native = parsed.every((r) => r.kind === "x25519");
  return native
    ? nativeHeader(parsed.map((r) => (r as { publicKey: Buffer }).publicKey))
    : delegatedHeader(parsed);
}
