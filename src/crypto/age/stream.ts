/**
 * The age payload (C2SP age spec, "Payload"; C2SP agead): a 16-byte nonce, then STREAM with
 * ChaCha20-Poly1305 over 64 KiB chunks. Each chunk is its own AEAD message, so node:crypto's
 * OpenSSL ChaCha20-Poly1305 does all per-byte work.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { AEAD_NONCE_SIZE, AEAD_TAG_SIZE, CIPHER } from "./primitives.js";

/** Spec "Payload": the payload is split in chunks of 64 KiB. */
export const CHUNK_SIZE = 64 * 1024;
/** A full chunk on the wire: plaintext plus the 16-byte Poly1305 tag. */
export const ENCRYPTED_CHUNK_SIZE = CHUNK_SIZE + AEAD_TAG_SIZE;
/** Spec "Payload": it begins with a 16-byte nonce from a CSPRNG. */
export const PAYLOAD_NONCE_SIZE = 16;
/** Spec "Payload": nonce = 11-byte big-endian chunk counter || last-chunk flag byte. */
const COUNTER_SIZE = 11;
const LAST_FLAG_INDEX = AEAD_NONCE_SIZE - 1;
const LAST_CHUNK = 0x01;
const NOT_LAST_CHUNK = 0x00;

/** The per-chunk nonce: counter starting at zero, incremented by one per chunk. */
class ChunkNonce {
  private readonly bytes = Buffer.alloc(AEAD_NONCE_SIZE);
  /** The chunk index, for error messages; exact well beyond any real file size. */
  index = 0;

  get(last: boolean): Buffer {
    this.bytes[LAST_FLAG_INDEX] = last ? LAST_CHUNK : NOT_LAST_CHUNK;
    return this.bytes;
  }

  next(): void {
    for (let i = COUNTER_SIZE - 1; i >= 0; i--) {
      const byte = ((this.bytes[i] as number) + 1) & 0xff;
      this.bytes[i] = byte;
      if (byte !== 0) break;
      // Spec: 2^88 chunks. Unreachable in practice, but never let the counter wrap (nonce reuse).
      if (i === 0) throw new Error("STREAM chunk counter overflow");
    }
    this.index++;
  }
}

export class StreamSealer {
  private readonly nonce = new ChunkNonce();
  constructor(private readonly key: Buffer) {}

  /** Encrypts one chunk given as pieces; returns the ciphertext pieces followed by the tag. */
  seal(plaintext: readonly Buffer[], last: boolean): Buffer[] {
    const cipher = createCipheriv(CIPHER, this.key, this.nonce.get(last), { authTagLength: AEAD_TAG_SIZE });
    const out: Buffer[] = [];
    for (const piece of plaintext) out.push(cipher.update(piece));
    out.push(cipher.final(), cipher.getAuthTag());
    this.nonce.next();
    return out;
  }
}

export class StreamOpener {
  private readonly nonce = new ChunkNonce();
  constructor(private readonly key: Buffer) {}

  /** Index of the chunk the next `open` call decrypts. */
  get index(): number {
    return this.nonce.index;
  }

  /**
   * Decrypts and authenticates the current chunk (ciphertext pieces without the tag). Returns the
   * plaintext only if the tag verifies, else null: no unauthenticated byte ever leaves this method.
   * Does not advance; call {@link next} after a chunk is accepted.
   */
  open(ciphertext: readonly Buffer[], tag: Buffer, last: boolean): Buffer[] | null {
    const decipher = createDecipheriv(CIPHER, this.key, this.nonce.get(last), {
      authTagLength: AEAD_TAG_SIZE,
    });
    decipher.setAuthTag(tag);
    const out: Buffer[] = [];
    for (const piece of ciphertext) out.push(decipher.update(piece));
    try {
      out.push(decipher.final());
    } catch {
      return null;
    }
    return out;
  }

  next(): void {
    this.nonce.next();
  }
}
