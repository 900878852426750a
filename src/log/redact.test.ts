import { afterEach, describe, expect, it } from "vitest";
import { clearRegisteredSecrets, redact, redactDeep, registerSecret } from "./redact.js";

afterEach(() => clearRegisteredSecrets());

describe("redact", () => {
  it("masks registered secrets wherever they appear, also URL-encoded", () => {
    registerSecret("s3cr3t/p@ss");
    expect(redact("pg_dump: FATAL: password s3cr3t/p@ss rejected")).toBe(
      "pg_dump: FATAL: password *** rejected",
    );
    expect(redact("postgres://u:s3cr3t%2Fp%40ss@h/db")).not.toContain("s3cr3t");
  });

  it("ignores secrets too short to mask safely", () => {
    registerSecret("ab");
    expect(redact("ab cd")).toBe("ab cd");
  });

  it("masks credentials in URLs and DSNs it never saw", () => {
    expect(redact("connect postgres://backup:hunter22@db:5432/task failed")).toBe(
      "connect postgres://backup:***@db:5432/task failed",
    );
    expect(redact("amqp://guest:guest@rabbit/")).toBe("amqp://guest:***@rabbit/");
  });

  it("masks key=value and JSON secrets but leaves prose alone", () => {
    expect(redact("host=db password=hunter22 user=x")).toBe("host=db password=*** user=x");
    expect(redact('{"user":"a","password":"hunter22"}')).toBe('{"user":"a","password":"***"}');
    const prose = "connection.password: secrets are not allowed in config files; use passwordEnv";
    expect(redact(prose)).toBe(prose);
  });

  it("masks age identities and Authorization headers", () => {
    expect(redact("AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ")).toBe(
      "AGE-SECRET-KEY-1***",
    );
    expect(redact("Authorization: Basic YmFja3VwOmh1bnRlcjI=")).toBe("Authorization: Basic ***");
  });

  it("redactDeep walks objects and arrays", () => {
    registerSecret("topsecretvalue");
    expect(redactDeep({ a: ["x topsecretvalue"], b: { c: "topsecretvalue" }, n: 3 })).toEqual({
      a: ["x ***"],
      b: { c: "***" },
      n: 3,
    });
  });
});

describe("secrets inside JSON, and child output kept out of webhooks", () => {
  it("masks a secret whose JSON form escapes quotes and backslashes", () => {
    const secret = 'pa"ss\\word';
    registerSecret(secret);
    const json = JSON.stringify({ error: `login with ${secret} failed` });
    expect(json).not.toContain(secret);
    expect(redact(json)).toBe('{"error":"login with *** failed"}');
  });

  it("replaces a registered child output (a tool's stderr) and leaves the rest", async () => {
    const { registerChildOutput, withoutChildOutput } = await import("./redact.js");
    const stderr = "ERROR: duplicate key value\nDETAIL: Key (email)=(alice@example.com) already exists.";
    registerChildOutput(stderr);
    const message = `backup of task FAILED: pg_restore exited with code 1: ${stderr}`;
    expect(withoutChildOutput(message)).toBe(
      "backup of task FAILED: pg_restore exited with code 1: [the tool's messages: see the log]",
    );
    expect(withoutChildOutput("nothing from a tool")).toBe("nothing from a tool");
  });
});
