import { describe, expect, it } from "vitest";
import { registerSecret } from "../../log/redact.js";
import { failedServices, outputTail, parseSmokeLines } from "./tap.js";

describe("smoke test lines", () => {
  it("reads ok / not ok lines with or without number and dash, and # SKIP", () => {
    const lines = parseSmokeLines(
      [
        "1..4",
        "ok 1 - postgres: logged in, 500 users",
        "not ok 2 - secrets: DATABASE_URL does not open",
        "ok files: 12 files readable",
        "ok 4 - rabbitmq: no credentials # SKIP vault did not open",
        "some other output",
        "notok 5 - s3: not a result line",
      ].join("\n"),
    );
    expect(lines).toEqual([
      { ok: true, service: "postgres", text: "logged in, 500 users", skipped: false },
      { ok: false, service: "secrets", text: "DATABASE_URL does not open", skipped: false },
      { ok: true, service: "files", text: "12 files readable", skipped: false },
      { ok: true, service: "rabbitmq", text: "no credentials # SKIP vault did not open", skipped: true },
    ]);
  });

  it("blames only services of the stack, each once, in the order named", () => {
    const lines = parseSmokeLines(
      "not ok 1 - secrets: a\nnot ok 2 - app: b\nnot ok 3 - secrets: c\nnot ok 4 - postgres: d\nok 5 - s3: e\n",
    );
    expect(failedServices(lines, ["postgres", "secrets", "s3"])).toEqual(["secrets", "postgres"]);
  });

  it("redacts registered secrets and bounds what it keeps", () => {
    registerSecret("hunter2-smoke-secret");
    const [line] = parseSmokeLines(
      `not ok 1 - postgres: password hunter2-smoke-secret refused ${"x".repeat(900)}`,
    );
    expect(line?.text).not.toContain("hunter2-smoke-secret");
    expect(line?.text.length).toBeLessThanOrEqual(500);
    expect(parseSmokeLines("ok 1 - a: b\n".repeat(300))).toHaveLength(100);
    const tail = outputTail(
      Array.from({ length: 100 }, (_, i) => `line ${i} hunter2-smoke-secret`).join("\n"),
      5,
    );
    expect(tail.split("\n")).toHaveLength(5);
    expect(tail).toContain("line 99");
    expect(tail).not.toContain("hunter2-smoke-secret");
  });
});
