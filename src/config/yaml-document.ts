/**
 * YAML text -> the one mapping a config file must hold. Uses the YAML 1.2 core schema, so `on`,
 * `yes` and `2026-11-28` stay strings, and rejects duplicate keys (the second would silently win).
 */
import { parseAllDocuments, type YAMLError } from "yaml";
import type { PathIssue } from "./issues.js";
import { showValue } from "../schema/show.js";

export type DocumentResult =
  { ok: true; value: Record<string, unknown> } | { ok: false; issues: PathIssue[] };

function syntaxIssue(error: YAMLError): PathIssue {
  const first = error.message.split("\n")[0] ?? error.message;
  const reason = first.replace(/\s+at line \d+, column \d+:?\s*$/, "");
  const position = error.linePos?.[0];
  const where = position === undefined ? "" : ` at line ${position.line}, column ${position.col}`;
  return { path: "", message: `YAML syntax error${where}: ${reason}` };
}

/** `what` names the expected object in messages: "policy", "job", "drill". */
export function parseConfigDocument(text: string, what: string): DocumentResult {
  const documents = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  const list = Array.isArray(documents) ? documents : [documents];
  for (const document of list) {
    const error = document.errors[0];
    if (error !== undefined) return { ok: false, issues: [syntaxIssue(error)] };
  }
  const nonEmpty = list.filter((document) => document.contents !== null);
  if (nonEmpty.length === 0) {
    return { ok: false, issues: [{ path: "", message: `file is empty; it must hold one ${what}` }] };
  }
  if (nonEmpty.length > 1) {
    return {
      ok: false,
      issues: [
        {
          path: "",
          message: `holds ${nonEmpty.length} YAML documents (separated by ---); put each ${what} in its own file`,
        },
      ],
    };
  }
  let value: unknown;
  try {
    // A low alias limit stops "billion laughs" documents from exhausting memory.
    value = nonEmpty[0]?.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return {
      ok: false,
      issues: [
        { path: "", message: `cannot read YAML: ${error instanceof Error ? error.message : String(error)}` },
      ],
    };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return {
      ok: false,
      issues: [
        {
          path: "",
          message: `expected a mapping of fields (name: ..., ...) describing one ${what}, got ${showValue(value)}`,
        },
      ],
    };
  }
  return { ok: true, value: value as Record<string, unknown> };
}
