import { describe, expect, it } from "vitest";
import { renderJunit } from "./junit.js";
import { renderMarkdown } from "./markdown.js";
import type { DrillReport, TargetReport } from "./types.js";

const timings = { fetchMs: 300, setupMs: 4000, restoreMs: 5000, checksMs: 1200, totalMs: 10_500 };
const target = (job: string, kind: string, ok = true): TargetReport => ({
  job,
  kind,
  snapshot: "20261128T021500Z-3f9a1c",
  ok,
  backupAgeSeconds: 60,
  rtoSeconds: null,
  timings,
  checks: [{ name: "restore", ok, detail: "fine" }],
});

function report(smokeOk: boolean): DrillReport {
  return {
    drill: "stack",
    startedAt: "2026-11-28T04:00:00.000Z",
    finishedAt: "2026-11-28T04:01:30.000Z",
    ok: smokeOk,
    host: "drill-host",
    backdrillVersion: "0.1.0",
    targets: [target("task-db", "postgres-dump"), target("task-secrets", "symfony-secrets")],
    stack: {
      network: "backdrill-stack-stack-abc123",
      ok: smokeOk,
      rtoSeconds: 1800,
      rtoMs: smokeOk ? 84_200 : null,
      services: [
        {
          service: "postgres",
          job: "task-db",
          kind: "postgres-dump",
          address: "postgres:5432",
          ok: true,
          startMs: 900,
          timings,
        },
        {
          service: "secrets",
          job: "task-secrets",
          kind: "symfony-secrets",
          address: null,
          ok: true,
          startMs: 11_400,
          timings,
        },
      ],
      smokeTest: {
        image: "task/app:1",
        mode: "command",
        ok: smokeOk,
        exitCode: smokeOk ? 0 : 1,
        startMs: 80_000,
        durationMs: 2100,
        output: "ok 1 - postgres: fine\n```\nnot ok 2 - secrets: key does not open",
        failedServices: smokeOk ? [] : ["secrets"],
      },
      checks: [
        { name: "stack isolated", ok: true, detail: "internal" },
        {
          name: "smoke test",
          ok: smokeOk,
          detail: smokeOk ? "exit 0" : "exit 1; failing service(s): secrets",
        },
        { name: "smoke: secrets", ok: smokeOk, detail: "key does not open" },
        ...(smokeOk ? [{ name: "within stack RTO", ok: true, detail: "84.2 s" }] : []),
      ],
    },
  };
}

describe("a stack drill's report", () => {
  it("Markdown: stack RTO, each service's phases on the drill's clock, the smoke test and its output", () => {
    const passed = renderMarkdown(report(true));
    expect(passed).toContain("## Stack: PASSED");
    expect(passed).toContain(
      "Stack RTO (drill start until the smoke test passed): 84.2 s of 30 min: within RTO by 29 min",
    );
    expect(passed).toContain(
      "| postgres | task-db | postgres-dump | postgres:5432 | +0.9 s | 0.3 s | 4.0 s | 5.0 s | 1.2 s | 10.5 s | ok |",
    );
    expect(passed).toContain("| secrets | task-secrets | symfony-secrets | files only | +11.4 s |");
    expect(passed).toContain("| smoke test | | | | +80.0 s | | | | | 2.1 s | ok |");
    // The output holds a ``` line: the fence must be longer, or the output would end the block.
    expect(passed).toContain("````text\nok 1 - postgres: fine\n```\nnot ok 2");

    const failed = renderMarkdown(report(false));
    expect(failed).toContain("## Stack: FAILED");
    expect(failed).toContain("not reached: the application never passed its smoke test");
    expect(failed).toContain("exit 1 after 2.1 s; failing: secrets");
  });

  it("JUnit: one more suite, <drill>.stack, with a testcase per stack check", () => {
    const xml = renderJunit(report(false));
    expect(xml).toContain('<testsuites name="backdrill drill stack" tests="5" failures="2">');
    expect(xml).toMatch(/<testsuite name="stack.stack" tests="3" failures="2" time="90.000"/);
    expect(xml).toContain('<testcase classname="stack.stack" name="smoke test" time="2.100"><failure');
    expect(xml).toContain('name="smoke: secrets"');
    expect(renderJunit(report(true))).toMatch(
      /<testsuite name="stack.stack" tests="4" failures="0" time="84.200"/,
    );
  });
});
