/**
 * The start of an age file (C2SP age spec, "Header" and "Payload"): the header, opened with one of
 * our identities and checked against its MAC, then the 16-byte payload nonce, which together give
 * the payload key. Shared by the decrypt stream (decrypt.ts) and file decryption (file.ts), so
 * both reject a bad file with the same error.
 */
import { DecryptionError } from "../errors.js";
import {
  ARMOR_BEGIN,
  type ParsedHeader,
  type Stanza,
  VERSION_PREFIX,
  describeStanzas,
  findHeaderEnd,
  parseHeader,
} from "./age/header.js";
import { PieceQueue } from "./age/pieces.js";
import { headerMac, macEquals, payloadKey } from "./age/primitives.js";
import { PAYLOAD_NONCE_SIZE } from "./age/stream.js";
import { X25519_STANZA_TYPE, unwrapX25519 } from "./age/x25519.js";
import type { ParsedIdentity } from "./keys.js";

/**
 * The spec sets no header size limit; stanzas are small (an X25519 stanza is ~110 bytes, a
 * post-quantum one ~1.6 KiB), so 1 MiB is generous and bounds what a hostile file can make us buffer.
 */
const MAX_HEADER_SIZE = 1024 * 1024;
/** Spec "The scrypt recipient type": the stanza type of passphrase-encrypted files. */
const SCRYPT_STANZA_TYPE = "scrypt";
const VERSION_PREFIX_BYTES = Buffer.from(VERSION_PREFIX, "latin1");
const ARMOR_BYTES = Buffer.from(ARMOR_BEGIN, "latin1");

/** What the header stage hands to the payload: its key and the input bytes after the nonce. */
export interface PayloadStart {
  key: Buffer;
  /** Input received after the payload nonce, in order (views, not copies). */
  rest: PieceQueue;
}

function noMatch(count: number, stanzas: readonly Stanza[]): DecryptionError {
  return new DecryptionError(
    `none of the ${count} identit${count === 1 ? "y" : "ies"} can open this file (recipients: ${describeStanzas(stanzas)})`,
    {
      hint: "check that the identity file matches the recipients the file was encrypted to (age-keygen -y FILE)",
    },
  );
}

function notAgeFile(start: Buffer): DecryptionError {
  if (
    start
      .subarray(0, ARMOR_BYTES.length)
      .equals(ARMOR_BYTES.subarray(0, Math.min(start.length, ARMOR_BYTES.length)))
  ) {
    return new DecryptionError(
      "ASCII-armored age files are not supported; decode the armor first (age -d / base64)",
    );
  }
  return new DecryptionError(`not an age file: it does not start with "${VERSION_PREFIX}v1"`);
}

function macMismatch(): DecryptionError {
  return new DecryptionError("header MAC mismatch: the age header was modified (tampered or corrupted)");
}

export class HeaderStage {
  private phase: "header" | "nonce" | "done" = "header";
  /** Header bytes received so far (the header ends with a line, so it is re-scanned per LF only). */
  private headerParts: Buffer[] = [];
  private headerSize = 0;
  /** Bytes after the header: the nonce, then the payload. */
  private readonly rest = new PieceQueue();
  private fileKey: Buffer | null = null;

  constructor(private readonly identities: readonly ParsedIdentity[]) {}

  /**
   * Takes the next input bytes. Returns the payload's start once the header and the nonce are
   * complete (only once), null while more input is needed; throws a DecryptionError (or rejects,
   * when a delegated identity is tried) as soon as the input cannot be a file we can open.
   */
  push(chunk: Buffer): PayloadStart | null | Promise<PayloadStart | null> {
    if (this.phase === "done") throw new Error("HeaderStage: the payload has already started");
    if (this.phase === "nonce") {
      this.rest.push(chunk);
      return this.payloadStart();
    }
    const header = this.collectHeader(chunk);
    if (header === null) return null;
    const opened = this.openHeader(header);
    return opened instanceof Promise ? opened.then(() => this.payloadStart()) : this.payloadStart();
  }

  /** The input ended before the payload started: throws why. */
  end(): never {
    if (this.phase === "header") {
      const start = Buffer.concat(this.headerParts, this.headerSize);
      if (start.length === 0) throw new DecryptionError("not an age file: the input is empty");
      this.checkPrefix(start);
      throw new DecryptionError("truncated age file: it ends inside the header");
    }
    throw new DecryptionError("truncated age file: it ends before the payload nonce");
  }

