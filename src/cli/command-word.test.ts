import { describe, expect, it } from "vitest";
import { commandWord } from "./command-word.js";
import { globalOptionFlags, globalOptions } from "./global-options.js";

describe("commandWord", () => {
  it.each([
    [["backup", "task-db"], "backup"],
    [["--config-dir", "/etc/backdrill", "backup"], "backup"],
    [["--config-dir=/etc/backdrill", "drill", "monthly"], "drill"],
    [["--log-level", "debug", "--json", "status"], "status"],
    [["--json", "true", "status"], "status"],
    [["--json", "verify", "task-db"], "verify"],
    [["--", "restore"], "restore"],
    [["bakup"], "bakup"],
  ])("%j names %s", (argv, word) => {
    expect(commandWord(argv)).toBe(word);
  });

  it.each([[[]], [["--help"]], [["--version"]], [["--config-dir", "backup"]]])(
    "%j names no command",
    (argv) => {
      expect(commandWord(argv)).toBeUndefined();
    },
  );

  it("skips the value of every global option that takes one, as main.ts declares them", () => {
    const { value } = globalOptionFlags();
    expect(value).toEqual(["--config-dir", "--log-level"]);
    for (const flag of value) expect(commandWord([flag, "backup", "status"])).toBe("status");
    // The declaration is the one main.ts hands to yargs.
    expect(Object.keys(globalOptions({})).map((name) => `--${name}`)).toEqual([
      "--config-dir",
      "--json",
      "--log-level",
    ]);
  });
});
