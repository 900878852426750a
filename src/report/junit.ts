import type { DrillReport } from "./types.js";

function escapeXml(text: string): string {
  return (
    text
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&apos;")
      // XML 1.0 forbids most control characters even when escaped.
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "")
  );
}

interface Case {
  name: string;
  ok: boolean;
  detail: string;
  seconds?: number;
}

/** One testsuite; returns its lines and its counts. */
function suite(name: string, seconds: number, timestamp: string, cases: readonly Case[]) {
  const lines: string[] = [];
  let failures = 0;
  for (const item of cases) {
    const head = `    <testcase classname="${escapeXml(name)}" name="${escapeXml(item.name)}" time="${(item.seconds ?? 0).toFixed(3)}"`;
    if (item.ok) {
      lines.push(`${head}><system-out>${escapeXml(item.detail)}</system-out></testcase>`);
    } else {
      failures += 1;
      lines.push(
        `${head}><failure message="${escapeXml(item.detail.slice(0, 500))}">${escapeXml(item.detail)}</failure></testcase>`,
      );
    }
  }
  return {
    tests: cases.length,
    failures,
    lines: [
      `  <testsuite name="${escapeXml(name)}" tests="${cases.length}" failures="${failures}" time="${seconds.toFixed(3)}" timestamp="${escapeXml(timestamp)}">`,
      ...lines,
      "  </testsuite>",
    ],
  };
}

/**
 * JUnit XML for CI dashboards: one testsuite per target, one testcase per check, plus a testcase
 * for the RTO and one for a failure that happened before any check could run. A stack drill adds
 * the suite `<drill>.stack`: isolation, the smoke test and each line it reported, the stack RTO.
 */
export function renderJunit(report: DrillReport): string {
  const suites = report.targets.map((target) => {
    const cases: Case[] = [];
    if (target.error !== undefined)
      cases.push({
        name: "restore",
        ok: false,
        detail: target.error,
        seconds: target.timings.restoreMs / 1000,
      });
    for (const check of target.checks) cases.push(check);
    return suite(`${report.drill}.${target.job}`, target.timings.totalMs / 1000, report.startedAt, cases);
  });
  const stack = report.stack;
  if (stack !== undefined) {
    const cases: Case[] = [];
    if (stack.error !== undefined) cases.push({ name: "stack", ok: false, detail: stack.error });
    for (const check of stack.checks) {
      const seconds = check.name === "smoke test" ? (stack.smokeTest?.durationMs ?? 0) / 1000 : 0;
      cases.push({ ...check, seconds });
    }
    const total = stack.rtoMs ?? Date.parse(report.finishedAt) - Date.parse(report.startedAt);
    suites.push(suite(`${report.drill}.stack`, total / 1000, report.startedAt, cases));
  }
  const tests = suites.reduce((sum, item) => sum + item.tests, 0);
  const failures = suites.reduce((sum, item) => sum + item.failures, 0);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${escapeXml(`backdrill drill ${report.drill}`)}" tests="${tests}" failures="${failures}">`,
    ...suites.flatMap((item) => item.lines),
    "</testsuites>",
    "",
  ].join("\n");
}
