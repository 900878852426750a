import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

/**
 * A pass-through stage that counts bytes and hashes them (sha256) on the way, so a single read
 * of the data yields both what the manifest records and what the next stage consumes.
 */
export class DigestStream extends Transform {
  private readonly hash: Hash = createHash("sha256");
  private bytes = 0;
  private digest: string | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.digest = this.hash.digest("hex");
    callback();
  }

  get size(): number {
    return this.bytes;
  }

  /** The hex sha256; only valid once the stream has ended. */
  get sha256(): string {
    if (this.digest === undefined) throw new Error("DigestStream: digest read before the stream ended");
    return this.digest;
  }
}

/**
 * A pass-through stage that fails at the end when the bytes seen differ from what the manifest
 * promised. The error is raised from `_flush`, so a consumer that reads to the end always learns
 * about damage; nothing after the last byte is silently accepted.
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash = createHash("sha256");
  private bytes = 0;

  constructor(
    private readonly expected: { size: number; sha256: string },
    private readonly onMismatch: (actual: { size: number; sha256: string }) => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.bytes > this.expected.size) {
      callback(this.onMismatch({ size: this.bytes, sha256: "(longer than recorded)" }));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const sha256 = this.hash.digest("hex");
    if (this.bytes !== this.expected.size || sha256 !== this.expected.sha256) {
      callback(this.onMismatch({ size: this.bytes, sha256 }));
      return;
    }
    callback();
  }
}
