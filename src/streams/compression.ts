/**
 * Compression of stored data (base backups, WAL), applied before encryption (ciphertext does not
 * compress) and undone after decryption. One module, so that every writer compresses and every
 * reader decompresses the same way: `compressStage` on the way in, `decompressStages` on the way
 * out (repository.openArtifact for artifacts, WalArchive.fetch for WAL; every other reader goes
 * through one of those two).
 *
 * Why brotli (bench/results.md, "Compression"): zstd is not in Node 20's zlib (only from 22.15 /
 * 23.8) and lz4 would need a native dependency; brotli quality 1 from node:zlib streams on the
 * libuv thread pool, compresses PostgreSQL WAL and base backups better than gzip level 1 and
 * about twice as fast. Quality 4 is offered for a smaller archive at a higher CPU cost.
 *
 * Decompression is bounded: the manifest (or WAL record) says how many bytes the data had before
 * compression, and decompressing past that stops with an IntegrityError, so a forged or damaged
 * record cannot make a reader write without limit (a "decompression bomb"); ending short of it is
 * an error too.
 */
import { Transform, type TransformCallback } from "node:stream";
import { constants, createBrotliCompress, createBrotliDecompress } from "node:zlib";
import * as z from "zod";

export const COMPRESSIONS = ["none", "brotli-1", "brotli-4"] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export const compressionSchema = z.enum(COMPRESSIONS).meta({
  description:
    "How data is compressed before it is encrypted: brotli-1 (fast, about a third of the size for " +
    "PostgreSQL data), brotli-4 (smaller, several times the CPU), or none.",
});

/** brotli-N → quality N. */
const QUALITY: Record<Exclude<Compression, "none">, number> = { "brotli-1": 1, "brotli-4": 4 };

/**
 * The compression a stored record names, read as untrusted input: absent means none (what every
 * record written before compression existed means); anything this version does not know is a
 * problem to report, never a guess.
 */
export function readCompression(
  value: unknown,
): { ok: true; compression: Compression } | { ok: false; problem: string } {
  if (value === undefined) return { ok: true, compression: "none" };
  if (typeof value === "string" && (COMPRESSIONS as readonly string[]).includes(value))
    return { ok: true, compression: value as Compression };
  return {
    ok: false,
    problem: `compression ${JSON.stringify(value)} is not one this backdrill knows (${COMPRESSIONS.join(", ")}): written by a newer backdrill, or forged`,
  };
}

/**
 * The stage that compresses (null for none). `sizeHint`: the input's size when known (a WAL
 * segment), which lets brotli pick its window for it.
 */
export function compressStage(compression: Compression, sizeHint?: number): Transform | null {
  if (compression === "none") return null;
  const params: Record<number, number> = {
    [constants.BROTLI_PARAM_QUALITY]: QUALITY[compression],
  };
  if (sizeHint !== undefined && sizeHint > 0) params[constants.BROTLI_PARAM_SIZE_HINT] = sizeHint;
  return createBrotliCompress({ params });
}

/**
 * The stage that undoes `compression` (null for none), to put after decryption in a pipeline.
 * `expectedSize`: the size before compression as the record states it; the output is cut off
 * with `error(...)` the moment it would exceed it, and must end exactly at it.
 */
export function decompressStage(
  compression: Compression,
  expectedSize: number,
  error: (problem: string) => Error,
): Transform | null {
  if (compression === "none") return null;
  return new Decompress(compression, expectedSize, error);
}

/**
 * Brotli decompression with the size bound and errors that name the data. The inner zlib stream
 * is paused whenever this stream's reader is behind, and zlib then stops inflating the current
 * input (it resumes on read): a few KiB that inflate to gigabytes never sit in memory at once.
 */
class Decompress extends Transform {
  private readonly inflate = createBrotliDecompress();
  private seen = 0;
  private failed = false;
  private ended: TransformCallback | null = null;

  constructor(
    private readonly compression: Compression,
    private readonly expected: number,
    private readonly error: (problem: string) => Error,
  ) {
    super();
    this.inflate.on("data", (chunk: Buffer) => this.output(chunk));
    this.inflate.on("error", (cause: Error) => {
      // zlib's message ("Decompression failed") says nothing about where; the data authenticated,
      // so the record's compression is what does not match it.
      this.fail(`it does not decompress as ${this.compression} (${cause.message})`);
    });
    this.inflate.on("end", () => {
      const done = this.ended;
      this.ended = null;
      if (done === null || this.failed) return;
      if (this.seen !== this.expected) {
        done(this.error(`it decompresses to ${this.seen} bytes, its record states ${this.expected}`));
        return;
      }
      done();
    });
  }

  private output(chunk: Buffer): void {
    if (this.failed) return;
    this.seen += chunk.length;
    if (this.seen > this.expected) {
      this.fail(
        `it decompresses to more than the ${this.expected} bytes its record states; stopped there (a forged record, or a decompression bomb)`,
      );
      return;
    }
    if (!this.push(chunk)) this.inflate.pause();
  }

  private fail(problem: string): void {
    if (this.failed) return;
    this.failed = true;
    this.inflate.destroy();
    this.destroy(this.error(problem));
  }

  override _read(size: number): void {
    this.inflate.resume();
    super._read(size);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    // Called back once zlib consumed the chunk, which waits while its output is paused.
    this.inflate.write(chunk, () => {
      if (!this.failed) callback();
    });
  }

  override _flush(callback: TransformCallback): void {
    this.ended = callback;
    this.inflate.end();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.inflate.destroy();
    callback(error);
  }
}
