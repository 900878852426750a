/**
 * The canonical serialization signatures are made over: JSON with the keys of every object sorted
 * (by UTF-16 code units, as RFC 8785 does), no whitespace, and JSON.stringify's number and
 * string forms (which are RFC 8785's for the values we sign: integers, ISO strings, hex).
 *
 * Why not the stored text itself: the manifest's text is pretty-printed, and a reader parses it
 * anyway; signing the parsed value means the signature covers exactly what a reader acts on,
 * every field including ones a newer version adds, whatever the whitespace.
 */

/** Deeper nesting than this is refused (a hostile manifest must not overflow the stack). */
const MAX_DEPTH = 32;

export class CanonicalJsonError extends Error {}

export function canonicalJson(value: unknown): string {
  return serialize(value, 0);
}

function serialize(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new CanonicalJsonError(`nested deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new CanonicalJsonError("not a finite number");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => serialize(item, depth + 1)).join(",")}]`;
  if (typeof value === "object") {
    const record = value as Record<string, unknown>;
    // Like JSON.stringify: a key whose value is undefined is not there.
    const keys = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((key) => `${JSON.stringify(key)}:${serialize(record[key], depth + 1)}`).join(",")}}`;
  }
  throw new CanonicalJsonError(`cannot serialize a ${typeof value}`);
}
