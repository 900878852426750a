/**
 * The WAL archive of one job inside a repository: `wal/<job>/<name>.age` (age-encrypted to the
 * policy's recipients) plus `wal/<job>/<name>.sha256`, the sha256 of the plaintext.
 *
 * Why the plaintext digest: PostgreSQL may archive the same file twice (the archiver crashed
 * after we stored it but before it recorded success), and that must succeed; a *different* file
 * under an existing name (two clusters archiving into one job, a restored cluster reusing a
 * timeline) must fail and never overwrite. age ciphertext is randomised and the backup host holds
 * no private key, so the only way to compare is a digest of the plaintext, which is what
 * pgBackRest does too (it puts the SHA-1 in the file name). A digest of a 16 MiB segment says
 * nothing usable about its content.
 *
 * The digest lives in a record (wal-record.ts): job, file name, plaintext sha256 and size,
 * signed by the backup host when the policy configures signing; `fetch` acts only on a record
 * it trusts. Archives of earlier versions hold a bare hex digest, read as an unsigned record.
 *
 * Write protocol for `push`: the record is the claim on the name, the ciphertext follows.
 *   1. Read the record. None: create it (overwrite: false; a `.age` without any record is an
 *      archive of unknown content: refuse). If another writer created it first, read again.
 *      A record of different content: refuse. Of the same content: ours (or a concurrent or
 *      crashed push of the same file).
 *   2. Create `.age` (overwrite: false) unless it exists: a concurrent push of the same content
 *      that stored it first is "already archived".
 *   A record and its ciphertext therefore never disagree: the record is created once, never
 *   replaced, before any ciphertext, and a push of different content is refused at the record
 *   (before, the digest was overwritten and repaired afterwards, so a concurrent push of other
 *   content could read our digest as its own and report "already archived" without storing it).
 *   A crash between the two writes leaves a record without ciphertext: the retry, with the
 *   same file, finds its own record and stores the ciphertext.
 * `push` resolves only once the backend reports the object durably stored (the local backend
 * fsyncs file and directory; S3 acknowledges after storing), which is PostgreSQL's contract.
 *
 * Compression (streams/compression.ts, the job's `compression`): the file is compressed before it
 * is encrypted, and the record says how. The record decides: a push that finds a record of the
 * same content stores the ciphertext compressed as that record says, whatever the job says now,
 * so a record and its ciphertext never disagree across a change of the setting. `fetch`
 * decompresses as the trusted record says (a file without a record is read as uncompressed),
 * bounded by the record's size, and checks the result against its digest as before.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { text } from "node:stream/consumers";
import { pipeline } from "node:stream/promises";
import { createDecryptStream } from "../../crypto/decrypt.js";
import { createEncryptStream } from "../../crypto/encrypt.js";
import { AlreadyExistsError, IntegrityError, NotFoundError, UsageError } from "../../errors.js";
import { type Compression, compressStage, decompressStage } from "../../streams/compression.js";
import { layout } from "../../repository/layout.js";
import type { Repository } from "../../repository/repository.js";
import { parseWalFileName, requireWalFileName, type WalFileName } from "./wal-name.js";
import {
  parseWalRecord,
  recordedCompression,
  renderWalRecord,
  trustedWalDigest,
  walRecordFor,
  type StoredWalRecord,
} from "./wal-record.js";

const CIPHER_SUFFIX = ".age";
const DIGEST_SUFFIX = ".sha256";

export interface ArchivedWal extends WalFileName {
  /** Ciphertext bytes. */
  size: number;
  /** When the backend stored it (≈ when PostgreSQL archived it). */
  modified: Date;
}

export type PushResult = "stored" | "already-archived";

/** Reads a WAL file once to learn its size and sha256 (PostgreSQL does not change it meanwhile). */
export async function digestFile(
  file: string,
  signal?: AbortSignal,
): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(file, signal === undefined ? {} : { signal })) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    size += buffer.length;
  }
  return { sha256: hash.digest("hex"), size };
}

export class WalArchive {
  constructor(
    readonly repository: Repository,
    readonly job: string,
  ) {}

  private cipherKey(name: string): string {
    return layout.wal(this.job, name);
  }

  private digestKey(name: string): string {
    return `${layout.walPrefix(this.job)}${name}${DIGEST_SUFFIX}`;
  }

