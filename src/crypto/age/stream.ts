/**
 * The age payload (C2SP age spec, "Payload"; C2SP agead): a 16-byte nonce, then STREAM with
 * ChaCha20-Poly1305 over 64 KiB chunks. Each chunk is its own AEAD message.
 *
 * Chunks are sealed and opened in batches (many consecutive chunks per call) by one of two
 * implementations with identical output: the native addon (see native.ts), or node:crypto with a
 * cipher object per chunk, the fallback when the addon is not built or BACKDRILL_NATIVE_CRYPTO=0.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { type BatchCall, nativeAgeStream } from "./native.js";
import { AEAD_NONCE_SIZE, AEAD_TAG_SIZE, CIPHER } from "./primitives.js";

/** Spec "Payload": the payload is split in chunks of 64 KiB. */
export const CHUNK_SIZE = 64 * 1024;
/** A full chunk on the wire: plaintext plus the 16-byte Poly1305 tag. */
export const ENCRYPTED_CHUNK_SIZE = CHUNK_SIZE + AEAD_TAG_SIZE;
/** Spec "Payload": it begins with a 16-byte nonce from a CSPRNG. */
export const PAYLOAD_NONCE_SIZE = 16;
/**
 * Chunks per batch: 1 MiB of plaintext per call amortises the per-call cost (and the stream hop
 * per push) while keeping the buffered data, and so memory, small.
 */
export const BATCH_CHUNKS = 16;
/** Spec "Payload": nonce = 11-byte big-endian chunk counter || last-chunk flag byte. */
const LAST_FLAG_INDEX = AEAD_NONCE_SIZE - 1;
const LAST_CHUNK = 0x01;
/**
 * Counters are JS numbers: exact up to 2^53 chunks (2^69 bytes), far below the spec's 2^88, so
 * refusing to go further is the only overflow rule we need (a wrapped counter would reuse nonces).
 */
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/**
 * Seals / opens consecutive chunks: `pieces` together are the input (whole chunks, except that a
 * `final` batch may end with a shorter one; a final batch without plaintext seals one empty
 * chunk). The last chunk of a `final` batch gets the last-chunk flag.
 */
export interface ChunkCipher {
  readonly name: "native" | "node:crypto";
  /** Writes the ciphertext (each chunk followed by its tag) to `output`; returns its length. */
  seal: BatchCall<Buffer, number>;
  /**
   * Writes chunk i's plaintext at output[i * CHUNK_SIZE]; returns how many leading chunks
   * authenticated. It stops at the first that does not and zeroes that chunk's output range.
   */
  open: BatchCall<Buffer, number>;
  /**
   * The same work on the libuv thread pool (native only), so that the JS thread meanwhile serves
   * the stream's I/O. The buffers must not change until the promise settles.
   */
  sealAsync?: BatchCall<Buffer, Promise<number>>;
  openAsync?: BatchCall<Buffer, Promise<number>>;
}

function totalLength(pieces: readonly Buffer[]): number {
  let total = 0;
  for (const piece of pieces) total += piece.length;
  return total;
}

/** Number of chunks in `length` bytes of `unit`-sized chunks (one empty chunk seals an empty final batch). */
function chunkCount(length: number, unit: number, final: boolean, seal: boolean): number {
  if (length === 0) return seal && final ? 1 : 0;
  return Math.ceil(length / unit);
}

/** Splits pieces into consecutive ranges of the given size (the last may be shorter), as views. */
function* ranges(pieces: readonly Buffer[], size: number): Generator<Buffer[]> {
  let current: Buffer[] = [];
  let filled = 0;
  for (let piece of pieces) {
    while (piece.length > 0) {
      const take = Math.min(size - filled, piece.length);
      current.push(piece.subarray(0, take));
      piece = piece.subarray(take);
      filled += take;
      if (filled === size) {
        yield current;
        current = [];
        filled = 0;
      }
    }
  }
  if (filled > 0) yield current;
}

function nonceFor(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(AEAD_NONCE_SIZE);
  // Bytes 0..10 hold the big-endian counter; below 2^53 only the low 7 bytes are ever non-zero.
  nonce.writeUInt32BE(Math.floor(counter / 2 ** 32), 3);
  nonce.writeUInt32BE(counter >>> 0, 7);
  if (last) nonce[LAST_FLAG_INDEX] = LAST_CHUNK;
  return nonce;
}

/** The bytes [start, start + length) of a list of pieces, as views (no copy). */
export function slicePieces(pieces: readonly Buffer[], start: number, length: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = start;
  let remaining = length;
  for (const piece of pieces) {
    if (remaining === 0) break;
    if (skip >= piece.length) {
      skip -= piece.length;
      continue;
    }
    const part = piece.subarray(skip, skip + remaining);
    skip = 0;
    out.push(part);
    remaining -= part.length;
  }
  return out;
}

