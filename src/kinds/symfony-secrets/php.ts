/**
 * Reads (and writes) the PHP files of a Symfony secrets vault without running PHP.
 *
 * Symfony's SodiumVault writes each value as
 *
 *   <?php // prod.NAME.1a2b3c on Sat, 28 Nov 2026 02:15:00 +0000
 *
 *   return "\x8F\xA2...";
 *
 * where the string is rawurlencode()'d bytes with `%` turned into `\x` (so only [A-Za-z0-9._~-]
 * and `\xHH` occur), the key file adds a `// SYMFONY_DECRYPTION_SECRET=<base64>` comment line,
 * and `<env>.list.php` is var_export() of an array whose keys are the secret names:
 *
 *   return array (
 *     0 => NULL,
 *     'a2' => NULL,
 *   );
 *
 * (a name like `0` becomes an integer key). The parsers accept the general PHP forms an
 * operator's hand edit could produce (single quotes, the other double-quote escapes, `[...]`
 * arrays, comments) and refuse anything they cannot read exactly, such as `$variable`
 * interpolation or code other than one `return` of a literal.
 */

export class PhpParseError extends Error {}

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
        if (end === -1) throw new PhpParseError("unterminated /* comment");
        this.pos = end + 2;
      } else {
        return;
      }
    }
  }

  expectWord(word: string): void {
    this.skip();
    const found = this.text.slice(this.pos, this.pos + word.length);
    if (found.toLowerCase() !== word.toLowerCase() || /\w/.test(this.peek(word.length))) {
      throw new PhpParseError(`expected ${word} at offset ${this.pos}`);
    }
    this.pos += word.length;
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

function utf8(text: string): number[] {
  return [...Buffer.from(text, "utf8")];
}

/** A double-quoted PHP string literal at the cursor, as bytes. */
function readDoubleQuoted(cursor: Cursor): Buffer {
  cursor.pos += 1; // opening quote
  const bytes: number[] = [];
  let literalStart = cursor.pos;
  const flush = (end: number): void => {
    // The file is decoded as latin1, so each character is one byte of the file.
    if (end > literalStart) bytes.push(...Buffer.from(cursor.text.slice(literalStart, end), "latin1"));
  };
  for (;;) {
    if (cursor.eof()) throw new PhpParseError("unterminated string");
    const c = cursor.peek();
    if (c === '"') {
      flush(cursor.pos);
      cursor.pos += 1;
      return Buffer.from(bytes);
    }
    if (c === "$" && /[A-Za-z_{]/.test(cursor.peek(1))) {
      throw new PhpParseError(`variable interpolation at offset ${cursor.pos} cannot be read without PHP`);
    }
    if (c === "{" && cursor.peek(1) === "$") {
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
        bytes.push(0x0a);
        break;
      case "t":
        bytes.push(0x09);
        break;
      case "r":
        bytes.push(0x0d);
        break;
      case "v":
        bytes.push(0x0b);
        break;
      case "e":
        bytes.push(0x1b);
        break;
      case "f":
        bytes.push(0x0c);
        break;
      case "\\":
        bytes.push(0x5c);
        break;
      case "$":
        bytes.push(0x24);
        break;
      case '"':
        bytes.push(0x22);
        break;
      case "x": {
        let digits = "";
        while (digits.length < 2 && HEX.test(cursor.peek())) {
          digits += cursor.peek();
          cursor.pos += 1;
        }
        if (digits === "")
          bytes.push(0x5c, 0x78); // "\x" without digits stays literal
        else bytes.push(parseInt(digits, 16));
        break;
      }
      case "u": {
        if (cursor.peek() !== "{") {
          bytes.push(0x5c, 0x75);
          break;
        }
        const end = cursor.text.indexOf("}", cursor.pos);
        const hex = end === -1 ? "" : cursor.text.slice(cursor.pos + 1, end);
        if (!/^[0-9A-Fa-f]+$/.test(hex)) throw new PhpParseError(`bad \\u{} escape at offset ${cursor.pos}`);
        bytes.push(...utf8(String.fromCodePoint(parseInt(hex, 16))));
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
          bytes.push(parseInt(digits, 8) & 0xff);
        } else {
          // PHP keeps unknown escapes as written, backslash included.
          cursor.pos -= 1;
          bytes.push(0x5c);
        }
    }
    literalStart = cursor.pos;
  }
}

/** A single-quoted PHP string literal at the cursor: only \' and \\ are escapes. */
function readSingleQuoted(cursor: Cursor): Buffer {
  cursor.pos += 1;
  let out = "";
  for (;;) {
    if (cursor.eof()) throw new PhpParseError("unterminated string");
    const c = cursor.peek();
    if (c === "'") {
      cursor.pos += 1;
      return Buffer.from(out, "latin1");
    }
    if (c === "\\" && (cursor.peek(1) === "'" || cursor.peek(1) === "\\")) {
      out += cursor.peek(1);
      cursor.pos += 2;
      continue;
    }
    out += c;
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

function openPhp(file: Buffer | string): Cursor {
  // latin1: one character per byte, so literal bytes of any value survive exactly.
  const text = typeof file === "string" ? file : file.toString("latin1");
  const start = text.startsWith("\xEF\xBB\xBF") ? text.slice(3) : text;
  if (!start.startsWith("<?php")) throw new PhpParseError("does not start with <?php");
  const cursor = new Cursor(start);
  cursor.pos = 5;
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
  if (value === undefined) throw new PhpParseError("expected return of a string literal");
  closePhp(cursor);
  return value;
}

function readKey(cursor: Cursor): string {
  cursor.skip();
  const text = readString(cursor);
  if (text !== undefined) return text.toString("latin1");
  const match = /^-?\d+/.exec(cursor.text.slice(cursor.pos));
  if (match === null) throw new PhpParseError(`expected an array key at offset ${cursor.pos}`);
  cursor.pos += match[0].length;
  return String(Number(match[0]));
}

function skipValue(cursor: Cursor): void {
  cursor.skip();
  if (readString(cursor) !== undefined) return;
  const match = /^(?:null|true|false|-?\d+(?:\.\d+)?)\b/i.exec(cursor.text.slice(cursor.pos));
  if (match === null) throw new PhpParseError(`expected NULL or a scalar value at offset ${cursor.pos}`);
  cursor.pos += match[0].length;
}

/**
 * The keys of the array returned by `<env>.list.php`, in file order, as strings (an integer key
 * like `0` is the secret named "0").
 */
export function parsePhpListFile(text: Buffer | string): string[] {
  const cursor = openPhp(text);
  cursor.skip();
  let close: string;
  if (cursor.tryChar("[")) {
    close = "]";
  } else {
    cursor.expectWord("array");
    cursor.expectChar("(");
    close = ")";
  }
  const keys: string[] = [];
  for (;;) {
    if (cursor.tryChar(close)) break;
    keys.push(readKey(cursor));
    cursor.skip();
    if (!(cursor.peek() === "=" && cursor.peek(1) === ">"))
      throw new PhpParseError(`expected => at offset ${cursor.pos}`);
    cursor.pos += 2;
    skipValue(cursor);
    if (cursor.tryChar(",")) continue;
    cursor.expectChar(close);
    break;
  }
  closePhp(cursor);
  return keys;
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
  const b64 = Buffer.from(keypair).toString("base64");
  return `<?php // ${environment}.decrypt.private on ${phpDate(date)}\n\n// SYMFONY_DECRYPTION_SECRET=${b64}\nreturn ${phpStringLiteral(keypair)};\n`;
}
