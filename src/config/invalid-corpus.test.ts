import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import { loadConfig } from "./load.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../test/fixtures/config/invalid");
const cases = readdirSync(root)
  .filter((name) => statSync(join(root, name)).isDirectory())
  .sort();

describe("invalid config corpus", () => {
  it("has a case for every rule the brief lists", () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  it.each(cases)("%s", async (name) => {
    const dir = join(root, name);
    const expectedFile = join(dir, "expected.txt");
    expect(existsSync(expectedFile), `${name} needs an expected.txt`).toBe(true);
    const expected = readFileSync(expectedFile, "utf8").trimEnd();

    const error = await loadConfig({ dir, env: {} }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.exitCode).toBe(2);
    expect(configError.message).toBe(expected);
    // Every issue names its file (cases are built so that no issue is directory-wide).
    for (const issue of configError.issues) expect(issue.file).not.toBe("");
  });
});