/** Validates a batch the same way the addon does, so both implementations refuse the same misuse. */
function checkBatch(length: number, unit: number, final: boolean, counter: number, chunks: number): void {
  if (!final && length % unit !== 0)
    throw new RangeError("a batch that is not final must hold whole chunks only");
  if (unit === ENCRYPTED_CHUNK_SIZE && chunks > 0 && length - (chunks - 1) * unit < AEAD_TAG_SIZE)
    throw new RangeError("the last chunk is shorter than its tag");
  if (counter + chunks > MAX_COUNTER) throw new Error("STREAM chunk counter overflow");
}

/** The fallback: node:crypto, one cipher object (and one output buffer per piece) per chunk. */
const nodeCryptoCipher: ChunkCipher = {
  name: "node:crypto",

  seal(key, counter, final, pieces, output) {
    const length = totalLength(pieces);
    checkBatch(length, CHUNK_SIZE, final, counter, chunkCount(length, CHUNK_SIZE, final, true));
    const chunks = final && length === 0 ? [[]] : [...ranges(pieces, CHUNK_SIZE)];
    let offset = 0;
    chunks.forEach((chunk, i) => {
      const last = final && i === chunks.length - 1;
      const cipher = createCipheriv(CIPHER, key, nonceFor(counter + i, last), {
        authTagLength: AEAD_TAG_SIZE,
      });
      for (const piece of chunk) offset += cipher.update(piece).copy(output, offset);
      offset += cipher.final().copy(output, offset);
      offset += cipher.getAuthTag().copy(output, offset);
    });
    return offset;
  },

  open(key, counter, final, pieces, output) {
    const chunks = [...ranges(pieces, ENCRYPTED_CHUNK_SIZE)];
    checkBatch(totalLength(pieces), ENCRYPTED_CHUNK_SIZE, final, counter, chunks.length);
    for (const [i, chunk] of chunks.entries()) {
      const last = final && i === chunks.length - 1;
      const decipher = createDecipheriv(CIPHER, key, nonceFor(counter + i, last), {
        authTagLength: AEAD_TAG_SIZE,
      });
      const textSize = totalLength(chunk) - AEAD_TAG_SIZE;
      decipher.setAuthTag(Buffer.concat(slicePieces(chunk, textSize, AEAD_TAG_SIZE), AEAD_TAG_SIZE));
      let offset = i * CHUNK_SIZE;
      for (const piece of slicePieces(chunk, 0, textSize))
        offset += decipher.update(piece).copy(output, offset);
      try {
        decipher.final();
      } catch {
        output.fill(0, i * CHUNK_SIZE, i * CHUNK_SIZE + textSize);
        return i;
      }
    }
    return chunks.length;
  },
};

/**
 * The most pieces the addon takes in one call (MAX_PIECES in native/age_stream.c: it bounds the
 * async path's stack array of references).
 */
export const NATIVE_MAX_PIECES = 1024;

/**
 * A batch is 1 MiB cut from whatever the stream was written, so writes averaging under 1 KiB
 * (a compressor's flushes, a socket's small reads) make more pieces than the addon takes, which
 * it refused ("at most 1024 Uint8Arrays") and failed the stream. Such a batch is copied into one
 * buffer: a rare 1 MiB copy instead of a limit every caller would have to know.
 */
function withinPieceLimit(pieces: readonly Buffer[]): readonly Buffer[] {
  return pieces.length <= NATIVE_MAX_PIECES ? pieces : [Buffer.concat(pieces)];
}

/** The implementation for streams created now: native unless unavailable or switched off. */
export function chunkCipher(): ChunkCipher {
  const addon = nativeAgeStream();
  if (addon === null) return nodeCryptoCipher;
  return {
    name: "native",
    seal: (key, counter, final, pieces, output) =>
      addon.seal(key, counter, final, withinPieceLimit(pieces), output),
    open: (key, counter, final, pieces, output) =>
      addon.open(key, counter, final, withinPieceLimit(pieces), output),
    sealAsync: (key, counter, final, pieces, output) =>
      addon.sealAsync(key, counter, final, withinPieceLimit(pieces), output),
    openAsync: (key, counter, final, pieces, output) =>
      addon.openAsync(key, counter, final, withinPieceLimit(pieces), output),
  };
}

export class StreamSealer {
  private counter = 0;
  constructor(
    private readonly key: Buffer,
    private readonly cipher: ChunkCipher = chunkCipher(),
  ) {}

