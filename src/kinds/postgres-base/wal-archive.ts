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
 * Write protocol for `push` (commit point: the conditional create of the `.age` object):
 *   1. `.age` exists → compare with the digest: equal → already archived (success), different or
 *      missing digest → refuse.
 *   2. Otherwise write the digest (overwriting a digest a crashed attempt left behind: without its
 *      `.age` it describes nothing), then create `.age` with overwrite: false. If another writer
 *      created it meanwhile, compare again (step 1). After our create, re-read the digest and
 *      repair it if a concurrent writer of different content replaced it.
 * `push` resolves only once the backend reports the object durably stored (the local backend
 * fsyncs file and directory; S3 acknowledges after storing), which is PostgreSQL's contract.
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
import { layout } from "../../repository/layout.js";
import type { Repository } from "../../repository/repository.js";
import { parseWalFileName, requireWalFileName, type WalFileName } from "./wal-name.js";

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

  /** The recorded plaintext sha256 of an archived file, or null when there is none. */
  async digest(name: string): Promise<string | null> {
    try {
      const body = await text(await this.repository.backend.get(this.digestKey(name)));
      return body.trim();
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
  }

  private async compareExisting(name: string, sha256: string): Promise<PushResult> {
    const recorded = await this.digest(name);
    if (recorded === sha256) return "already-archived";
    throw new IntegrityError(
      recorded === null
        ? `WAL file ${name} is already archived for job ${this.job}, but without a digest, so it cannot be compared; refusing to overwrite it`
        : `WAL file ${name} is already archived for job ${this.job} with different content; refusing to overwrite it`,
      {
        hint:
          "two clusters may be archiving into the same job, or a restored cluster reuses an old timeline; " +
          "give each cluster its own job, and check the archive before removing anything from it",
      },
    );
  }

  /**
   * Encrypts `file` and stores it as `name` (default: the file's base name). Idempotent for the
   * same content; IntegrityError for different content. Resolves once durably stored.
   */
  async push(
    file: string,
    recipients: readonly string[],
    options: { name?: string; signal?: AbortSignal } = {},
  ): Promise<PushResult> {
    if (recipients.length === 0) throw new UsageError("no age recipients: cannot encrypt the WAL file");
    const name = options.name ?? path.basename(file);
    requireWalFileName(name);
    const { sha256 } = await digestFile(file, options.signal);
    const backend = this.repository.backend;
    if ((await backend.stat(this.cipherKey(name))) !== null) return this.compareExisting(name, sha256);

    const digestBody = Buffer.from(`${sha256}\n`);
    await backend.put(this.digestKey(name), Readable.from([digestBody]), {
      overwrite: true,
      contentLength: digestBody.length,
    });
    const source = createReadStream(file, options.signal === undefined ? {} : { signal: options.signal });
    const cipher = source.pipe(createEncryptStream(recipients));
    source.on("error", (error) => cipher.destroy(error));
    try {
      await backend.put(this.cipherKey(name), cipher, {
        overwrite: false,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (error) {
      if (error instanceof AlreadyExistsError) return this.compareExisting(name, sha256);
      throw error;
    }
    // A concurrent push of different content may have replaced the digest between our two
    // writes; the ciphertext is ours, so the digest must be too.
    if ((await this.digest(name)) !== sha256) {
      await backend.put(this.digestKey(name), Readable.from([digestBody]), {
        overwrite: true,
        contentLength: digestBody.length,
      });
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
    const expected = await this.digest(name);
    const hash = createHash("sha256");
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    const temp = path.join(path.dirname(dest), `.${path.basename(dest)}.backdrill-${process.pid}.tmp`);
    try {
      await pipeline(
        cipher,
        createDecryptStream(identities),
        tap,
        createWriteStream(temp, { mode: 0o600 }),
        options.signal === undefined ? {} : { signal: options.signal },
      );
      const actual = hash.digest("hex");
      if (expected !== null && expected !== actual) {
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
