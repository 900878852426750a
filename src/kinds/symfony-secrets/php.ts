/**
 * Reads (and writes) the PHP files of a Symfony secrets vault without running PHP.
 *
 * What Symfony's SodiumVault (FrameworkBundle/Secrets/SodiumVault.php) writes, the same in 5.4,
 * 6.4 and 7.4 (byte-exact samples from real PHP in test/fixtures/symfony-secrets/):
 *
 *   `<env>.<NAME>.<md5(NAME)[0:6]>.php`, `<env>.encrypt.public.php`, `<env>.decrypt.private.php`:
 *
 *     <?php // prod.NAME.1a2b3c on Sat, 28 Nov 2026 02:15:00 +0000
 *
 *     return "\x8F\xA2...";
 *
 *   the string is rawurlencode()'d bytes with `%` turned into `\x` (so only [A-Za-z0-9._~-] and
 *   `\xHH` occur); the key file has a `// SYMFONY_DECRYPTION_SECRET=<base64>` line before `return`.
 *
 *   `<env>.list.php`: VarExporter::export() of an array whose keys are the secret names:
 *
 *     <?php
 *
 *     return [
 *         null,
 *         null,
 *         3 => null,
 *         '007' => null,
 *         'a2' => null,
 *     ];
 *
 *   PHP turns a name like `0` or `123` into an integer key, and VarExporter leaves out every key
 *   that is the integer PHP would assign anyway: the two bare `null,` are the secrets "0" and "1".
 *   No secret is `return [];`, and a vault that never had one has no list.php at all.
 *
 * The parsers follow PHP's own rules for what they accept (implicit integer keys, numeric string
 * keys becoming integers, later duplicates merging into the first, the other string escapes,
 * `array (...)` as var_export() and hand edits write it, comments), so a list reads as the array
 * PHP would build. They execute nothing and refuse, with the offset, anything that is not one
 * `return` of a literal or that they cannot read exactly (`$variable` interpolation, expressions,
 * keys PHP would convert lossily). Files are untrusted input (a production host, a backup):
 * parsing is linear and the size is capped.
 */
import { IntegrityError } from "../../errors.js";
import { SYMFONY_ENVIRONMENT } from "./names.js";

export class PhpParseError extends Error {}

/** The largest file read: Symfony writes a few hundred bytes per secret. */
export const MAX_PHP_FILE_BYTES = 16 * 1024 * 1024;

const PHP_INT_MAX = 2n ** 63n - 1n;
/** Bytes PHP allows in a name (a keyword, a `$variable`): letters, digits, _ and 0x80-0xFF... */
const NAME_CHAR = /[A-Za-z0-9_\x80-\xff]/;
/** ...and those a name may start with. */
const NAME_START = /[A-Za-z_\x80-\xff]/;

class Cursor {
  pos = 0;
  constructor(readonly text: string) {}

  peek(offset = 0): string {
    return this.text.charAt(this.pos + offset);
  }

  eof(): boolean {
    return this.pos >= this.text.length;
  }

  /** Skips whitespace and PHP comments (`//`, `#` to end of line or `?>`; block comments). */
  skip(): void {
    for (;;) {
      const c = this.peek();
      if (c === " " || c === "\t" || c === "\n" || c === "\r") {
        this.pos += 1;
      } else if ((c === "/" && this.peek(1) === "/") || (c === "#" && this.peek(1) !== "[")) {
        while (!this.eof() && this.peek() !== "\n" && !(this.peek() === "?" && this.peek(1) === ">"))
          this.pos += 1;
      } else if (c === "/" && this.peek(1) === "*") {
        const end = this.text.indexOf("*/", this.pos + 2);
        if (end === -1) throw new PhpParseError(`unterminated /* comment at offset ${this.pos}`);
        this.pos = end + 2;
      } else {
        return;
      }
    }
  }

  /** A keyword, case-insensitive as in PHP, not followed by more name characters. */
  tryWord(word: string): boolean {
    this.skip();
    const found = this.text.slice(this.pos, this.pos + word.length);
    if (found.toLowerCase() !== word || NAME_CHAR.test(this.peek(word.length))) return false;
    this.pos += word.length;
    return true;
  }

  expectWord(word: string): void {
    if (!this.tryWord(word)) throw new PhpParseError(`expected ${word} at offset ${this.pos}`);
  }

  tryChar(char: string): boolean {
    this.skip();
    if (this.peek() === char) {
      this.pos += 1;
      return true;
    }
    return false;
  }

  expectChar(char: string): void {
    if (!this.tryChar(char)) throw new PhpParseError(`expected ${char} at offset ${this.pos}`);
  }
}