  /** Checks the batch, allocates its output and advances the counter past it. */
  private prepare(plaintext: readonly Buffer[], final: boolean): { counter: number; output: Buffer } {
    const length = totalLength(plaintext);
    const chunks = chunkCount(length, CHUNK_SIZE, final, true);
    checkBatch(length, CHUNK_SIZE, final, this.counter, chunks);
    const counter = this.counter;
    this.counter += chunks;
    return { counter, output: Buffer.allocUnsafe(length + chunks * AEAD_TAG_SIZE) };
  }

  /** Seals the next chunks (see ChunkCipher); returns their ciphertext as one buffer. */
  seal(plaintext: readonly Buffer[], final: boolean): Buffer {
    const { counter, output } = this.prepare(plaintext, final);
    const written = this.cipher.seal(this.key, counter, final, plaintext, output);
    return output.subarray(0, written);
  }

  /**
   * Like {@link seal}, off the JS thread when the implementation can. Several batches may be in
   * flight; each has its own counter range, taken when it is called.
   */
  async sealAsync(plaintext: readonly Buffer[], final: boolean): Promise<Buffer> {
    if (this.cipher.sealAsync === undefined) return this.seal(plaintext, final);
    const { counter, output } = this.prepare(plaintext, final);
    const written = await this.cipher.sealAsync(this.key, counter, final, plaintext, output);
    return output.subarray(0, written);
  }
}

export interface OpenResult {
  /** Index (in the whole payload) of the batch's first chunk. */
  first: number;
  /** Plaintext of every chunk of the batch; null when one failed (none of the batch is released). */
  plaintext: Buffer | null;
  /** The index (in the whole payload) of the first chunk that did not authenticate, if any. */
  failedIndex: number | null;
}

export class StreamOpener {
  private counter = 0;
  constructor(
    private readonly key: Buffer,
    private readonly cipher: ChunkCipher = chunkCipher(),
  ) {}

  /** Index of the chunk the next `open` call starts with. */
  get index(): number {
    return this.counter;
  }

  /**
   * Decrypts and authenticates the next chunks (ciphertext with tags). Returns the plaintext only
   * if every chunk verifies: no unauthenticated byte ever leaves this method. The counter moves
   * past the batch either way: after a failure the stream is over.
   */
  open(ciphertext: readonly Buffer[], final: boolean): OpenResult {
    const { first, chunks, output } = this.prepare(ciphertext, final);
    return settle(first, chunks, output, this.cipher.open(this.key, first, final, ciphertext, output));
  }

  /**
   * Like {@link open}, off the JS thread when the implementation can. Several batches may be in
   * flight; each has its own counter range, taken when it is called.
   */
  async openAsync(ciphertext: readonly Buffer[], final: boolean): Promise<OpenResult> {
    if (this.cipher.openAsync === undefined) return this.open(ciphertext, final);
    const { first, chunks, output } = this.prepare(ciphertext, final);
    return settle(
      first,
      chunks,
      output,
      await this.cipher.openAsync(this.key, first, final, ciphertext, output),
    );
  }

  private prepare(
    ciphertext: readonly Buffer[],
    final: boolean,
  ): { first: number; chunks: number; output: Buffer } {
    const length = totalLength(ciphertext);
    const chunks = chunkCount(length, ENCRYPTED_CHUNK_SIZE, final, false);
    checkBatch(length, ENCRYPTED_CHUNK_SIZE, final, this.counter, chunks);
    const first = this.counter;
    this.counter += chunks;
    return { first, chunks, output: Buffer.allocUnsafe(length - chunks * AEAD_TAG_SIZE) };
  }

  /**
   * Whether one chunk (ciphertext with tag) authenticates as chunk `index` with the given last
   * flag; used only to explain failures (cut at a boundary vs. appended data). Releases nothing.
   */
  authenticates(chunk: readonly Buffer[], index: number, final: boolean): boolean {
    const length = totalLength(chunk);
    if (length < AEAD_TAG_SIZE || length > ENCRYPTED_CHUNK_SIZE) return false;
    const output = Buffer.alloc(length - AEAD_TAG_SIZE);
    const opened = this.cipher.open(this.key, index, final, chunk, output);
    output.fill(0);
    return opened === 1;
  }
}

function settle(first: number, chunks: number, output: Buffer, opened: number): OpenResult {
  if (opened < chunks) {
    // The failed chunk's bytes are already zeroed; the authenticated ones before it are dropped
    // too, since the stream fails at this batch anyway.
    output.fill(0);
    return { first, plaintext: null, failedIndex: first + opened };
  }
  return { first, plaintext: output, failedIndex: null };
}
