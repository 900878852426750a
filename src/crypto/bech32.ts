/**
 * Bech32 (BIP 173) encoding, as used by age for `age1…` recipients and `AGE-SECRET-KEY-1…` identities.
 *
 * age uses the original Bech32 checksum (constant 1, not Bech32m) and lifts BIP 173's 90-character
 * limit, because post-quantum recipients (`age1pq1…`) are about 1,950 characters long
 * (C2SP age spec, "The MLKEM768-X25519 hybrid post-quantum recipient type").
 */

const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
/** BIP 173 generator coefficients of the BCH checksum polynomial. */
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3] as const;
/** BIP 173: the checksum is 6 characters (30 bits). */
const CHECKSUM_LENGTH = 6;

const CHARSET_REVERSE: ReadonlyMap<string, number> = new Map([...CHARSET].map((c, i) => [c, i]));

export interface Bech32Decoded {
  /** Human-readable part, in the case it was written (`age`, `AGE-SECRET-KEY-`). */
  hrp: string;
  data: Buffer;
}

/** Why a string is not valid Bech32; never contains the input (it may be a secret). */
export class Bech32Error extends Error {}

function polymod(values: readonly number[]): number {
  let chk = 1;
  for (const value of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ value;
    for (let i = 0; i < 5; i++) {
      if ((top >>> i) & 1) chk ^= GENERATOR[i] as number;
    }
  }
  return chk >>> 0;
}

function hrpExpand(hrp: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) >> 5);
  out.push(0);
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) & 31);
  return out;
}

/** Regroups bits (8→5 when encoding, 5→8 when decoding), as in BIP 173's reference `convertbits`. */
function convertBits(data: ArrayLike<number>, from: number, to: number, pad: boolean): number[] {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const maxv = (1 << to) - 1;
  for (let i = 0; i < data.length; i++) {
    acc = (acc << from) | (data[i] as number);
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >>> bits) & maxv);
    }
    acc &= (1 << bits) - 1;
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & maxv);
  } else if (bits >= from || ((acc << (to - bits)) & maxv) !== 0) {
    throw new Bech32Error("invalid padding in data part");
  }
  return out;
}

/** Encodes bytes; the result is lower-case unless `upper` (age identities are upper-case). */
export function bech32Encode(hrp: string, data: Uint8Array, upper = false): string {
  const lowerHrp = hrp.toLowerCase();
  const words = convertBits(data, 8, 5, true);
  const mod = polymod([...hrpExpand(lowerHrp), ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum: number[] = [];
  for (let i = 0; i < CHECKSUM_LENGTH; i++) checksum.push((mod >>> (5 * (5 - i))) & 31);
  const text = `${lowerHrp}1${[...words, ...checksum].map((w) => CHARSET[w]).join("")}`;
  return upper ? text.toUpperCase() : text;
}

/** Decodes and verifies the checksum. Rejects mixed case, as BIP 173 requires. */
export function bech32Decode(text: string): Bech32Decoded {
  const lower = text.toLowerCase();
  if (text !== lower && text !== text.toUpperCase()) throw new Bech32Error("mixed upper and lower case");
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 33 || code > 126) throw new Bech32Error("invalid character");
  }
  const separator = lower.lastIndexOf("1");
  if (separator < 1) throw new Bech32Error("missing separator '1' or empty prefix");
  if (separator + 1 + CHECKSUM_LENGTH > lower.length) throw new Bech32Error("too short");
  const hrp = lower.slice(0, separator);
  const words: number[] = [];
  for (const c of lower.slice(separator + 1)) {
    const word = CHARSET_REVERSE.get(c);
    if (word === undefined) throw new Bech32Error("invalid character in data part");
    words.push(word);
  }
  if (polymod([...hrpExpand(hrp), ...words]) !== 1) throw new Bech32Error("invalid checksum");
  const data = Buffer.from(convertBits(words.slice(0, -CHECKSUM_LENGTH), 5, 8, false));
  return { hrp: text.slice(0, separator), data };
}
