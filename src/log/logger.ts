import { createRequire } from "node:module";
import { Writable } from "node:stream";
import pino, { type Logger } from "pino";
import type PinoPretty from "pino-pretty";
import { redact } from "./redact.js";

/**
 * pino-pretty (and its dozens of modules) only when a human is watching: cron, systemd and
 * `--json` runs log JSON and never load it. Synchronous, so createLogger stays synchronous.
 */
function loadPretty(): typeof PinoPretty {
  return createRequire(import.meta.url)("pino-pretty") as typeof PinoPretty;
}

export type { Logger } from "pino";

export interface LoggerOptions {
  level?: string;
  /** Pretty output for humans; default: when stderr is a TTY. */
  pretty?: boolean;
  /** Where lines go; default process.stderr. stdout is reserved for `--json` results. */
  destination?: NodeJS.WritableStream;
}

/** Field names pino masks structurally, before the text-level redaction runs. */
const REDACT_PATHS = [
  "password",
  "*.password",
  "secretAccessKey",
  "*.secretAccessKey",
  "identity",
  "*.identity",
  "decryptionKey",
  "*.decryptionKey",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "env",
  "*.env",
];

/**
 * The root logger. Every line passes through `redact()` on its way out, so a secret inside an
 * error message from a child process is masked too, whatever field it sits in.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const target = options.destination ?? process.stderr;
  const redacting = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      target.write(redact(chunk.toString()));
      callback();
    },
  });
  const usePretty = options.pretty ?? Boolean((target as { isTTY?: boolean }).isTTY);
  const stream = usePretty
    ? loadPretty()({ destination: redacting, sync: true, colorize: true, translateTime: "SYS:HH:MM:ss" })
    : redacting;
  return pino(
    {
      level: options.level ?? process.env.BACKDRILL_LOG_LEVEL ?? "info",
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: "***" },
    },
    stream,
  );
}

let root: Logger | undefined;

/** The process-wide logger; the CLI replaces it once options are parsed. */
export function logger(): Logger {
  root ??= createLogger();
  return root;
}

export function setLogger(next: Logger): void {
  root = next;
}