  private payloadStart(): PayloadStart | null {
    if (this.rest.length < PAYLOAD_NONCE_SIZE) return null;
    const nonce = this.rest.takeContiguous(PAYLOAD_NONCE_SIZE);
    const fileKey = this.fileKey as Buffer;
    const key = payloadKey(fileKey, nonce);
    fileKey.fill(0);
    this.fileKey = null;
    this.phase = "done";
    return { key, rest: this.rest };
  }

  private checkPrefix(start: Buffer): void {
    const n = Math.min(start.length, VERSION_PREFIX_BYTES.length);
    if (!start.subarray(0, n).equals(VERSION_PREFIX_BYTES.subarray(0, n))) throw notAgeFile(start);
  }

  /** Accumulates header bytes; returns the parsed header once complete (the rest is kept). */
  private collectHeader(chunk: Buffer): ParsedHeader | null {
    this.headerParts.push(chunk);
    this.headerSize += chunk.length;
    if (this.headerSize - chunk.length < VERSION_PREFIX_BYTES.length) {
      // The first bytes just arrived: reject anything that is not age right away.
      this.checkPrefix(Buffer.concat(this.headerParts, this.headerSize));
    }
    // Concatenating only when a line may have ended keeps tiny writes from costing O(n²) copies.
    if (!chunk.includes(0x0a)) {
      if (this.headerSize > MAX_HEADER_SIZE)
        throw new DecryptionError("malformed age header: larger than 1 MiB");
      return null;
    }
    const data = this.headerParts.length === 1 ? chunk : Buffer.concat(this.headerParts, this.headerSize);
    this.headerParts = [data];
    const end = findHeaderEnd(data);
    if (end < 0) {
      if (this.headerSize > MAX_HEADER_SIZE)
        throw new DecryptionError("malformed age header: larger than 1 MiB");
      return null;
    }
    this.headerParts = [];
    this.headerSize = 0;
    const header = parseHeader(data.subarray(0, end));
    this.rest.push(data.subarray(end));
    return header;
  }

  /** Finds the file key with our identities and checks the header MAC (spec "Header MAC"). */
  private openHeader(header: ParsedHeader): void | Promise<void> {
    const { stanzas } = header;
    if (stanzas.some((stanza) => stanza.args[0] === SCRYPT_STANZA_TYPE)) {
      // Spec: an scrypt stanza MUST be the only one; either way we hold no passphrase.
      throw new DecryptionError(
        stanzas.length === 1
          ? "this file is passphrase-encrypted (scrypt); backdrill decrypts with age identities only"
          : "malformed age header: an scrypt stanza is mixed with other stanzas",
      );
    }
    for (const stanza of stanzas) {
      if (stanza.args[0] !== X25519_STANZA_TYPE) continue;
      for (const identity of this.identities) {
        if (identity.kind !== "x25519") continue;
        const fileKey = unwrapX25519(stanza, identity);
        if (fileKey !== null) return this.acceptFileKey(header, fileKey);
      }
    }
    const delegated = this.identities.filter((identity) => identity.kind === "delegated");
    if (delegated.length === 0) throw noMatch(this.identities.length, stanzas);
    // Loaded on demand: the package costs ~250 ms and ~17 MiB to load, and X25519 needs none of it.
    return import("age-encryption")
      .then(({ Decrypter }) => {
        const decrypter = new Decrypter();
        for (const identity of delegated) decrypter.addIdentity(identity.text);
        return decrypter.decryptHeader(header.bytes);
      })
      .then(
        (fileKey) => this.acceptFileKey(header, Buffer.from(fileKey)),
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          if (/no identity matched/i.test(message)) throw noMatch(this.identities.length, stanzas);
          if (/HMAC/i.test(message)) throw macMismatch();
          throw new DecryptionError(`cannot open the age header: ${message}`, { cause: error });
        },
      );
  }

  private acceptFileKey(header: ParsedHeader, fileKey: Buffer): void {
    if (!macEquals(headerMac(fileKey, header.macInput), header.mac)) throw macMismatch();
    this.fileKey = fileKey;
    this.phase = "nonce";
  }
}