const HEX = /^[0-9A-Fa-f]$/;
const OCT = /^[0-7]$/;

/**
 * Decoded bytes of a string literal. Escapes only ever shorten the source, so a buffer as long as
 * the literal's source holds it; it is zero-filled and the caller gets a view of the written part
 * only, so wiping that view wipes every copy (the key file's literal is a key).
 */
class ByteWriter {
  private readonly out: Buffer;
  length = 0;
  constructor(capacity: number) {
    this.out = Buffer.alloc(capacity);
  }

  latin1(text: string): void {
    this.length += this.out.write(text, this.length, "latin1");
  }

  byte(...bytes: number[]): void {
    for (const b of bytes) this.out[this.length++] = b;
  }

  done(): Buffer {
    return this.out.subarray(0, this.length);
  }
}

/**
 * Where the literal opening at the cursor ends (its closing quote), so that its buffer is sized
 * by the literal and not by the rest of the file (a list of many names stays linear).
 */
function literalEnd(cursor: Cursor): number {
  const quote = cursor.peek();
  for (let i = cursor.pos + 1; i < cursor.text.length; i += 1) {
    const c = cursor.text.charAt(i);
    if (c === "\\") i += 1;
    else if (c === quote) return i;
  }
  throw new PhpParseError(`unterminated string starting at offset ${cursor.pos}`);
}

/** UTF-8 of a code point as PHP's `\u{...}` writes it (surrogates included, unlike TextEncoder). */
function utf8(cp: number): number[] {
  if (cp < 0x80) return [cp];
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
}

/** A double-quoted PHP string literal at the cursor, as bytes. */
function readDoubleQuoted(cursor: Cursor): Buffer {
  const open = cursor.pos;
  const out = new ByteWriter(literalEnd(cursor) - open);
  cursor.pos += 1;
  let literalStart = cursor.pos;
  // The file is decoded as latin1, so each character is one byte of the file.
  const flush = (end: number): void => {
    if (end > literalStart) out.latin1(cursor.text.slice(literalStart, end));
  };
  for (;;) {
    if (cursor.eof()) throw new PhpParseError(`unterminated string starting at offset ${open}`);
    const c = cursor.peek();
    if (c === '"') {
      flush(cursor.pos);
      cursor.pos += 1;
      return out.done();
    }
    if (
      (c === "$" && (NAME_START.test(cursor.peek(1)) || cursor.peek(1) === "{")) ||
      (c === "{" && cursor.peek(1) === "$")
    ) {
      throw new PhpParseError(`variable interpolation at offset ${cursor.pos} cannot be read without PHP`);
    }
    if (c !== "\\") {
      cursor.pos += 1;
      continue;
    }
    flush(cursor.pos);
    const e = cursor.peek(1);
    cursor.pos += 2;
    switch (e) {
      case "n":
        out.byte(0x0a);
        break;
      case "t":
        out.byte(0x09);
        break;
      case "r":
        out.byte(0x0d);
        break;
      case "v":
        out.byte(0x0b);
        break;
      case "e":
        out.byte(0x1b);
        break;
      case "f":
        out.byte(0x0c);
        break;
      case "\\":
        out.byte(0x5c);
        break;
      case "$":
        out.byte(0x24);
        break;
      case '"':
        out.byte(0x22);
        break;
      case "x": {
        let digits = "";
        while (digits.length < 2 && HEX.test(cursor.peek())) {
          digits += cursor.peek();
          cursor.pos += 1;
        }
        if (digits === "")
          out.byte(0x5c, 0x78); // "\x" without digits stays literal
        else out.byte(parseInt(digits, 16));
        break;
      }
      case "u": {
        if (cursor.peek() !== "{") {
          out.byte(0x5c, 0x75); // "\u" without "{" stays literal
          break;
        }
        const end = cursor.text.indexOf("}", cursor.pos);
        const hex = end === -1 ? "" : cursor.text.slice(cursor.pos + 1, end);
        const cp = /^[0-9A-Fa-f]{1,8}$/.test(hex) ? parseInt(hex, 16) : Number.NaN;
        if (!(cp <= 0x10ffff)) throw new PhpParseError(`bad \\u{} escape at offset ${cursor.pos - 2}`);
        out.byte(...utf8(cp));
        cursor.pos = end + 1;
        break;
      }
      default:
        if (OCT.test(e)) {
          let digits = e;
          while (digits.length < 3 && OCT.test(cursor.peek())) {
            digits += cursor.peek();
            cursor.pos += 1;
          }
          // "\400" and above: PHP keeps the low byte (with a compile warning).
          out.byte(parseInt(digits, 8) & 0xff);
        } else {
          // PHP keeps unknown escapes as written, backslash included.
          cursor.pos -= 1;
          out.byte(0x5c);
        }
    }
    literalStart = cursor.pos;
  }
}

