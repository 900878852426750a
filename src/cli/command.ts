import type { Argv } from "yargs";
import type { CliContext } from "./context.js";

/**
 * One CLI command: argv in, options out, one library call. `run` returns the exit code (0 or 1);
 * errors are thrown and mapped to exit codes in main.ts only. Its usage line and description live
 * in commands/index.ts, so `--help` can list every command without loading any.
 */
export interface Command<A> {
  builder: (yargs: Argv) => Argv<A>;
  run: (context: CliContext, args: A) => Promise<number>;
}

/** A command with its argument type erased, so main.ts can register a list of them. */
export interface RegisteredCommand {
  builder: (yargs: Argv) => Argv;
  run: (context: CliContext, args: Record<string, unknown>) => Promise<number>;
}

/**
 * Typed at the definition (the builder's option types flow into `run`), erased for registration:
 * yargs hands `run` exactly the arguments its own builder declared.
 */
export function defineCommand<A>(command: Command<A>): RegisteredCommand {
  return command as unknown as RegisteredCommand;
}
