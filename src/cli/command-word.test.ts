import { describe, expect, it } from "vitest";
import { commandWord } from "./command-word.js";

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
});
