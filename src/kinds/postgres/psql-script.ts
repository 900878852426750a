/**
 * What may reach `psql -f` from a snapshot: SQL only. psql executes backslash meta-commands found
 * anywhere outside quotes and comments, not only at the start of a line (`SELECT 1; \! cmd`), and
 * they act on the machine psql runs on: `\!` and `\o |cmd` run shell commands, `\copy … program`
 * runs a program, `\connect` logs in elsewhere with our PGPASSWORD, `\i`/`\w` read and write files.
 * A globals dump (`pg_dumpall --globals-only`) needs none of them; since PostgreSQL 17.6 it is
 * wrapped in `\restrict KEY` … `\unrestrict KEY` (which makes psql itself refuse meta-commands in
 * between), and those two lines, alone on their line, are the only ones let through.
 *
 * The scan follows psql's lexer: single-quoted strings (E'' strings with backslash escapes),
 * double-quoted identifiers, dollar quotes, `--` and nested block comments. A plain '…' string
 * holding a backslash is refused too: whether that backslash escapes the closing quote depends on
 * standard_conforming_strings, which the script itself can switch, so the string's end (and what
 * psql then reads as a meta-command) cannot be known from the text. pg_dumpall writes such strings
 * only for role comments or settings that contain a backslash; such a dump is refused with the line.
 * `:name`, `:'name'` and `:"name"` (psql variable interpolation) are refused for the same reason:
 * psql lexes a variable's value again.
 */
import { printable } from "../facts-values.js";

export interface ScriptProblem {
  line: number;
  problem: string;
}

const RESTRICT_LINE = /^\\(?:un)?restrict [A-Za-z0-9]{1,64}[ \t]*\r?$/;

/** The first meta-command (or unsafe construct) of a psql script, or undefined when it is plain SQL. */
export function findMetaCommand(script: string): ScriptProblem | undefined {
  let line = 1;
  let lineStart = true;
  let i = 0;
  const n = script.length;
  const at = (offset: number): string => script.charAt(i + offset);
  while (i < n) {
    const c = script.charAt(i);
    if (lineStart && c === "\\") {
      const end = script.indexOf("\n", i);
      const text = script.slice(i, end < 0 ? n : end);
      if (RESTRICT_LINE.test(text)) {
        i = end < 0 ? n : end;
        continue;
      }
    }
    lineStart = false;
    if (c === "\n") {
      line += 1;
      lineStart = true;
      i += 1;
      continue;
    }
    if (c === "\\") return { line, problem: `psql meta-command ${printable(metaWord(script, i))}` };
    if (c === "-" && at(1) === "-") {
      const end = script.indexOf("\n", i);
      i = end < 0 ? n : end;
      continue;
    }
    if (c === "/" && at(1) === "*") {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (script.charAt(i) === "\n") line += 1;
        if (script.startsWith("/*", i)) {
          depth += 1;
          i += 2;
        } else if (script.startsWith("*/", i)) {
          depth -= 1;
          i += 2;
        } else i += 1;
      }
      if (depth > 0) return { line, problem: "an unterminated /* comment" };
      continue;
    }
    if (c === "'") {
      // E'…' / e'…': backslash escapes in every mode of the server.
      const escapes = i > 0 && /[eE]/.test(script.charAt(i - 1)) && !isIdentChar(script.charAt(i - 2));
      const start = line;
      i += 1;
      let closed = false;
      while (i < n) {
        const d = script.charAt(i);
        if (d === "\n") line += 1;
        if (d === "\\") {
          if (!escapes) return { line, problem: "a backslash inside a '…' string literal" };
          if (script.charAt(i + 1) === "\n") line += 1;
          i += 2;
          continue;
        }
        if (d === "'") {
          if (script.charAt(i + 1) === "'") {
            i += 2;
            continue;
          }
          i += 1;
          closed = true;
          break;
        }
        i += 1;
      }
      if (!closed) return { line: start, problem: "an unterminated string literal" };
      continue;
    }
    if (c === '"') {
      const start = line;
      i += 1;
      let closed = false;
      while (i < n) {
        const d = script.charAt(i);
        if (d === "\n") line += 1;
        if (d === '"') {
          if (script.charAt(i + 1) === '"') {
            i += 2;
            continue;
          }
          i += 1;
          closed = true;
          break;
        }
        i += 1;
      }
      if (!closed) return { line: start, problem: "an unterminated quoted identifier" };
      continue;
    }
    if (c === "$" && !isIdentChar(script.charAt(i - 1))) {
      const tag = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(script.slice(i, i + 80));
      if (tag !== null) {
        const end = script.indexOf(tag[0], i + tag[0].length);
        if (end < 0) return { line, problem: "an unterminated dollar-quoted string" };
        for (let k = i; k < end; k += 1) if (script.charAt(k) === "\n") line += 1;
        i = end + tag[0].length;
        continue;
      }
    }
    if (c === ":") {
      const next = at(1);
      if (next === ":") {
        i += 2;
        continue;
      }
      if (next === "'" || next === '"' || /[A-Za-z_{]/.test(next)) {
        return {
          line,
          problem: `psql variable interpolation ${printable(script.slice(i, i + 20).split(/\s/)[0] ?? ":")}`,
        };
      }
    }
    i += 1;
  }
  return undefined;
}

function isIdentChar(c: string): boolean {
  return c !== "" && /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
}

function metaWord(script: string, at: number): string {
  return script.slice(at, at + 24).split(/\s/)[0] ?? "\\";
}
