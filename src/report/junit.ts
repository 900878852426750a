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

/**
 * JUnit XML for CI dashboards: one testsuite per target, one testcase per check, plus a testcase
 * for the RTO and one for a failure that happened before any check could run.
 */
export function renderJunit(report: DrillReport): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  let tests = 0;
  let failures = 0;
  const suites: string[] = [];
  for (const target of report.targets) {
    const cases: string[] = [];
    const suiteName = `${report.drill}.${target.job}`;
    const add = (name: string, ok: boolean, detail: string, seconds = 0) => {
      tests += 1;
      const head = `    <testcase classname="${escapeXml(suiteName)}" name="${escapeXml(name)}" time="${seconds.toFixed(3)}"`;
      if (ok) {
        cases.push(`${head}><system-out>${escapeXml(detail)}</system-out></testcase>`);
      } else {
        failures += 1;
        cases.push(
          `${head}><failure message="${escapeXml(detail.slice(0, 500))}">${escapeXml(detail)}</failure></testcase>`,
        );
      }
    };
    if (target.error !== undefined) add("restore", false, target.error, target.timings.restoreMs / 1000);
    for (const check of target.checks) add(check.name, check.ok, check.detail);
    const suiteFailures = cases.filter((line) => line.includes("<failure")).length;
    suites.push(
      `  <testsuite name="${escapeXml(suiteName)}" tests="${cases.length}" failures="${suiteFailures}" time="${(target.timings.totalMs / 1000).toFixed(3)}" timestamp="${escapeXml(report.startedAt)}">`,
      ...cases,
      "  </testsuite>",
    );
  }
  out.push(
    `<testsuites name="${escapeXml(`backdrill drill ${report.drill}`)}" tests="${tests}" failures="${failures}">`,
    ...suites,
    "</testsuites>",
    "",
  );
  return out.join("\n");
}
