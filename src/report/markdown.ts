import type { DrillReport, TargetReport } from "./types.js";

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function duration(totalSeconds: number | null): string {
  if (totalSeconds === null) return "n/a";
  const s = Math.round(totalSeconds);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

/** Markdown cells must not break the table. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
}

function rtoLine(target: TargetReport): string {
  if (target.rtoSeconds === null) return `${seconds(target.timings.totalMs)} (no RTO set)`;
  const margin = target.rtoSeconds - target.timings.totalMs / 1000;
  const verdict = margin >= 0 ? `within RTO by ${duration(margin)}` : `OVER RTO by ${duration(-margin)}`;
  return `${seconds(target.timings.totalMs)} of ${duration(target.rtoSeconds)} RTO: ${verdict}`;
}

/** The report a person reads (and hands to an auditor). */
export function renderMarkdown(report: DrillReport): string {
  const lines: string[] = [];
  lines.push(`# Restore drill \`${report.drill}\`: ${report.ok ? "PASSED" : "FAILED"}`);
  lines.push("");
  lines.push(`- Started: ${report.startedAt}`);
  lines.push(`- Finished: ${report.finishedAt}`);
  lines.push(`- Host: ${report.host}, backdrill ${report.backdrillVersion}`);
  lines.push("");
  lines.push("| Job | Kind | Snapshot | Backup age | Restore time vs RTO | Result |");
  lines.push("|---|---|---|---|---|---|");
  for (const target of report.targets) {
    lines.push(
      `| ${cell(target.job)} | ${target.kind} | ${target.snapshot ?? "none"} | ${duration(target.backupAgeSeconds)} | ${cell(rtoLine(target))} | ${target.ok ? "ok" : "**FAILED**"} |`,
    );
  }
  for (const target of report.targets) {
    lines.push("");
    lines.push(`## ${target.job} (${target.kind}): ${target.ok ? "ok" : "FAILED"}`);
    lines.push("");
    lines.push(`- Snapshot: ${target.snapshot ?? "none"}`);
    lines.push(`- Backup age at drill start: ${duration(target.backupAgeSeconds)}`);
    lines.push(
      `- Timings: fetch ${seconds(target.timings.fetchMs)}, containers ${seconds(target.timings.setupMs)}, restore ${seconds(target.timings.restoreMs)}, checks ${seconds(target.timings.checksMs)}, total ${seconds(target.timings.totalMs)}`,
    );
    lines.push(`- RTO: ${rtoLine(target)}`);
    if (target.error !== undefined) lines.push(`- Error: ${cell(target.error)}`);
    for (const warning of target.warnings ?? []) lines.push(`- Warning: ${cell(warning)}`);
    if (target.checks.length > 0) {
      lines.push("");
      lines.push("| Check | Result | Detail |");
      lines.push("|---|---|---|");
      for (const check of target.checks) {
        lines.push(`| ${cell(check.name)} | ${check.ok ? "ok" : "**FAILED**"} | ${cell(check.detail)} |`);
      }
    }
  }
  lines.push("");
  return lines.join("\n");
}
