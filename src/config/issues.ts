/**
 * Turns zod issues into messages an operator can act on at 3 a.m.: what was expected, what was
 * found, and the closest valid spelling. zod's own messages ("Invalid input: expected number,
 * received string") are replaced wholesale so every message reads the same way.
 */
import type * as z from "zod";
import { closest, didYouMean } from "../schema/suggest.js";
import { formatPath, listWords, showValue } from "../schema/show.js";

/** A problem inside one document; the loader adds the file. */
export interface PathIssue {
  path: string;
  message: string;
  /** zod's issue code, when the issue came from the schema. */
  code?: string;
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "a mapping (key: value)",
  record: "a mapping (key: value)",
  null: "an empty value",
};

/** Secret-bearing field names that must never sit in a config file, mapped by the replacement fields' stem. */
const SECRET_KEYS = new Set([
  "password",
  "secretAccessKey",
  "accessKeyId",
  "identity",
  "decryptionKey",
  "secret",
  "token",
  "privateKey",
]);

export function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  if (SECRET_KEYS.has(key)) {
    const env = `${key}Env`;
    const file = `${key}File`;
    const options = [
      allowed.includes(env) ? `${env} (name of an environment variable)` : undefined,
      allowed.includes(file) ? `${file} (path to a file holding it)` : undefined,
    ].filter((option): option is string => option !== undefined);
    const use =
      options.length > 0
        ? `use ${listWords(options)}`
        : "reference it through a ...Env (environment variable name) or ...File (file path) field";
    return `secrets are not allowed in config files; ${use}`;
  }
  const suggestion = closest(key, allowed);
  if (suggestion !== undefined) return `unknown field; did you mean "${suggestion}"?`;
  return `unknown field; allowed here: ${allowed.join(", ")}`;
}

interface ShapeDef {
  shape?: Record<
    string,
    { _zod?: { def?: { type?: string; innerType?: { _zod?: { def?: { type?: string } } } } } }
  >;
}

/** Keys an object schema accepts, minus `never` keys that exist only to explain themselves. */
function allowedKeys(inst: unknown): string[] {
  const def = (inst as { _zod?: { def?: ShapeDef } } | undefined)?._zod?.def;
  const shape = def?.shape;
  if (shape === undefined) return [];
  return Object.entries(shape)
    .filter(([, schema]) => {
      const inner = schema._zod?.def;
      const type = inner?.type === "optional" ? inner.innerType?._zod?.def?.type : inner?.type;
      return type !== "never";
    })
    .map(([key]) => key);
}

/**
 * One error map per parse. It remembers which keys each object accepted, keyed by the input object
 * itself, so `toPathIssues` can split an unknown-keys issue into one issue per key with a suggestion.
 */
export class IssueFormatter {
  private readonly allowed = new WeakMap<object, string[]>();

  readonly errorMap = (iss: z.core.$ZodRawIssue): string | undefined => {
    const input = iss.input;
    switch (iss.code) {
      case "invalid_type": {
        if (input === undefined) return "required field is missing";
        const expected = EXPECTED[iss.expected] ?? String(iss.expected);
        return `expected ${expected}, got ${showValue(input)}`;
      }
      case "too_small": {
        const min = Number(iss.minimum);
        if (iss.origin === "string") {
          return min <= 1 ? "must not be empty" : `must be at least ${min} characters long`;
        }
        if (iss.origin === "array" || iss.origin === "set") {
          return min <= 1 ? "must list at least one item" : `must list at least ${min} items`;
        }
        return `${iss.inclusive === false ? "must be greater than" : "must be at least"} ${min}, got ${showValue(input)}`;
      }
      case "too_big": {
        const max = Number(iss.maximum);
        if (iss.origin === "string") return `must be at most ${max} characters long`;
        if (iss.origin === "array" || iss.origin === "set") return `must list at most ${max} items`;
        return `${iss.inclusive === false ? "must be less than" : "must be at most"} ${max}, got ${showValue(input)}`;
      }
      case "invalid_value": {
        const values = iss.values.map((value) => String(value));
        if (values.length === 1) return `expected ${JSON.stringify(values[0])}, got ${showValue(input)}`;
        const hint = typeof input === "string" ? didYouMean(input, values) : "";
        return `expected one of ${values.join(", ")}; got ${showValue(input)}${hint}`;
      }
      case "invalid_union": {
        const union = iss as { discriminator?: string; options?: readonly unknown[] | null };
        if (union.discriminator !== undefined && Array.isArray(union.options)) {
          const options = union.options.map((option) => String(option));
          const actual =
            input !== null && typeof input === "object"
              ? (input as Record<string, unknown>)[union.discriminator]
              : undefined;
          if (actual === undefined) return `required field is missing; expected one of ${options.join(", ")}`;
          const hint = typeof actual === "string" ? didYouMean(actual, options) : "";
          return `unknown ${union.discriminator} ${showValue(actual)}; expected one of ${options.join(", ")}${hint}`;
        }
        return `does not match any allowed form, got ${showValue(input)}`;
      }
      case "unrecognized_keys": {
        if (input !== null && typeof input === "object") this.allowed.set(input, allowedKeys(iss.inst));
        return "unknown field";
      }
      case "invalid_format":
        return `not a valid ${iss.format}, got ${showValue(input)}`;
      case "not_multiple_of":
        return `must be a multiple of ${String(iss.divisor)}, got ${showValue(input)}`;
      default:
        return undefined;
    }
  };

  /** Final zod issues -> path issues; unknown keys become one issue per key. */
  toPathIssues(issues: readonly z.core.$ZodIssue[], document: unknown): PathIssue[] {
    const out: PathIssue[] = [];
    for (const issue of issues) {
      if (issue.code === "unrecognized_keys") {
        const holder = valueAt(document, issue.path);
        const allowed = holder !== null && typeof holder === "object" ? (this.allowed.get(holder) ?? []) : [];
        for (const key of issue.keys) {
          out.push({ path: formatPath([...issue.path, key]), message: unknownKeyMessage(key, allowed) });
        }
        continue;
      }
      out.push({ path: formatPath(issue.path), message: issue.message, code: issue.code });
    }
    return out;
  }
}

export function valueAt(document: unknown, path: readonly PropertyKey[]): unknown {
  let current = document;
  for (const part of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}
