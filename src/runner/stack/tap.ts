/**
 * What a smoke test reports line by line (README, "Smoke test contract"): a TAP subset, so a
 * failing run says which service broke instead of only "exit 1".
 *
 *   ok 1 - postgres: 2000 tasks, vector search answers
 *   not ok 2 - secrets: DATABASE_URL does not open with prod.decrypt.private.php
 *   ok 3 - files: uploads readable # SKIP not mounted in this stack
 *
 * The number and the dash are optional; the name before the first colon is the service. Every
 * other line is plain output. Lines are untrusted text from the application: they are redacted
 * and shortened before they reach a report.
 */
import { redact } from "../../log/redact.js";

export interface SmokeLine {
  ok: boolean;
  /** The name before the colon (a service of the stack, or anything else the application chose). */
  service: string;
  text: string;
  /** `# SKIP`: reported, counted as passed. */
  skipped: boolean;
}

const LINE = /^(not ok|ok)\b(?:\s+\d+)?(?:\s+-)?\s+([A-Za-z][A-Za-z0-9._-]*):\s?(.*)$/;
const SKIP = /\s#\s*skip\b/i;
const MAX_TEXT = 500;
const MAX_LINES = 100;

/** The result lines in `output`, in order (at most 100). */
export function parseSmokeLines(output: string): SmokeLine[] {
  const lines: SmokeLine[] = [];
  for (const raw of output.split(/\r?\n/)) {
    const match = LINE.exec(raw.trim());
    if (match === null) continue;
    const text = redact(match[3] ?? "").slice(0, MAX_TEXT);
    lines.push({
      ok: match[1] === "ok",
      service: match[2] ?? "",
      text,
      skipped: match[1] === "ok" && SKIP.test(text),
    });
    if (lines.length === MAX_LINES) break;
  }
  return lines;
}

/** Services of the stack that a `not ok` line names, in the order they were named. */
export function failedServices(lines: readonly SmokeLine[], services: readonly string[]): string[] {
  const known = new Set(services);
  const named: string[] = [];
  for (const line of lines) {
    if (!line.ok && known.has(line.service) && !named.includes(line.service)) named.push(line.service);
  }
  return named;
}

/** The last `maxLines` lines of `text`, at most `maxBytes` characters, redacted. */
export function outputTail(text: string, maxLines = 40, maxBytes = 4000): string {
  const lines = text.replace(/\s+$/, "").split(/\r?\n/);
  const tail = lines.slice(-maxLines).join("\n");
  return redact(tail.length > maxBytes ? `…${tail.slice(-maxBytes)}` : tail);
}