  /** The stored record of a file (untrusted), or null when there is none. */
  private async record(name: string): Promise<StoredWalRecord | null> {
    try {
      return parseWalRecord(await text(await this.repository.backend.get(this.digestKey(name))));
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
  }

  /** The recorded plaintext sha256 of an archived file, or null when there is none (or it is unreadable). */
  async digest(name: string): Promise<string | null> {
    const stored = await this.record(name);
    if (stored === null || stored.form === "damaged") return null;
    return stored.form === "legacy" ? stored.sha256 : stored.record.sha256;
  }

  private differentContent(name: string): IntegrityError {
    return new IntegrityError(
      `WAL file ${name} is already archived for job ${this.job} with different content; refusing to overwrite it`,
      {
        hint:
          "two clusters may be archiving into the same job, or a restored cluster reuses an old timeline; " +
          "give each cluster its own job, and check the archive before removing anything from it",
      },
    );
  }

  /**
   * Step 1 of `push` (see the file comment): a record of our content exists when this returns.
   * Returns the compression it states: ours, or that of an earlier push of the same content.
   */
  private async claim(
    name: string,
    digest: { sha256: string; size: number },
    compression: Compression,
  ): Promise<Compression> {
    const backend = this.repository.backend;
    const { sha256 } = digest;
    const body = renderWalRecord(
      walRecordFor({ job: this.job, segment: name }, digest, compression),
      this.repository.signer,
    );
    for (let attempt = 0; attempt < 4; attempt++) {
      const existing = await this.record(name);
      if (existing === null) {
        if ((await backend.stat(this.cipherKey(name))) !== null) {
          throw new IntegrityError(
            `WAL file ${name} is already archived for job ${this.job}, but without a digest, so it cannot be compared; refusing to overwrite it`,
          );
        }
        try {
          await backend.put(this.digestKey(name), Readable.from([body]), {
            overwrite: false,
            contentLength: body.length,
          });
          return compression;
        } catch (error) {
          if (error instanceof AlreadyExistsError) continue; // another push claimed it: compare
          throw error;
        }
      }
      if (existing.form === "damaged") {
        throw new IntegrityError(
          `WAL file ${name} of job ${this.job} has an unreadable record (${existing.problem}); refusing to archive over it`,
          { hint: `check ${this.digestKey(name)} in the repository: a person must decide what it is` },
        );
      }
      const recorded = existing.form === "legacy" ? existing.sha256 : existing.record.sha256;
      if (recorded !== sha256) throw this.differentContent(name);
      return recordedCompression(existing);
    }
    throw new IntegrityError(`WAL file ${name} of job ${this.job}: its record keeps changing; try again`);
  }

  /**
   * Encrypts `file` and stores it as `name` (default: the file's base name). Idempotent for the
   * same content; IntegrityError for different content. Resolves once durably stored.
   */
  async push(
    file: string,
    recipients: readonly string[],
    options: { name?: string; signal?: AbortSignal; compression?: Compression } = {},
  ): Promise<PushResult> {
    if (recipients.length === 0) throw new UsageError("no age recipients: cannot encrypt the WAL file");
    const name = options.name ?? path.basename(file);
    requireWalFileName(name);
    const digest = await digestFile(file, options.signal);
    const backend = this.repository.backend;
    const compression = await this.claim(name, digest, options.compression ?? "none");
    if ((await backend.stat(this.cipherKey(name))) !== null) return "already-archived";
    const source = createReadStream(file, options.signal === undefined ? {} : { signal: options.signal });
    const compress = compressStage(compression, digest.size);
    const cipher = createEncryptStream(recipients);
    const fail = (error: Error) => cipher.destroy(error);
    source.on("error", fail);
    if (compress === null) source.pipe(cipher);
    else {
      compress.on("error", fail);
      source.pipe(compress).pipe(cipher);
    }
    try {
      await backend.put(this.cipherKey(name), cipher, {
        overwrite: false,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (error) {
      // A concurrent push of the same content (the record says so) stored it first.
      if (error instanceof AlreadyExistsError) return "already-archived";
      throw error;
    }
    return "stored";
  }

  /**
   * Decrypts `name` into `dest` (written to a temporary name and renamed, so PostgreSQL never
   * sees a partial file). Returns false when the archive has no such file, which a
   * restore_command must report as a non-zero exit. Verifies the plaintext against the digest.
   */
  async fetch(
    name: string,
    dest: string,
    identities: readonly string[],
    options: { signal?: AbortSignal } = {},
  ): Promise<boolean> {
    requireWalFileName(name);
    let cipher: Readable;
    try {
      cipher = await this.repository.backend.get(
        this.cipherKey(name),
        options.signal === undefined ? {} : { signal: options.signal },
      );
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
    const expected = await this.trustedDigest(name);
    const hash = createHash("sha256");
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    const inflate = decompression(name, this.job, expected);
    const temp = path.join(path.dirname(dest), `.${path.basename(dest)}.backdrill-${process.pid}.tmp`);
    const signal = options.signal === undefined ? {} : { signal: options.signal };
    try {
      const decrypt = createDecryptStream(identities);
      const sink = createWriteStream(temp, { mode: 0o600 });
      if (inflate === null) await pipeline(cipher, decrypt, tap, sink, signal);
      else await pipeline(cipher, decrypt, inflate, tap, sink, signal);
      const actual = hash.digest("hex");
      if (
        expected !== null &&
        (expected.sha256 !== actual || (expected.size !== null && expected.size !== size))
      ) {
        throw new IntegrityError(
          `WAL file ${name} of job ${this.job} does not match its recorded digest (stored under the wrong name, or damaged)`,
        );
      }
      await rename(temp, dest);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return true;
  }

  /**
   * What `fetch` checks the decrypted file against: the record's digest if this reader trusts the
   * record (wal-record.ts); null (unchecked, as before records existed) only without signing and
   * without any record. With signing, a file without a trusted record is refused.
   */
  private async trustedDigest(
    name: string,
  ): Promise<{ sha256: string; size: number | null; compression: Compression } | null> {
    const trust = this.repository.trust;
    const stored = await this.record(name);
    if (stored === null) {
      if (trust.publicKeys === null || trust.allowUnsigned) return null;
      throw new IntegrityError(
        `WAL file ${name} of job ${this.job} has no record, and signing is configured; refusing to use it`,
      );
    }
    const judged = trustedWalDigest(stored, { job: this.job, segment: name }, trust);
    if (!judged.ok) {
      throw new IntegrityError(`WAL file ${name} of job ${this.job}: ${judged.problem}; refusing to use it`, {
        hint: "check who can write to the repository; an archive made before signing was set up needs --allow-unsigned",
      });
    }
    return { sha256: judged.sha256, size: judged.size, compression: judged.compression };
  }

  /**
   * Why `fetch` would refuse or could not check `name` by its record (none, unreadable, not
   * trusted), or null when the record is one `fetch` checks against. For `verify` without keys.
   */
  async recordProblem(name: string): Promise<string | null> {
    requireWalFileName(name);
    if ((await this.record(name)) === null) return `WAL file ${name} has no digest record`;
    try {
      await this.trustedDigest(name);
      return null;
    } catch (error) {
      if (error instanceof IntegrityError) return error.message;
      throw error;
    }
  }

  /** Every archived file, sorted by name (segments of one timeline in WAL order). */
  async list(): Promise<ArchivedWal[]> {
    const prefix = layout.walPrefix(this.job);
    const out: ArchivedWal[] = [];
    for await (const info of this.repository.backend.list(prefix)) {
      const rest = info.key.slice(prefix.length);
      if (!rest.endsWith(CIPHER_SUFFIX)) continue;
      const parsed = parseWalFileName(rest.slice(0, -CIPHER_SUFFIX.length));
      if (parsed === null) continue;
      out.push({ ...parsed, size: info.size, modified: info.modified });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Removes one archived file and its digest (retention). Idempotent. */
  async remove(name: string): Promise<void> {
    requireWalFileName(name);
    // Ciphertext first: a digest without ciphertext is harmless (the next push overwrites it).
    await this.repository.backend.delete(this.cipherKey(name));
    await this.repository.backend.delete(this.digestKey(name));
  }

  /** True when the file is archived. */
  async has(name: string): Promise<boolean> {
    return (await this.repository.backend.stat(this.cipherKey(name))) !== null;
  }
}

/**
 * The stage that decompresses a fetched file as its trusted record says (null: stored as is, or
 * no record), bounded by the record's size.
 */
function decompression(
  name: string,
  job: string,
  expected: { size: number | null; compression: Compression } | null,
) {
  if (expected === null || expected.compression === "none") return null;
  const where = `WAL file ${name} of job ${job}`;
  // Format-2 records always carry the size (wal-record.ts); a legacy digest is never compressed.
  if (expected.size === null) throw new IntegrityError(`${where}: compressed, but its size is not recorded`);
  return decompressStage(
    expected.compression,
    expected.size,
    (problem) => new IntegrityError(`${where}: ${problem}`),
  );
}
