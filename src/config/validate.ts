/**
 * One parsed YAML document -> env expansion -> schema. Values that came from `${...}` are coerced
 * where the schema wants a number or boolean (env vars are always text), guided by the schema's own
 * complaints rather than by guessing from the text, so `prefix: ${PREFIX}` with PREFIX=2024 stays a string.
 */
import type * as z from "zod";
import { expandEnv } from "./env.js";
import { IssueFormatter, valueAt, type PathIssue } from "./issues.js";
import { formatPath } from "../schema/show.js";

type Env = Record<string, string | undefined>;

export type ValidateResult<T> = { ok: true; value: T } | { ok: false; issues: PathIssue[] };

const ECHOING_CODES = new Set(["invalid_type", "invalid_value", "too_small", "too_big"]);

const NUMBER_TEXT = /^-?\d+(?:\.\d+)?$/;

/** Replaces expanded strings the schema rejected for their type; true if anything changed. */
function coerceExpanded(
  document: unknown,
  issues: readonly z.core.$ZodIssue[],
  expanded: ReadonlyMap<string, string>,
): boolean {
  let changed = false;
  for (const issue of issues) {
    if (issue.code !== "invalid_type" || !expanded.has(formatPath(issue.path))) continue;
    const key = issue.path[issue.path.length - 1];
    const parent = valueAt(document, issue.path.slice(0, -1));
    if (key === undefined || parent === null || typeof parent !== "object") continue;
    const record = parent as Record<PropertyKey, unknown>;
    const text = record[key];
    if (typeof text !== "string") continue;
    const wantsNumber = issue.expected === "number" || issue.expected === "int";
    const wantsBoolean = issue.expected === "boolean";
    if (!wantsNumber && !wantsBoolean) continue;
    const trimmed = text.trim();
    if (trimmed === "") {
      // `${PARALLEL:-}` means "not set": the field falls back to its default or counts as missing.
      delete record[key];
      changed = true;
    } else if (wantsNumber && NUMBER_TEXT.test(trimmed)) {
      record[key] = Number(trimmed);
      changed = true;
    } else if (wantsBoolean && /^(true|false)$/i.test(trimmed)) {
      record[key] = trimmed.toLowerCase() === "true";
      changed = true;
    }
  }
  return changed;
}

/**
 * Position of each path in document order, and of the end of its subtree, so issues are reported
 * top to bottom as in the file.
 */
function documentOrder(document: unknown): Map<string, { start: number; end: number }> {
  const order = new Map<string, { start: number; end: number }>();
  let counter = 0;
  const walk = (value: unknown, path: PropertyKey[]): void => {
    const entry = { start: counter++, end: 0 };
    order.set(formatPath(path), entry);
    if (Array.isArray(value)) value.forEach((item, index) => walk(item, [...path, index]));
    else if (value !== null && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) walk(item, [...path, key]);
    }
    entry.end = counter - 1;
  };
  walk(document, []);
  return order;
}

function positionOf(path: string, order: ReadonlyMap<string, { start: number; end: number }>): number {
  const found = order.get(path);
  if (found !== undefined) return found.start;
  // A missing field sorts after everything present in its nearest existing parent.
  let current = path;
  while (current !== "") {
    const dot = current.lastIndexOf(".");
    current = dot < 0 ? "" : current.slice(0, dot);
    const parent = order.get(current);
    if (parent !== undefined) return parent.end + 0.5;
  }
  return Number.MAX_SAFE_INTEGER;
}

export function validateDocument<S extends z.ZodType>(
  schema: S,
  document: unknown,
  env: Env,
): ValidateResult<z.output<S>> {
  const expansion = expandEnv(document, env);
  const formatter = new IssueFormatter();
  const params = { error: formatter.errorMap };
  let result = schema.safeParse(expansion.value, params);
  if (!result.success && coerceExpanded(expansion.value, result.error.issues, expansion.expanded)) {
    result = schema.safeParse(expansion.value, params);
  }
  if (result.success && expansion.issues.length === 0) return { ok: true, value: result.data };

  const isFailed = (path: string): boolean =>
    [...expansion.failed].some((failed) => path === failed || path.startsWith(`${failed}.`));
  const schemaIssues = result.success ? [] : formatter.toPathIssues(result.error.issues, expansion.value);
  const annotated = schemaIssues
    .filter((issue) => !isFailed(issue.path))
    .map(({ code, ...issue }) => {
      // Only messages that echo the value ("got ...") say where it came from; custom messages stay
      // as written, since fields like passwordEnv must not repeat what the user typed.
      const raw =
        code !== undefined && ECHOING_CODES.has(code) ? expansion.expanded.get(issue.path) : undefined;
      return raw === undefined ? issue : { ...issue, message: `${issue.message} (from ${raw})` };
    });

  const order = documentOrder(document);
  const all = [...expansion.issues, ...annotated].map((issue, index) => ({ issue, index }));
  all.sort((a, b) => positionOf(a.issue.path, order) - positionOf(b.issue.path, order) || a.index - b.index);
  return { ok: false, issues: all.map(({ issue }) => issue) };
}
