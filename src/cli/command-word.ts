/**
 * Which command an argv names, read before yargs parses it, so that main.ts loads that one
 * command's module and no other (commands/index.ts). Only the global options can come before the
 * command word; those that take a value are skipped with their value.
 */

import { globalOptionFlags } from "./global-options.js";

const FLAGS = globalOptionFlags();
/** Global options followed by a value (`--config-dir DIR`). */
const VALUE_OPTIONS = new Set(FLAGS.value);
/**
 * Global booleans (ours, and yargs' own help and version), which yargs lets take an explicit
 * `true` / `false` after them.
 */
const BOOLEAN_OPTIONS = new Set([...FLAGS.boolean, "--help", "-h", "--version"]);

/**
 * The first word of `argv` that is not an option or an option's value; `undefined` when there is
 * none (`backdrill`, `backdrill --help`).
 */
export function commandWord(argv: readonly string[]): string | undefined {
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] as string;
    if (arg === "--") return argv[index + 1];
    if (!arg.startsWith("-") || arg === "-") return arg;
    if (VALUE_OPTIONS.has(arg)) index += 1;
    else if (BOOLEAN_OPTIONS.has(arg) && (argv[index + 1] === "true" || argv[index + 1] === "false"))
      index += 1;
  }
  return undefined;
}
