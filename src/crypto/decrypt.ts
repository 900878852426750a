/**
 * Decryption of age v1 files (C2SP age spec) as a Node Transform: age file in, plaintext out.
 *
 * Guarantees: plaintext of a chunk is released only after its Poly1305 tag verifies; the stream
 * fails with a DecryptionError if the file is truncated (no final chunk), has trailing data, or
 * any byte of the header or payload was changed. Memory stays bounded by one encrypted chunk plus
 * the header, whatever the file size.
 */
import { Transform, type TransformCallback } from "node:stream";
import { UsageError } from "../errors.js";
import { registerSecret } from "../log/redact.js";
import { PieceQueue } from "./age/pieces.js";
import { AEAD_TAG_SIZE } from "./age/primitives.js";
import {
  chunkFailed,
  emptyFinalChunk,
  emptyPayload,
  finalChunkShorterThanTag,
} from "./age/payload-errors.js";
import {
  BATCH_CHUNKS,
  ENCRYPTED_CHUNK_SIZE,
  type OpenResult,
  StreamOpener,
  slicePieces,
} from "./age/stream.js";
import { HeaderStage, type PayloadStart } from "./header-stage.js";
import { type ParsedIdentity, parseIdentity } from "./keys.js";

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

/** A batch being opened: its result, and its ciphertext to explain a failure. */
interface Batch {
  result: Promise<OpenResult>;
  ciphertext: Buffer[];
  final: boolean;
}

class DecryptStream extends Transform {
  /** Until the payload starts: the header and the payload nonce (header-stage.ts). */
  private readonly header: HeaderStage;
  private pending = new PieceQueue();
  /** Batches in payload order whose plaintext is not pushed yet. */
  private readonly inFlight: Batch[] = [];
  private opener: StreamOpener | null = null;
  private done = false;

  constructor(identities: readonly ParsedIdentity[]) {
    super({ writableHighWaterMark: WRITABLE_HIGH_WATER_MARK, readableHighWaterMark: OUTPUT_HIGH_WATER_MARK });
    this.header = new HeaderStage(identities);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      if (this.opener !== null) {
        this.pending.push(chunk);
        this.drain(false).then(() => callback(), callback);
        return;
      }
      const started = this.header.push(chunk);
      if (started instanceof Promise) {
        started.then((start) => this.afterHeader(start, callback), callback);
      } else {
        this.afterHeader(started, callback);
      }
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.opener === null) this.header.end();
      this.drain(true).then(() => callback(), callback);
    } catch (error) {
      callback(error as Error);
    }
  }

  private afterHeader(start: PayloadStart | null, callback: TransformCallback): void {
    if (start === null) {
      callback();
      return;
    }
    this.opener = new StreamOpener(start.key);
    this.pending = start.rest;
    this.drain(false).then(() => callback(), callback);
  }

  /**
   * Decrypts every chunk that is complete, in batches, one at a time (the next write waits for
   * the callback, so input and output stay bounded); at end of input (`final`), the last one.
   */
  private async drain(final: boolean): Promise<void> {
    if (this.done) return;
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
    if (size === 0) throw emptyPayload();
    if (size < AEAD_TAG_SIZE) throw finalChunkShorterThanTag(index);
    this.startBatch(opener, size, true);
    await this.pushOpened(opener, 0);
    if (size === AEAD_TAG_SIZE && index > 0) throw emptyFinalChunk(index);
    this.done = true;
  }
}

/** Says why a batch failed: tampering, a cut at a chunk boundary, or appended bytes. */
function explainFailure(opener: StreamOpener, batch: Batch, opened: OpenResult): Error {
  const failed = opened.failedIndex as number;
  if (batch.final) {
    // A final batch is the final chunk alone.
    const size = batch.ciphertext.reduce((sum, piece) => sum + piece.length, 0);
    return chunkFailed({
      index: failed,
      final: true,
      authenticatesWithOtherFlag:
        size === ENCRYPTED_CHUNK_SIZE && opener.authenticates(batch.ciphertext, failed, false),
    });
  }
  const at = (failed - opened.first) * ENCRYPTED_CHUNK_SIZE;
  const chunk = slicePieces(batch.ciphertext, at, ENCRYPTED_CHUNK_SIZE);
  return chunkFailed({
    index: failed,
    final: false,
    authenticatesWithOtherFlag: opener.authenticates(chunk, failed, true),
  });
}

/**
 * Returns a Transform that decrypts an age file with the first identity that opens it. Invalid
 * identities throw a UsageError here (without echoing them); every identity is registered for
 * redaction.
 */
export function createDecryptStream(identities: readonly string[]): Transform {
  return new DecryptStream(parseIdentities(identities));
}

/**
 * Parses identities for decryption: a UsageError for an invalid one (without echoing it), and
 * every identity registered for redaction.
 */
export function parseIdentities(identities: readonly string[]): ParsedIdentity[] {
  if (identities.length === 0) throw new UsageError("cannot decrypt: no age identities given");
  return identities.map((identity, index) => {
    registerSecret(identity);
    try {
      return parseIdentity(identity);
    } catch (cause) {
      throw new UsageError(`identity ${index + 1} of ${identities.length}: ${(cause as Error).message}`);
    }
  });
}
