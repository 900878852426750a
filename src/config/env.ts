/**
 * `${VAR}` and `${VAR:-default}` expansion in string scalars, after YAML parsing: a value can never
 * inject YAML structure (a colon or newline in an env var stays part of one string). `$$` is a
 * literal dollar; any other `$` is left alone. As in the shell, `:-` also applies when the variable
 * is set but empty, and a default is only evaluated when it is used.
 */
import { formatPath } from "../schema/show.js";

export interface EnvIssue {
  /** Dotted field path, e.g. `connection.host`. */
  path: string;
  message: string;
}

export interface ExpandResult {
  /** The document with every string expanded (a failed string is left as written). */
  value: unknown;
  /** Field path -> the text as written, for each string that referenced a variable. */
  expanded: Map<string, string>;
  /** Field paths whose expansion failed; validation issues there would only repeat the problem. */
  failed: Set<string>;
  issues: EnvIssue[];
}

type Env = Record<string, string | undefined>;

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;

class ExpansionError extends Error {}

interface Scan {
  out: string;
  end: number;
  referenced: boolean;
  unset: string[];
}

/**
 * Scans `text` from `start`. Inside a default (`nested`), stops at the closing brace. With
 * `evaluate` false only the syntax is checked, so an unused default cannot fail.
 */
function scan(text: string, start: number, env: Env, nested: boolean, evaluate: boolean): Scan {
  let out = "";
  let referenced = false;
  const unset: string[] = [];
  let i = start;
  while (i < text.length) {
    const c = text[i];
    if (nested && c === "}") return { out, end: i, referenced, unset };
    if (c !== "$") {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === "$") {
      out += "$";
      i += 2;
      continue;
    }
    if (next !== "{") {
      out += "$";
      i++;
      continue;
    }
    referenced = true;
    NAME.lastIndex = i + 2;
    const match = NAME.exec(text);
    if (match === null) {
      throw new ExpansionError(
        `invalid variable reference at "${text.slice(i, i + 12)}"; write \${NAME} or \${NAME:-default}, and $$ for a literal $`,
      );
    }
    const name = match[0];
    let j = i + 2 + name.length;
    const value = env[name];
    if (text[j] === "}") {
      if (evaluate) {
        if (value === undefined) unset.push(name);
        else out += value;
      }
      i = j + 1;
      continue;
    }
    if (text.startsWith(":-", j)) {
      const useDefault = value === undefined || value === "";
      const inner = scan(text, j + 2, env, true, evaluate && useDefault);
      j = inner.end;
      if (text[j] !== "}") {
        throw new ExpansionError(
          `unterminated \${${name}:-...}: add the closing }, or write $$ for a literal $`,
        );
      }
      if (evaluate) {
        if (useDefault) {
          out += inner.out;
          unset.push(...inner.unset);
        } else {
          out += value;
        }
      }
      i = j + 1;
      continue;
    }
    if (j >= text.length) {
      throw new ExpansionError(`unterminated \${${name}: add the closing }, or write $$ for a literal $`);
    }
    throw new ExpansionError(
      `unsupported form \${${name}${text[j] ?? ""}...}; only \${${name}} and \${${name}:-default} are supported`,
    );
  }
  return { out, end: i, referenced, unset };
}

export type ExpandStringResult =
  { ok: true; value: string; referenced: boolean } | { ok: false; messages: string[] };

export function expandString(text: string, env: Env): ExpandStringResult {
  let result: Scan;
  try {
    result = scan(text, 0, env, false, true);
  } catch (error) {
    if (error instanceof ExpansionError) return { ok: false, messages: [error.message] };
    throw error;
  }
  if (result.unset.length > 0) {
    return {
      ok: false,
      messages: [...new Set(result.unset)].map(
        (name) =>
          `environment variable ${name} is not set; export it, or give a default in the file: \${${name}:-value}`,
      ),
    };
  }
  return { ok: true, value: result.out, referenced: result.referenced };
}

/** Expands every string scalar in a parsed YAML document. Keys are left as written. */
export function expandEnv(document: unknown, env: Env): ExpandResult {
  const expanded = new Map<string, string>();
  const failed = new Set<string>();
  const issues: EnvIssue[] = [];

  const walk = (value: unknown, path: PropertyKey[]): unknown => {
    if (typeof value === "string") {
      if (!value.includes("$")) return value;
      const key = formatPath(path);
      const result = expandString(value, env);
      if (!result.ok) {
        failed.add(key);
        for (const message of result.messages) issues.push({ path: key, message });
        return value;
      }
      if (result.referenced) expanded.set(key, value);
      return result.value;
    }
    if (Array.isArray(value)) return value.map((item, index) => walk(item, [...path, index]));
    if (value !== null && typeof value === "object" && !(value instanceof Date)) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        // defineProperty, so a YAML key named __proto__ stays data instead of replacing the prototype.
        Object.defineProperty(out, key, {
          value: walk(item, [...path, key]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    return value;
  };

  return { value: walk(document, []), expanded, failed, issues };
}
