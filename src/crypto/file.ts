/**
 * age encryption and decryption from one file to another (C2SP age spec), for when both ends are
 * files, devices or pipes: the same bytes as createEncryptStream / createDecryptStream, about
 * twice as fast.
 *
 * The header is written or read here, with the same code as the streams (prepareHeader,
 * HeaderStage); the payload is handed to the native addon (native/age_file.c), whose worker
 * threads read, seal or open and write blocks of 64 KiB chunks with buffers that stay in their
 * cores' caches, one worker per core. Through Node streams every MiB goes through two fresh
 * Buffers and several JS-thread hops (bench/results.md, crypto notes). Without the addon, or with
 * BACKDRILL_NATIVE_CRYPTO=0, the streams do the work.
 *
 * Decryption fails exactly as the decrypt stream does (same DecryptionError messages); the output
 * is then removed if it is a regular file, since it would hold only part of the plaintext.
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, stat, unlink } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { Readable, type Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { getSystemErrorMap } from "node:util";
import { OperationError, UsageError } from "../errors.js";
import { type FileResult, type NativeAgeStream, nativeAgeStream } from "./age/native.js";
import {
  chunkFailed,
  emptyFinalChunk,
  emptyPayload,
  finalChunkShorterThanTag,
} from "./age/payload-errors.js";
import { payloadKey } from "./age/primitives.js";
import { PAYLOAD_NONCE_SIZE } from "./age/stream.js";
import { createDecryptStream, parseIdentities } from "./decrypt.js";
import { createEncryptStream, prepareHeader } from "./encrypt.js";
import { HeaderStage, type PayloadStart } from "./header-stage.js";

/**
 * Chunks per block, the unit a worker reads, seals and writes: 4 (256 KiB in, 256 KiB out) keeps
 * both buffers in a core's L2 cache. Measured on the 2-vCPU bench box (bench/results.md).
 */
const BLOCK_CHUNKS = 4;
/** Worker threads: one per core; more than 4 only adds contention for the input and output. */
const MAX_THREADS = 4;
/** How much of the input is read per call while looking for the end of the header. */
const HEADER_READ_SIZE = 64 * 1024;
/** Read size of the stream fallback (fs streams default to 64 KiB). */
const FALLBACK_READ_SIZE = 1024 * 1024;
const OUTPUT_MODE = 0o600;

export interface FileCryptoOptions {
  signal?: AbortSignal;
}

export interface FileCryptoResult {
  /** Bytes read from the input (whole file). */
  bytesIn: number;
  /** Bytes written to the output (whole file). */
  bytesOut: number;
}

function threads(): number {
  return Math.min(MAX_THREADS, Math.max(1, availableParallelism()));
}

/** "ENOSPC (no space left on device)" for an errno from the addon. */
function describeErrno(errno: number): string {
  const entry = getSystemErrorMap().get(-errno);
  return entry === undefined ? `errno ${errno}` : `${entry[0]} (${entry[1]})`;
}

function ioError(verb: "open" | "read" | "write", path: string, error: unknown): OperationError {
  const code = (error as { code?: unknown }).code;
  const detail = typeof code === "string" ? code : error instanceof Error ? error.message : String(error);
  return new OperationError(`cannot ${verb} ${path}: ${detail}`, { cause: error });
}

async function openInput(path: string): Promise<FileHandle> {
  try {
    return await open(path, "r");
  } catch (error) {
    throw ioError("open", path, error);
  }
}

/**
 * Opens (creating or truncating, mode 0600) the output, refusing the input itself: truncating
 * it would destroy the data before it is read.
 */
async function openOutput(path: string, input: FileHandle, inputPath: string): Promise<FileHandle> {
  const [source, existing] = await Promise.all([input.stat(), stat(path).catch(() => null)]);
  if (existing !== null && existing.dev === source.dev && existing.ino === source.ino)
    throw new UsageError(`the output ${path} is the input ${inputPath}: write to another file`);
  try {
    return await open(path, "w", OUTPUT_MODE);
  } catch (error) {
    throw ioError("open", path, error);
  }
}

