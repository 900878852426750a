import { createLogger, setLogger, type Logger } from "../log/logger.js";
import { redactDeep } from "../log/redact.js";

/** Options every command accepts (converted from argv once, in main.ts). */
export interface GlobalOptions {
  configDir: string;
  json: boolean;
  logLevel: string;
}

/**
 * What a command gets: parsed global options, the logger, an abort signal wired to Ctrl-C and
 * SIGTERM, and the two output channels (results on stdout, logs on stderr).
 */
export interface CliContext extends GlobalOptions {
  log: Logger;
  signal: AbortSignal;
  /** Prints a human line to stdout (suppressed with --json). */
  print(line?: string): void;
  /** Prints the machine-readable result with --json (redacted). */
  printJson(value: unknown): void;
}

export function createContext(options: GlobalOptions, signal: AbortSignal): CliContext {
  const log = createLogger({ level: options.logLevel });
  setLogger(log);
  return {
    ...options,
    log,
    signal,
    print(line = "") {
      if (!options.json) process.stdout.write(`${line}\n`);
    },
    printJson(value: unknown) {
      process.stdout.write(`${JSON.stringify(redactDeep(value), null, 2)}\n`);
    },
  };
}
