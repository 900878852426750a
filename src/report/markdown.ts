import type { CheckResult } from "../kinds/contract.js";
import type { DrillReport, StackReport, TargetReport } from "./types.js";

/** A table of checks after a blank line, or nothing when there are none. */
function checksTable(checks: readonly CheckResult[]): string[] {
  if (checks.length === 0) return [];
  return [
    "",
    "| Check | Result | Detail |",
    "|---|---|---|",
    ...checks.map(
      (check) => `| ${cell(check.name)} | ${check.ok ? "ok" : "**FAILED**"} | ${cell(check.detail)} |`,
    ),
  ];
}

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
  if (report.stack !== undefined) lines.push(...stackSection(report.stack));
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
    lines.push(...checksTable(target.checks));
  }
  lines.push("");
  return lines.join("\n");
}

function stackRtoLine(stack: StackReport): string {
  if (stack.rtoMs === null) return "not reached: the application never passed its smoke test";
  if (stack.rtoSeconds === null) return `${seconds(stack.rtoMs)} (no stack RTO set)`;
  const margin = stack.rtoSeconds - stack.rtoMs / 1000;
  const verdict = margin >= 0 ? `within RTO by ${duration(margin)}` : `OVER RTO by ${duration(-margin)}`;
  return `${seconds(stack.rtoMs)} of ${duration(stack.rtoSeconds)}: ${verdict}`;
}

/** A fence no line of `text` can close (the smoke test's output is the application's text). */
function fenced(text: string): string[] {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((match) => match[0].length));
  const fence = "`".repeat(longest + 1);
  return [`${fence}text`, text, fence];
}

/** The stack drill's part: RTO, the services' phases on one clock, the smoke test. */
function stackSection(stack: StackReport): string[] {
  const lines: string[] = [""];
  lines.push(`## Stack: ${stack.ok ? "PASSED" : "FAILED"}`);
  lines.push("");
  lines.push(`- Stack RTO (drill start until the smoke test passed): ${stackRtoLine(stack)}`);
  lines.push(`- Network: ${stack.network || "none"} (internal, no route out; removed after the drill)`);
  const smoke = stack.smokeTest;
  if (smoke !== null) {
    const verdict =
      smoke.mode === "http"
        ? smoke.ok
          ? "answered"
          : "did not answer as expected"
        : smoke.exitCode === null
          ? "stopped (timeout)"
          : `exit ${smoke.exitCode}`;
    const blamed = smoke.failedServices.length > 0 ? `; failing: ${smoke.failedServices.join(", ")}` : "";
    lines.push(
      `- Smoke test: ${cell(smoke.image)} (${smoke.mode}), ${verdict} after ${seconds(smoke.durationMs)}${blamed}`,
    );
  }
  if (stack.error !== undefined) lines.push(`- Error: ${cell(stack.error)}`);
  lines.push("");
  lines.push(
    "| Service | Job | Kind | Address | Starts at | Fetch | Containers | Restore | Checks | Total | Result |",
  );
  lines.push("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const service of stack.services) {
    const t = service.timings;
    lines.push(
      `| ${cell(service.service)} | ${cell(service.job)} | ${service.kind} | ${service.address ?? "files only"} | +${seconds(service.startMs)} | ${seconds(t.fetchMs)} | ${seconds(t.setupMs)} | ${seconds(t.restoreMs)} | ${seconds(t.checksMs)} | ${seconds(t.totalMs)} | ${service.ok ? "ok" : "**FAILED**"} |`,
    );
  }
  if (smoke !== null) {
    lines.push(
      `| smoke test | | | | +${seconds(smoke.startMs)} | | | | | ${seconds(smoke.durationMs)} | ${smoke.ok ? "ok" : "**FAILED**"} |`,
    );
  }
  lines.push(...checksTable(stack.checks));
  if (smoke !== null && smoke.output.trim() !== "") {
    lines.push("");
    lines.push("Smoke test output (tail):");
    lines.push("");
    lines.push(...fenced(smoke.output));
  }
  return lines;
}
