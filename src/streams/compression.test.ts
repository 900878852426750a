import { randomBytes } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { brotliCompressSync as brotliDefault, constants } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  COMPRESSIONS,
  type Compression,
  compressStage,
  decompressStage,
  readCompression,
} from "./compression.js";

/** Text-like data that compresses (as WAL and table files do) with some random bytes mixed in. */
function sample(size: number): Buffer {
  const out = Buffer.alloc(size);
  const line = Buffer.from("INSERT INTO items VALUES (42, 'lorem ipsum dolor sit amet');\n");
  for (let offset = 0; offset < size; offset += line.length) line.copy(out, offset);
  randomBytes(size >> 4).copy(out, size >> 1);
  return out;
}

async function collect(source: Readable, ...stages: NodeJS.ReadWriteStream[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  });
  await pipeline([source, ...stages, sink]);
  return Buffer.concat(parts);
}

function pieces(data: Buffer, size: number): Readable {
  const out: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += size) out.push(data.subarray(offset, offset + size));
  return Readable.from(out);
}

/** Quality 1: the default (11) takes seconds per MiB. */
function brotliCompressSync(data: Buffer): Buffer {
  return brotliDefault(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } });
}

const named = (problem: string) => new Error(`base.tar: ${problem}`);

describe.each(COMPRESSIONS.filter((c) => c !== "none"))("%s", (compression) => {
  it("round-trips, smaller than the input, whatever the write sizes", async () => {
    const data = sample(3 * 1024 * 1024 + 5);
    const compressed = await collect(pieces(data, 1000), compressStage(compression, data.length)!);
    expect(compressed.length).toBeLessThan(data.length / 2);
    const restored = await collect(
      pieces(compressed, 777),
      decompressStage(compression, data.length, named)!,
    );
    expect(restored.equals(data)).toBe(true);
  });

  it("round-trips empty input", async () => {
    const compressed = await collect(Readable.from([]), compressStage(compression)!);
    expect(await collect(Readable.from([compressed]), decompressStage(compression, 0, named)!)).toEqual(
      Buffer.alloc(0),
    );
  });
});

describe("decompressStage", () => {
  it("is no stage for none, and compressStage neither", () => {
    expect(decompressStage("none", 10, named)).toBeNull();
    expect(compressStage("none")).toBeNull();
  });

  it("stops a decompression bomb at the recorded size, without inflating it all", async () => {
    // 64 MiB of zeros compress to a few KiB: 64 times what the forged record admits.
    const bomb = brotliCompressSync(Buffer.alloc(64 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(64 * 1024);
    let delivered = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        delivered += chunk.length;
        callback();
      },
    });
    await expect(
      pipeline(Readable.from([bomb]), decompressStage("brotli-1", 1024 * 1024, named)!, sink),
    ).rejects.toThrow(/^base\.tar: it decompresses to more than the 1048576 bytes its record states/);
    expect(delivered).toBeLessThanOrEqual(1024 * 1024);
  });

  it("refuses output short of the recorded size", async () => {
    const compressed = brotliCompressSync(Buffer.from("hello"));
    await expect(
      collect(Readable.from([compressed]), decompressStage("brotli-1", 6, named)!),
    ).rejects.toThrow("base.tar: it decompresses to 5 bytes, its record states 6");
  });

  it("names the data when it is not brotli at all", async () => {
    await expect(
      collect(
        Readable.from([Buffer.from("plain tar bytes, never compressed")]),
        decompressStage("brotli-4", 100, named)!,
      ),
    ).rejects.toThrow(/^base\.tar: it does not decompress as brotli-4 \(/);
  });

  it("keeps memory bounded for a slow reader (backpressure reaches zlib)", async () => {
    const data = Buffer.alloc(16 * 1024 * 1024, 1);
    const compressed = brotliCompressSync(data);
    const stage = decompressStage("brotli-1", data.length, named)!;
    let maxBuffered = 0;
    let total = 0;
    const sink = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        total += chunk.length;
        maxBuffered = Math.max(maxBuffered, stage.readableLength);
        setImmediate(callback);
      },
    });
    await pipeline(Readable.from([compressed]), stage, sink);
    expect(total).toBe(data.length);
    expect(maxBuffered).toBeLessThanOrEqual(256 * 1024);
  });
});

describe("readCompression", () => {
  it("reads absent as none and names unknown values", () => {
    expect(readCompression(undefined)).toEqual({ ok: true, compression: "none" });
    for (const value of COMPRESSIONS)
      expect(readCompression(value)).toEqual({ ok: true, compression: value });
    for (const value of ["zstd-3", "", 1, null, "Brotli-1"] as unknown[]) {
      const read = readCompression(value);
      expect(read.ok).toBe(false);
      expect(!read.ok && read.problem).toMatch(
        /is not one this backdrill knows \(none, brotli-1, brotli-4\)/,
      );
    }
  });
});

// The type is the list: a new value must be handled wherever Compression is switched on.
const _exhaustive: Record<Compression, true> = { none: true, "brotli-1": true, "brotli-4": true };
void _exhaustive;
