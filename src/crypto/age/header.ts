/**
 * The textual age v1 header (C2SP age spec, "Header"): version line, recipient stanzas, MAC.
 *
 *     age-encryption.org/v1
 *     -> X25519 <base64 ephemeral share>
 *     <base64 body, wrapped at 64 columns, ending with a line shorter than 64>
 *     --- <base64 HMAC-SHA-256>
 */
import { DecryptionError } from "../../errors.js";
import { decodeBase64, encodeBase64 } from "./base64.js";
import { headerMac } from "./primitives.js";

/** Spec "Version line": every version starts with this; only `v1` is specified. */
export const VERSION_PREFIX = "age-encryption.org/";
export const VERSION_LINE = `${VERSION_PREFIX}v1\n`;
/** Spec "Recipient stanza": the body is wrapped at 64 columns. */
const BODY_COLUMNS = 64;
/** Spec ABNF `end = "--- " 43base64char LF`: a 32-byte HMAC-SHA-256 in unpadded base64. */
const MAC_MARK = "---";
const MAC_BASE64_LENGTH = 43;
/** Spec ABNF `argument = 1*VCHAR`: printable ASCII, no spaces. */
const ARGUMENT = /^[\x21-\x7e]+$/;
/** ASCII-armored files (spec "ASCII armor") start with this PEM line. */
export const ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----";

export interface Stanza {
  /** `args[0]` is the stanza type (`X25519`, `scrypt`, `mlkem768x25519`, …). */
  readonly args: readonly string[];
  readonly body: Buffer;
}

export interface ParsedHeader {
  stanzas: Stanza[];
  /** The header bytes the MAC covers: everything up to and including `---`. */
  macInput: Buffer;
  mac: Buffer;
  /** Length of the whole header in bytes, including the MAC line's LF. */
  length: number;
  /** The whole header (version line through MAC line), e.g. for age-encryption's `decryptHeader`. */
  bytes: Buffer;
}

/** Serialises stanzas and computes the MAC with the file key (spec "Header MAC"). */
export function encodeHeader(stanzas: readonly Stanza[], fileKey: Uint8Array): Buffer {
  let text = VERSION_LINE;
  for (const stanza of stanzas) {
    for (const arg of stanza.args) {
      if (!ARGUMENT.test(arg)) throw new Error(`invalid stanza argument ${JSON.stringify(arg)}`);
    }
    text += `-> ${stanza.args.join(" ")}\n`;
    const body = encodeBase64(stanza.body);
    // Every full 64-column line is followed by another line; the last one is shorter, possibly empty.
    for (let i = 0; i <= body.length; i += BODY_COLUMNS) text += `${body.slice(i, i + BODY_COLUMNS)}\n`;
  }
  text += MAC_MARK;
  const macInput = Buffer.from(text, "latin1");
  const mac = headerMac(fileKey, macInput);
  return Buffer.concat([macInput, Buffer.from(` ${encodeBase64(mac)}\n`, "latin1")]);
}

const MAC_LINE_START = Buffer.from(`\n${MAC_MARK} `, "latin1");

/**
 * Returns the header length (through the MAC line's LF) if `data` holds a complete header, else -1.
 * The MAC line is the only line starting `---`: stanza lines start `->` and bodies are base64.
 */
export function findHeaderEnd(data: Buffer): number {
  const mark = data.indexOf(MAC_LINE_START);
  if (mark < 0) return -1;
  const lf = data.indexOf(0x0a, mark + MAC_LINE_START.length);
  return lf < 0 ? -1 : lf + 1;
}

function malformed(what: string): DecryptionError {
  return new DecryptionError(`malformed age header: ${what} (the file is corrupted or was tampered with)`);
}

/** Parses a complete header (as delimited by {@link findHeaderEnd}) strictly per the spec ABNF. */
export function parseHeader(data: Buffer): ParsedHeader {
  const length = findHeaderEnd(data);
  if (length < 0) throw malformed("no MAC line");
  const bytes = data.subarray(0, length);
  const text = bytes.toString("latin1");
  // Drop the final LF, so that split gives exactly the header's lines.
  const lines = text.slice(0, -1).split("\n");
  const version = lines[0] ?? "";
  if (!version.startsWith(VERSION_PREFIX)) throw new DecryptionError("not an age file: missing age header");
  if (`${version}\n` !== VERSION_LINE) {
    throw new DecryptionError(
      `unsupported age format version ${JSON.stringify(version.slice(VERSION_PREFIX.length))}: only v1 is supported`,
    );
  }
  const stanzas: Stanza[] = [];
  let i = 1;
  for (;;) {
    const line = lines[i++];
    if (line === undefined) throw malformed("no MAC line");
    if (line.startsWith(`${MAC_MARK} `)) {
      if (i !== lines.length) throw malformed("data after the MAC line");
      const macText = line.slice(MAC_MARK.length + 1);
      const mac = macText.length === MAC_BASE64_LENGTH ? decodeBase64(macText) : null;
      if (mac === null) throw malformed("invalid MAC encoding");
      if (stanzas.length === 0) throw malformed("no recipient stanzas");
      const macInputLength = length - 1 - macText.length - 1;
      return { stanzas, macInput: bytes.subarray(0, macInputLength), mac, length, bytes };
    }
    if (!line.startsWith("-> ")) throw malformed(`unexpected line ${i}`);
    const args = line.slice(3).split(" ");
    if (!args.every((arg) => ARGUMENT.test(arg))) throw malformed(`invalid stanza arguments on line ${i}`);
    let body = "";
    for (;;) {
      const bodyLine = lines[i++];
      if (bodyLine === undefined) throw malformed("stanza body is not terminated");
      if (bodyLine.length > BODY_COLUMNS) throw malformed(`stanza body line ${i} is longer than 64 columns`);
      body += bodyLine;
      if (bodyLine.length < BODY_COLUMNS) break;
    }
    const decoded = decodeBase64(body);
    if (decoded === null) throw malformed(`invalid base64 in stanza body ending on line ${i}`);
    stanzas.push({ args, body: decoded });
  }
}

/** "X25519 x2, mlkem768x25519 x1": what a file is encrypted to, for error messages. */
export function describeStanzas(stanzas: readonly Stanza[]): string {
  const counts = new Map<string, number>();
  for (const stanza of stanzas) {
    const type = stanza.args[0] ?? "?";
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return [...counts].map(([type, count]) => `${type} x${count}`).join(", ");
}
