import { describe, expect, it } from "vitest";
import { OperationError } from "../errors.js";
import { registerSecret } from "../log/redact.js";
import { formatReport, summarize, type CheckResult } from "./doctor.js";
import { fail, ok, runChecks, shared, SkipCheck, warn, type CheckSpec } from "../preflight/runner.js";

const result = (status: CheckResult["status"], name: string, hint?: string): CheckResult => ({
  subject: "job task-db",
  name,
  status,
  detail: `${name} detail`,
  ...(hint === undefined ? {} : { hint }),
  durationMs: 1,
});

const spec = (name: string, run: CheckSpec["run"]): CheckSpec => ({ subject: "s", name, run });
const options = { timeoutMs: 200, concurrency: 2 };

describe("doctor report", () => {
  it("fails only on FAIL: warnings and skips never fail", () => {
    expect(summarize([result("ok", "a"), result("warn", "b"), result("skip", "c")]).ok).toBe(true);
    const report = summarize([result("ok", "a"), result("fail", "b"), result("warn", "c")]);
    expect(report.ok).toBe(false);
    expect(report.counts).toEqual({ ok: 1, warn: 1, fail: 1, skip: 0 });
    expect(summarize([]).ok).toBe(true);
  });

  it("prints one aligned line per check, hints under FAIL/WARN only, and a summary", () => {
    const lines = formatReport(
      summarize([
        result("ok", "connection", "never shown for ok"),
        result("fail", "archive_mode", "ALTER SYSTEM SET archive_mode = on"),
        result("warn", "lock"),
        { ...result("ok", "config"), subject: "config" },
      ]),
    );
    expect(lines).toEqual([
      "ok    job task-db: connection    connection detail",
      "FAIL  job task-db: archive_mode  archive_mode detail",
      "      hint: ALTER SYSTEM SET archive_mode = on",
      "WARN  job task-db: lock          lock detail",
      "ok    config                     config detail",
      "",
      "doctor: NOT ready (2 ok, 1 warning, 1 failed)",
    ]);
  });

  it("keeps a multi-line detail on one line and redacts registered secrets", () => {
    registerSecret("hunter2-doctor-secret");
    const lines = formatReport(
      summarize([{ ...result("fail", "x"), detail: "first\n  second hunter2-doctor-secret" }]),
    );
    expect(lines[0]).toMatch(/first; second \*+/);
    expect(lines.join("\n")).not.toContain("hunter2-doctor-secret");
  });
});

describe("doctor runner", () => {
  it("keeps declaration order, turns throws into FAIL with the error's hint, SkipCheck into skip", async () => {
    const results = await runChecks(
      [
        spec("slow ok", async () => {
          await new Promise((resolve) => setTimeout(resolve, 30));
          return ok("fine");
        }),
        spec("throws", async () => {
          throw new OperationError("boom", { hint: "do this" });
        }),
        spec("skipped", async () => {
          throw new SkipCheck("needs the connection");
        }),
        spec("warns", async () => warn("careful", "look")),
      ],
      options,
    );
    expect(results.map((entry) => [entry.name, entry.status, entry.detail, entry.hint])).toEqual([
      ["slow ok", "ok", "fine", undefined],
      ["throws", "fail", "boom", "do this"],
      ["skipped", "skip", "needs the connection", undefined],
      ["warns", "warn", "careful", "look"],
    ]);
  });

  it("bounds each check in time (even one that ignores its signal) without stopping the others", async () => {
    let aborted = false;
    const started = Date.now();
    const results = await runChecks(
      [
        spec("hangs", (signal) => {
          signal.addEventListener("abort", () => (aborted = true));
          return new Promise(() => undefined);
        }),
        spec("after", async () => ok("still ran")),
      ],
      { timeoutMs: 100, concurrency: 1 },
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect(aborted).toBe(true);
    expect(results[0]).toMatchObject({ status: "fail", detail: "no answer within 0.1 s" });
    expect(results[0]?.hint).toMatch(/--timeout/);
    expect(results[1]).toMatchObject({ status: "ok", detail: "still ran" });
  });

  it("runs at most `concurrency` checks at once", async () => {
    let running = 0;
    let peak = 0;
    const body = async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 10));
      running -= 1;
      return ok("");
    };
    await runChecks(
      Array.from({ length: 7 }, (_, index) => spec(`c${index}`, body)),
      { timeoutMs: 1000, concurrency: 3 },
    );
    expect(peak).toBe(3);
  });

  it("shares one computation between checks", async () => {
    let calls = 0;
    const fact = shared(async () => {
      calls += 1;
      return 42;
    }, options);
    const results = await runChecks(
      [spec("a", async () => ok(String(await fact()))), spec("b", async () => fail(String(await fact())))],
      options,
    );
    expect(calls).toBe(1);
    expect(results.map((entry) => entry.detail)).toEqual(["42", "42"]);
  });
});
