import { describe, expect, it } from "vitest";
import { expandEnv, expandString } from "./env.js";

const env = { HOST: "db.internal", EMPTY: "", PORT: "6543", TRICKY: "a: b\n- c" };

function expand(text: string): string {
  const result = expandString(text, env);
  if (!result.ok) throw new Error(result.messages.join("; "));
  return result.value;
}

describe("expandString", () => {
  it("replaces ${VAR} and keeps surrounding text", () => {
    expect(expand("${HOST}")).toBe("db.internal");
    expect(expand("postgres://${HOST}:${PORT}/task")).toBe("postgres://db.internal:6543/task");
  });

  it("uses the default when the variable is unset or empty, as the shell does", () => {
    expect(expand("${MISSING:-127.0.0.1}")).toBe("127.0.0.1");
    expect(expand("${EMPTY:-fallback}")).toBe("fallback");
    expect(expand("${HOST:-fallback}")).toBe("db.internal");
    expect(expand("${MISSING:-}")).toBe("");
  });

  it("expands variables inside defaults, and only when the default is used", () => {
    expect(expand("${MISSING:-${HOST}}")).toBe("db.internal");
    expect(expand("${HOST:-${ALSO_MISSING}}")).toBe("db.internal");
    expect(expandString("${MISSING:-${ALSO_MISSING}}", env)).toEqual({
      ok: false,
      messages: [expect.stringContaining("ALSO_MISSING is not set")],
    });
  });

  it("treats $$ as a literal dollar and leaves other dollars alone", () => {
    expect(expand("price $$5")).toBe("price $5");
    expect(expand("$$${HOST}")).toBe("$db.internal");
    expect(expand("$${HOST}")).toBe("${HOST}");
    expect(expand("select $1")).toBe("select $1");
    expect(expand("trailing $")).toBe("trailing $");
  });

  it("keeps an empty value from a set variable", () => {
    expect(expand("x${EMPTY}y")).toBe("xy");
  });

  it("names every unset variable and how to give a default", () => {
    expect(expandString("${A}-${B}-${A}", {})).toEqual({
      ok: false,
      messages: [
        "environment variable A is not set; export it, or give a default in the file: ${A:-value}",
        "environment variable B is not set; export it, or give a default in the file: ${B:-value}",
      ],
    });
  });

  it.each([
    ["${1X}", /invalid variable reference/],
    ["${}", /invalid variable reference/],
    ["${HOST", /unterminated/],
    ["${HOST:-x", /unterminated/],
    ["${HOST:x}", /only \$\{HOST\} and \$\{HOST:-default\}/],
    ["${HOST-x}", /unsupported form/],
  ])("rejects %s", (text, message) => {
    const result = expandString(text, env);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.messages[0]).toMatch(message);
  });
});

describe("expandEnv", () => {
  it("expands string scalars at any depth and records where, leaving keys and other types alone", () => {
    const result = expandEnv(
      { "${HOST}": "k", connection: { host: "${HOST}", port: 5432 }, list: ["${PORT}", true, null] },
      env,
    );
    expect(result.issues).toEqual([]);
    expect(result.value).toEqual({
      "${HOST}": "k",
      connection: { host: "db.internal", port: 5432 },
      list: ["6543", true, null],
    });
    expect([...result.expanded]).toEqual([
      ["connection.host", "${HOST}"],
      ["list.0", "${PORT}"],
    ]);
  });

  it("cannot inject YAML structure: a value with colons and newlines stays one string", () => {
    const result = expandEnv({ description: "${TRICKY}" }, env);
    expect(result.value).toEqual({ description: "a: b\n- c" });
  });

  it("reports failures with their field path and leaves the text as written", () => {
    const result = expandEnv({ targets: [{ identityFile: "${ID_FILE}" }] }, {});
    expect(result.issues).toEqual([
      {
        path: "targets.0.identityFile",
        message:
          "environment variable ID_FILE is not set; export it, or give a default in the file: ${ID_FILE:-value}",
      },
    ]);
    expect(result.failed).toEqual(new Set(["targets.0.identityFile"]));
    expect(result.value).toEqual({ targets: [{ identityFile: "${ID_FILE}" }] });
  });

  it("does not mutate its input", () => {
    const input = { host: "${HOST}" };
    expandEnv(input, env);
    expect(input).toEqual({ host: "${HOST}" });
  });
});
