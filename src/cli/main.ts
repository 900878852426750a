/**
 * The only place that exits. argv -> options -> library call -> exit code:
 *   0 success, 1 an operation or check failed, 2 bad usage or config, 3 another run holds the lock.
 */
import yargs, { type Argv } from "yargs";
import { BackdrillError, ExitCode, UsageError, exitCodeOf, type ExitCodeValue } from "../errors.js";
import { closest } from "../schema/suggest.js";
import { redact } from "../log/redact.js";
import { VERSION } from "../version.js";
import { commandWord } from "./command-word.js";
import { globalOptions } from "./global-options.js";
import type { RegisteredCommand } from "./command.js";
import { commands } from "./commands/index.js";
import type { GlobalOptions } from "./context.js";

const EPILOGUE = `Exit codes:
  0  success
  1  an operation or check failed (backup, restore, drill check, verify found damage, RPO breached)
  2  bad usage or configuration (the message names the file, field or argument)
  3  another run holds the job's lock

Logs go to stderr (JSON, or pretty on a TTY); --json results go to stdout.
Docs: README.md`;

export function printError(error: unknown): void {
  const lines: string[] = [];
  if (error instanceof BackdrillError) {
    // One line per problem, the hint (what to do) on the same line: cron mails, journald and
    // `2>&1 | tail -1` all keep it together with the error it belongs to.
    lines.push(`backdrill: ${error.message}${error.hint === undefined ? "" : ` (hint: ${error.hint})`}`);
  } else if (error instanceof Error) {
    lines.push(`backdrill: unexpected error: ${error.message}`);
    if (process.env.BACKDRILL_DEBUG === "1" && error.stack !== undefined) lines.push(error.stack);
  } else {
    lines.push(`backdrill: unexpected error: ${String(error)}`);
  }
  process.stderr.write(`${redact(lines.join("\n"))}\n`);
}

export async function main(argv: string[]): Promise<ExitCodeValue> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts > 1) {
      process.stderr.write(`backdrill: ${signal} again, exiting without cleanup\n`);
      process.exit(130);
    }
    process.stderr.write(`backdrill: ${signal} received, stopping and cleaning up (again to force)\n`);
    controller.abort(new UsageError(`interrupted by ${signal}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let exitCode: ExitCodeValue = ExitCode.ok;
  let parser: Argv = yargs(argv)
    .scriptName("backdrill")
    .usage("$0 <command> [options]")
    .options(globalOptions(process.env))
    .strict()
    .demandCommand(1, "name a command (see --help)")
    .epilogue(EPILOGUE)
    .version(VERSION)
    .help()
    .alias("h", "help")
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .exitProcess(false)
    .fail((message, error, usage) => {
      // yargs validation failures (unknown option, missing argument) are usage errors: exit 2.
      if (error !== undefined && error !== null) throw error;
      // yargs puts details on further lines ("Invalid values:\n  Argument: ..."): one line.
      const text = withoutCamelCaseTwins(message.replace(/:\s*\n\s*/g, ": ").replace(/\s*\n\s*/g, "; "));
      throw new UsageError(`${text}${suggestion(text, usage, argv)} (see backdrill --help)`);
    });

  // Only the command being run is loaded (commands/index.ts): the others are registered by name
  // and description, enough for `--help` and "did you mean". A word that names no command (a
  // typo, or an argv shape commandWord cannot read) loads them all, so yargs sees every option.
  const word = commandWord(argv);
  const named = commands.filter((entry) => entry.usage.split(" ")[0] === word);
  const loaded = new Map<string, RegisteredCommand>();
  const toLoad = word === undefined ? [] : named.length > 0 ? named : commands;
  for (const entry of toLoad) loaded.set(entry.usage, await entry.load());

  for (const entry of commands) {
    const command = loaded.get(entry.usage);
    parser = parser.command({
      command: entry.usage,
      describe: entry.describe,
      builder: command === undefined ? (yargs: Argv) => yargs : command.builder,
      handler: async (args) => {
        // Not loaded means commandWord and yargs disagree on which command this argv names.
        const chosen = command ?? (await entry.load());
        const global: GlobalOptions = {
          configDir: String(args["config-dir"]),
          json: Boolean(args.json),
          logLevel: String(args["log-level"]),
        };
        // The logger (pino) is loaded once a command runs, not for --help or --version.
        const { createContext } = await import("./context.js");
        const context = createContext(global, controller.signal);
        exitCode = (await chosen.run(context, args)) as ExitCodeValue;
      },
    });
  }

  try {
    // With a parse callback yargs hands us --help/--version text instead of printing it through
    // console.log, so all output goes through process.stdout like everything else.
    let output = "";
    await parser.parseAsync(argv, {}, (_error, _args, text) => {
      output = text;
    });
    if (output !== "") process.stdout.write(`${output}\n`);
  } catch (error) {
    printError(error);
    exitCode = exitCodeOf(error);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  return exitCode;
}

/** The parts of yargs' usage object (the third argument of its fail callback) we read. */
interface UsageView {
  getCommands(): Array<[string, ...unknown[]]>;
  getDescriptions(): Record<string, unknown>;
}

function isUsageView(value: unknown): value is UsageView {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Partial<UsageView>).getCommands === "function" &&
    typeof (value as Partial<UsageView>).getDescriptions === "function"
  );
}

/**
 * "; did you mean …?" for yargs' `Unknown argument: X`: a command name when X was typed where a
 * command goes (`backdrill bakup`), else one of the command's options (`backup --al`). yargs
 * has recommendCommands() for the first, but it prints through its own channel, not ours.
 */
function suggestion(message: string, usage: unknown, argv: readonly string[]): string {
  const unknown = /^Unknown arguments?: ([^,\s]+)/.exec(message)?.[1];
  if (unknown === undefined || !isUsageView(usage)) return "";
  const pick = (candidates: string[]): string | undefined =>
    closest(unknown, candidates) ??
    (unknown.length >= 2 ? onlyOne(candidates.filter((c) => c.startsWith(unknown))) : undefined);
  const typedAsOption = argv.some(
    (arg) => arg.replace(/^-+/, "").split("=")[0] === unknown && arg.startsWith("-"),
  );
  if (!typedAsOption) {
    const commands = usage.getCommands().map(([command]) => command.split(" ")[0] ?? "");
    const command = pick(commands.filter((c) => c !== ""));
    if (command !== undefined) return `; did you mean "${command}"?`;
  }
  const option = pick(Object.keys(usage.getDescriptions()));
  return option === undefined ? "" : `; did you mean --${option}?`;
}

function onlyOne(candidates: string[]): string | undefined {
  return candidates.length === 1 ? candidates[0] : undefined;
}

/** yargs lists `--dry-rn` twice ("dry-rn, dryRn"); name each unknown argument once. */
function withoutCamelCaseTwins(message: string): string {
  const match = /^Unknown arguments: (.*)$/.exec(message);
  if (match?.[1] === undefined) return message;
  const names = match[1].split(", ");
  const camel = (name: string) => name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
  const kept = names.filter((name) => !names.some((other) => other !== name && camel(other) === name));
  return `Unknown argument${kept.length === 1 ? "" : "s"}: ${kept.join(", ")}`;
}