/** A failed run leaves no partial regular file behind (devices and pipes are left alone). */
async function removePartial(output: FileHandle | null, path: string): Promise<void> {
  if (output === null) return;
  try {
    if ((await output.stat()).isFile()) await unlink(path);
  } catch {
    // Best effort: the error being reported matters more than the clean-up.
  }
}

async function writeAll(handle: FileHandle, data: Buffer, path: string): Promise<void> {
  try {
    for (let offset = 0; offset < data.length;) {
      const { bytesWritten } = await handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
  } catch (error) {
    throw ioError("write", path, error);
  }
}

/** Runs a native file job, abortable through `signal`; the descriptors stay open meanwhile. */
async function runJob(
  addon: NativeAgeStream,
  signal: AbortSignal | undefined,
  start: (token: ReturnType<NativeAgeStream["createAbortToken"]>) => Promise<FileResult>,
): Promise<FileResult> {
  signal?.throwIfAborted();
  const token = addon.createAbortToken();
  const onAbort = () => addon.abort(token);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await start(token);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** The error for a job that did not end "ok", or null. */
function jobError(result: FileResult, input: string, output: string, signal?: AbortSignal): Error | null {
  switch (result.outcome) {
    case "ok":
      return null;
    case "read-error":
      return new OperationError(`cannot read ${input}: ${describeErrno(result.errno)}`);
    case "write-error":
      return new OperationError(`cannot write ${output}: ${describeErrno(result.errno)}`);
    case "aborted":
      return signal?.reason instanceof Error ? signal.reason : new OperationError("aborted");
    case "auth":
      return chunkFailed({
        index: result.index,
        final: result.finalChunk,
        authenticatesWithOtherFlag: result.flippedAuthenticates,
      });
    case "short-final":
      return finalChunkShorterThanTag(result.index);
    case "empty-payload":
      return emptyPayload();
    case "empty-final":
      return emptyFinalChunk(result.index);
    default:
      return new Error(`native age ${input} → ${output}: internal failure (${result.outcome})`);
  }
}

/**
 * Runs `body` with the output, which is opened when `body` first asks for it (so a run that fails
 * before producing anything leaves an existing file alone), closed at the end, and removed after
 * a failure if it is a regular file.
 */
async function withOutput<T>(
  paths: { input: string; output: string },
  source: FileHandle,
  body: (sink: () => Promise<FileHandle>) => Promise<T>,
): Promise<T> {
  const state: { opening: Promise<FileHandle> | null } = { opening: null };
  const sink = () => (state.opening ??= openOutput(paths.output, source, paths.input));
  const opened = async () => (state.opening === null ? null : state.opening.catch(() => null));
  try {
    return await body(sink);
  } catch (error) {
    await removePartial(await opened(), paths.output);
    throw error;
  } finally {
    await (await opened())?.close();
  }
}

/**
 * Encrypts the file `input` to every recipient into `output` (created or truncated, mode 0600).
 * Invalid recipients throw a UsageError before any file is opened.
 */
export async function encryptFile(
  input: string,
  output: string,
  recipients: readonly string[],
  options: FileCryptoOptions = {},
): Promise<FileCryptoResult> {
  const paths = { input, output };
  const addon = nativeAgeStream();
  // Either validates the recipients now, before any file is touched.
  const stream = addon === null ? createEncryptStream(recipients) : null;
  const setup = addon === null ? null : prepareHeader(recipients);
  // Reported when awaited below; must not count as unhandled while the files are being opened.
  if (setup instanceof Promise) setup.catch(() => undefined);
  const source = await openInput(input);
  try {
    return await withOutput(paths, source, async (sink) => {
      if (addon === null || setup === null)
        return streamed(source, sink, stream as Transform, paths, options.signal);
      const { fileKey, header } = await setup;
      const nonce = randomBytes(PAYLOAD_NONCE_SIZE);
      const key = payloadKey(fileKey, nonce);
      fileKey.fill(0);
      try {
        const out = await sink();
        const start = Buffer.concat([header, nonce]);
        await writeAll(out, start, output);
        const result = await runJob(addon, options.signal, (token) =>
          addon.sealFile(key, source.fd, out.fd, threads(), BLOCK_CHUNKS, token),
        );
        const error = jobError(result, input, output, options.signal);
        if (error !== null) throw error;
        return { bytesIn: result.bytesIn, bytesOut: start.length + result.bytesOut };
      } finally {
        key.fill(0);
      }
    });
  } finally {
    await source.close();
  }
}

/**
 * Decrypts the age file `input` with the first identity that opens it into `output` (created or
 * truncated, mode 0600), which is not touched before the header is verified. Fails with the
 * decrypt stream's DecryptionErrors; invalid identities throw a UsageError before any file is
 * opened.
 */
export async function decryptFile(
  input: string,
  output: string,
  identities: readonly string[],
  options: FileCryptoOptions = {},
): Promise<FileCryptoResult> {
  const paths = { input, output };
  const addon = nativeAgeStream();
  const parsed = parseIdentities(identities);
  const source = await openInput(input);
  try {
    return await withOutput(paths, source, async (sink) => {
      if (addon === null)
        return streamed(source, sink, createDecryptStream(identities), paths, options.signal);
      const { start, bytesRead } = await readPayloadStart(
        source,
        new HeaderStage(parsed),
        input,
        options.signal,
      );
      try {
        const prefix = Buffer.concat(start.rest.take(start.rest.length));
        const out = await sink();
        const result = await runJob(addon, options.signal, (token) =>
          addon.openFile(start.key, source.fd, out.fd, threads(), BLOCK_CHUNKS, token, prefix),
        );
        const error = jobError(result, input, output, options.signal);
        if (error !== null) throw error;
        // The addon counts the prefix among its input bytes.
        return { bytesIn: bytesRead - prefix.length + result.bytesIn, bytesOut: result.bytesOut };
      } finally {
        start.key.fill(0);
      }
    });
  } finally {
    await source.close();
  }
}

/**
 * Reads the input until the header and payload nonce are through (HeaderStage's errors); also
 * returns how many bytes that took.
 */
async function readPayloadStart(
  source: FileHandle,
  stage: HeaderStage,
  path: string,
  signal: AbortSignal | undefined,
): Promise<{ start: PayloadStart; bytesRead: number }> {
  let total = 0;
  for (;;) {
    signal?.throwIfAborted();
    const buffer = Buffer.allocUnsafe(HEADER_READ_SIZE);
    let bytesRead: number;
    try {
      ({ bytesRead } = await source.read(buffer, 0, buffer.length, null));
    } catch (error) {
      throw ioError("read", path, error);
    }
    if (bytesRead === 0) stage.end();
    total += bytesRead;
    const start = await stage.push(buffer.subarray(0, bytesRead));
    if (start !== null) return { start, bytesRead: total };
  }
}

/** The input from its current position to its end, in pieces (read errors name the file). */
async function* readAll(source: FileHandle, path: string, counted: FileCryptoResult): AsyncGenerator<Buffer> {
  for (;;) {
    const buffer = Buffer.allocUnsafe(FALLBACK_READ_SIZE);
    let bytesRead: number;
    try {
      ({ bytesRead } = await source.read(buffer, 0, buffer.length, null));
    } catch (error) {
      throw ioError("read", path, error);
    }
    if (bytesRead === 0) return;
    counted.bytesIn += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/**
 * The stream implementation between two open files (no addon). fs streams are not used: they
 * close their descriptor when destroyed, and the handles must stay open for the clean-up.
 */
async function streamed(
  source: FileHandle,
  sink: () => Promise<FileHandle>,
  transform: Transform,
  paths: { input: string; output: string },
  signal: AbortSignal | undefined,
): Promise<FileCryptoResult> {
  const counted = { bytesIn: 0, bytesOut: 0 };
  // The output is opened with the first output bytes (decryption: once the header and the first
  // batch verified), or at the end for an empty one.
  const writer = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      counted.bytesOut += chunk.length;
      sink()
        .then((out) => writeAll(out, chunk, paths.output))
        .then(() => callback(), callback);
    },
    final(callback) {
      sink().then(() => callback(), callback);
    },
  });
  try {
    await pipeline(
      Readable.from(readAll(source, paths.input, counted), { objectMode: false }),
      transform,
      writer,
      signal === undefined ? {} : { signal },
    );
  } catch (error) {
    // As the addon's path does: an abort rejects with the signal's reason.
    throw signal?.aborted === true ? (signal.reason as unknown) : error;
  }
  return counted;
}
