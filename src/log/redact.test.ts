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
