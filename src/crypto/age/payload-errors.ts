/**
 * Why an age payload (C2SP age spec, "Payload") cannot be decrypted, in words an operator can act
 * on. The stream (decrypt.ts) and the file API (file.ts, native/age_file.c) establish the same
 * facts in the same order and describe them here, so both fail with identical messages.
 */
import { DecryptionError } from "../../errors.js";

/** Nothing follows the payload nonce: not even the final chunk. */
export function emptyPayload(): DecryptionError {
  return new DecryptionError("truncated age file: the payload has no chunks (a final chunk is missing)");
}

/** The input ends within chunk `index`, before its 16-byte tag is complete. */
export function finalChunkShorterThanTag(index: number): DecryptionError {
  return new DecryptionError(
    `truncated age file: it ends inside chunk ${index} (shorter than its 16-byte tag)`,
  );
}

/** Spec: the final chunk "MUST NOT be empty unless the whole payload is empty" (age agrees). */
export function emptyFinalChunk(index: number): DecryptionError {
  return new DecryptionError(`invalid age file: final chunk ${index} is empty, which the age format forbids`);
}

export interface FailedChunk {
  /** Index of the chunk in the payload. */
  index: number;
  /** Whether it was opened as the final chunk (the input ended with it). */
  final: boolean;
  /**
   * Whether the same bytes authenticate with the other last-chunk flag: a final chunk that opens
   * as a middle one means the file was cut at a chunk boundary; a middle chunk that opens as the
   * final one means bytes were appended after the end.
   */
  authenticatesWithOtherFlag: boolean;
}

/** Chunk `index` did not authenticate: tampering, a cut at a chunk boundary, or appended bytes. */
export function chunkFailed(chunk: FailedChunk): DecryptionError {
  const { index } = chunk;
  if (chunk.final) {
    if (chunk.authenticatesWithOtherFlag) {
      return new DecryptionError(
        `truncated age file: it ends after chunk ${index}, which is not the final chunk (cut at a chunk boundary)`,
      );
    }
    return new DecryptionError(
      `final chunk ${index} failed authentication: the file was truncated mid-chunk, tampered with, or had bytes appended`,
    );
  }
  if (chunk.authenticatesWithOtherFlag) {
    return new DecryptionError("trailing data after the final chunk: bytes were appended to the age file");
  }
  return new DecryptionError(
    `chunk ${index} of the payload failed authentication: the file was tampered with or corrupted`,
  );
}