/** A single-quoted PHP string literal at the cursor: only \' and \\ are escapes. */
function readSingleQuoted(cursor: Cursor): Buffer {
  const open = cursor.pos;
  const out = new ByteWriter(literalEnd(cursor) - open);
  cursor.pos += 1;
  let literalStart = cursor.pos;
  for (;;) {
    if (cursor.eof()) throw new PhpParseError(`unterminated string starting at offset ${open}`);
    const c = cursor.peek();
    if (c === "'") {
      out.latin1(cursor.text.slice(literalStart, cursor.pos));
      cursor.pos += 1;
      return out.done();
    }
    if (c === "\\" && (cursor.peek(1) === "'" || cursor.peek(1) === "\\")) {
      out.latin1(cursor.text.slice(literalStart, cursor.pos));
      cursor.pos += 1; // drop the backslash, keep the escaped character
      literalStart = cursor.pos;
    }
    cursor.pos += 1;
  }
}

function readString(cursor: Cursor): Buffer | undefined {
  cursor.skip();
  const c = cursor.peek();
  if (c === '"') return readDoubleQuoted(cursor);
  if (c === "'") return readSingleQuoted(cursor);
  return undefined;
}

type Scalar =
  | { kind: "string"; bytes: Buffer }
  /** A decimal integer literal PHP reads as an integer (within 64 bits). */
  | { kind: "int"; value: bigint }
  /** Any other number: a float, hex/octal/binary, `1_000`, or a decimal beyond 64 bits. */
  | { kind: "number" }
  | { kind: "constant"; name: "null" | "true" | "false" };

