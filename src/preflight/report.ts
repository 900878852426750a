/**
 * What `backdrill doctor` reports: one result per check, the aggregate that decides the exit code,
 * and the text rendering. Pure, so the rules (warnings never fail, skipped checks never count) are
 * unit-tested without any server.
 */
import { redact } from "../log/redact.js";

/**
 * ok: as it should be. warn: works, but someone should look (drift that the next backup repairs, a
 * stale lock, nothing archived yet). fail: the next backup or drill would fail. skip: not checked
 * because something it depends on already failed (that failure is its own line).
 */
export type CheckStatus = "ok" | "warn" | "fail" | "skip";

/** What a check body returns. */
export interface Finding {
  status: CheckStatus;
  detail: string;
  /** What to do about it; expected for fail, welcome for warn. */
  hint?: string | undefined;
}

export interface CheckResult extends Finding {
  /** What the check is about: `config`, `policy nightly`, `job task-db`, `drill monthly`, `docker`. */
  subject: string;
  name: string;
  durationMs: number;
}

export interface DoctorReport {
  /** False when any check failed; the CLI exits 1 then. */
  ok: boolean;
  counts: Record<CheckStatus, number>;
  checks: CheckResult[];
}

export function summarize(checks: readonly CheckResult[]): DoctorReport {
  const counts: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const check of checks) counts[check.status] += 1;
  return { ok: counts.fail === 0, counts, checks: [...checks] };
}

const LABEL: Record<CheckStatus, string> = { ok: "ok", warn: "WARN", fail: "FAIL", skip: "skip" };
/** Long subjects would push every detail off screen; beyond this the column just stops aligning. */
const MAX_NAME_WIDTH = 44;

function title(check: Pick<CheckResult, "subject" | "name">): string {
  return check.subject === check.name ? check.name : `${check.subject}: ${check.name}`;
}

/**
 * One line per check (`FAIL  job task-db: connection  <detail>`), a `hint:` line under failures
 * and warnings that carry one, and a closing summary. Details are redacted once more here: a
 * server's error text could quote something registered as a secret.
 */
export function formatReport(report: DoctorReport): string[] {
  const width = Math.min(MAX_NAME_WIDTH, Math.max(0, ...report.checks.map((check) => title(check).length)));
  const lines: string[] = [];
  for (const check of report.checks) {
    const detail = oneLine(check.detail);
    lines.push(
      redact(`${LABEL[check.status].padEnd(4)}  ${title(check).padEnd(width)}  ${detail}`.trimEnd()),
    );
    if (check.hint !== undefined && (check.status === "fail" || check.status === "warn")) {
      lines.push(redact(`      hint: ${oneLine(check.hint)}`));
    }
  }
  const { ok, warn, fail, skip } = report.counts;
  const parts = [`${ok} ok`, `${warn} warning${warn === 1 ? "" : "s"}`, `${fail} failed`];
  if (skip > 0) parts.push(`${skip} skipped`);
  lines.push("");
  lines.push(`${report.ok ? "doctor: ready" : "doctor: NOT ready"} (${parts.join(", ")})`);
  return lines;
}

/** Multi-line server messages would break the one-line-per-check layout that scripts grep. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, "; ").trim();
}