const CONSTANT = /(null|true|false)(?![A-Za-z0-9_\x80-\xff])/iy;
const NUMBER =
  /-?(?:0[xX][0-9A-Fa-f_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?)(?![A-Za-z0-9_\x80-\xff.])/y;

/** A literal value at the cursor: null, true, false, a number or a string; nothing else. */
function readScalar(cursor: Cursor): Scalar {
  cursor.skip();
  const bytes = readString(cursor);
  if (bytes !== undefined) return { kind: "string", bytes };
  CONSTANT.lastIndex = cursor.pos;
  const constant = CONSTANT.exec(cursor.text);
  if (constant !== null) {
    cursor.pos = CONSTANT.lastIndex;
    return { kind: "constant", name: (constant[1] as string).toLowerCase() as "null" | "true" | "false" };
  }
  NUMBER.lastIndex = cursor.pos;
  const number = NUMBER.exec(cursor.text);
  if (number !== null) {
    cursor.pos = NUMBER.lastIndex;
    const text = number[0];
    if (/^-?(?:0|[1-9]\d*)$/.test(text)) {
      const value = BigInt(text);
      // Beyond 64 bits PHP reads the literal as a float (also -2^63: the minus applies after).
      if (value <= PHP_INT_MAX && value >= -PHP_INT_MAX) return { kind: "int", value };
    }
    return { kind: "number" };
  }
  throw new PhpParseError(`expected null, true, false, a number or a string at offset ${cursor.pos}`);
}

/** The key PHP stores for a literal key: an integer (as PHP converts numeric strings) or a string. */
function arrayKey(key: Scalar, offset: number): bigint | string {
  if (key.kind === "int") return key.value;
  if (key.kind === "string") {
    const text = key.bytes.toString("latin1");
    // PHP stores "123" as the integer 123 (but not "0123", "-0" or beyond 64 bits).
    if (/^(?:0|-?[1-9]\d{0,18})$/.test(text)) {
      const value = BigInt(text);
      if (value <= PHP_INT_MAX && value >= -PHP_INT_MAX - 1n) return value;
    }
    return text;
  }
  if (key.kind === "number") {
    throw new PhpParseError(
      `array key at offset ${offset} is a number PHP would convert (only decimal integers within 64 bits are read as keys)`,
    );
  }
  throw new PhpParseError(`array key at offset ${offset} is ${key.name}, not a secret name`);
}

function openPhp(file: Buffer | string): Cursor {
  // latin1: one character per byte, so literal bytes of any value survive exactly.
  const text =
    typeof file === "string" ? Buffer.from(file, "utf8").toString("latin1") : file.toString("latin1");
  if (text.length > MAX_PHP_FILE_BYTES) {
    throw new PhpParseError(
      `${text.length} bytes, more than the ${MAX_PHP_FILE_BYTES} a vault file may have; not read`,
    );
  }
  const cursor = new Cursor(text);
  if (text.startsWith("\xEF\xBB\xBF")) cursor.pos = 3;
  // PHP needs whitespace after the open tag ("<?phpreturn" is not PHP code).
  if (
    cursor.text.slice(cursor.pos, cursor.pos + 5).toLowerCase() !== "<?php" ||
    !/^[ \t\r\n]$/.test(cursor.peek(5))
  )
    throw new PhpParseError("does not start with <?php");
  cursor.pos += 5;
  cursor.expectWord("return");
  return cursor;
}

function closePhp(cursor: Cursor): void {
  cursor.expectChar(";");
  cursor.skip();
  if (cursor.peek() === "?" && cursor.peek(1) === ">") cursor.pos += 2;
  cursor.skip();
  if (!cursor.eof())
    throw new PhpParseError(`unexpected code after the return statement at offset ${cursor.pos}`);
}

/** The bytes of a `<?php ... return "...";` file. */
export function parsePhpStringFile(text: Buffer | string): Buffer {
  const cursor = openPhp(text);
  const value = readString(cursor);
  if (value === undefined)
    throw new PhpParseError(`expected return of a string literal at offset ${cursor.pos}`);
  closePhp(cursor);
  return value;
}

/**
 * The keys of the array returned by `<env>.list.php`, in PHP's order, as strings: the names
 * Symfony's `list()` yields. A value without a key gets the next integer, as PHP assigns it
 * (one more than the largest integer key so far, from 0); a key seen twice stays where it first
 * appeared. Values are read (they must be literals) and ignored, as Symfony ignores them.
 */
export function parsePhpListFile(text: Buffer | string): string[] {
  const cursor = openPhp(text);
  let close: string;
  if (cursor.tryChar("[")) {
    close = "]";
  } else {
    cursor.expectWord("array");
    cursor.expectChar("(");
    close = ")";
  }
  const names: string[] = [];
  const seen = new Set<string>();
  let next = 0n;
  for (;;) {
    if (cursor.tryChar(close)) break;
    const offset = cursor.pos;
    const first = readScalar(cursor);
    cursor.skip();
    let key: bigint | string;
    if (cursor.peek() === "=" && cursor.peek(1) === ">") {
      cursor.pos += 2;
      key = arrayKey(first, offset);
      readScalar(cursor);
    } else {
      if (next > PHP_INT_MAX)
        throw new PhpParseError(
          `value at offset ${offset} has no key and PHP has no next integer to give it`,
        );
      key = next;
    }
    if (typeof key === "bigint") {
      // Negative keys are no secret names, and PHP versions disagree on what follows them.
      if (key < 0n)
        throw new PhpParseError(`array key ${key} at offset ${offset} is negative, not a secret name`);
      if (key >= next) next = key + 1n;
    }
    const name = String(key);
    if (!seen.has(name)) {
      seen.add(name);
      names.push(name);
    }
    if (cursor.tryChar(",")) continue;
    if (cursor.tryChar(close)) break;
    throw new PhpParseError(`expected , or ${close} at offset ${cursor.pos}`);
  }
  closePhp(cursor);
  return names;
}

/** PHP's rawurlencode with `%` as `\x`: how Symfony writes bytes into a PHP string literal. */
export function phpStringLiteral(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `\\x${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return `"${out}"`;
}

/** RFC 2822 date as PHP's date('r') writes it, in UTC. */
function phpDate(date: Date): string {
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const two = (n: number): string => String(n).padStart(2, "0");
  return `${days[date.getUTCDay()]}, ${two(date.getUTCDate())} ${months[date.getUTCMonth()]} ${date.getUTCFullYear()} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`;
}

/** `<env>.decrypt.private.php` exactly as Symfony's SodiumVault writes it. */
export function renderDecryptionKeyFile(environment: string, keypair: Uint8Array, date = new Date()): string {
  // The environment goes into a `//` comment: a line break or `?>` there would end the comment
  // (or PHP mode) and make the rest code. Only Symfony environment names get in.
  if (!SYMFONY_ENVIRONMENT.test(environment)) {
    throw new IntegrityError(
      `${JSON.stringify(environment)} is not a Symfony environment name; no PHP is written for it`,
    );
  }
  const b64 = Buffer.from(keypair).toString("base64");
  return `<?php // ${environment}.decrypt.private on ${phpDate(date)}\n\n// SYMFONY_DECRYPTION_SECRET=${b64}\nreturn ${phpStringLiteral(keypair)};\n`;
}
