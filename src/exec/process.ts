/**
 * The only module that spawns processes. Everything else (pg_dump, rsync, docker, age in benches)
 * goes through `run` or `spawnStream`, so that timeouts, cancellation, secret redaction of argv
 * and stderr, and cleanup on Ctrl-C live in one place.
 *
 * Built on node:child_process directly (child.ts). execa did this job before, but loading it
 * cost ~110 ms and ~100 modules at every start of the CLI, `wal push` (run by PostgreSQL once per
 * WAL segment) included (issue 19), for the few things used here: an allow-listed environment,
 * abort and timeout with SIGTERM then SIGKILL, output collection and children killed when
 * backdrill exits.
 */
import { stat } from "node:fs/promises";
import type { Readable, Writable } from "node:stream";
import { BackdrillError, MissingToolError, OperationError } from "../errors.js";
import { redact, registerChildOutput } from "../log/redact.js";
import { type ChildExit, startChild } from "./child.js";
import { missingToolMessage } from "./host-tools.js";

/**
 * What a child inherits of backdrill's own environment: where to find programs and files, the
 * locale and time zone, and how to reach the Docker engine and an ssh agent. Nothing else: the
 * environment backdrill runs with holds every job's secrets (database and S3 passwords, the
 * webhook URL), and a child (pg_restore, rsync, ssh and the ProxyCommand it may run, a docker
 * CLI, psql) needs none of them; what a child does need (PGPASSWORD, …) is passed in `env`.
 */
const INHERITED_ENV =
  /^(?:PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|LC_[A-Z_]+|TZ|TMPDIR|TERM|LD_LIBRARY_PATH|XDG_RUNTIME_DIR|SSH_AUTH_SOCK|DOCKER_(?:HOST|CONTEXT|CONFIG|CERT_PATH|TLS_VERIFY|API_VERSION)|PGSSL(?:ROOTCERT|CERT|KEY|CRL|CRLDIR))$/;

/** The allow-listed part of `parent`, with `extra` over it (an undefined value removes a name). */
export function childEnv(
  extra: Record<string, string | undefined> = {},
  parent: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value !== undefined && INHERITED_ENV.test(name)) env[name] = value;
  }
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

export interface ProcessOptions {
  cwd?: string;
  /**
   * Environment for the child, over the allow-listed part of process.env (childEnv). Put
   * secrets here, never in argv.
   */
  env?: Record<string, string | undefined>;
  /** Abort kills the child (SIGTERM, then SIGKILL after `killGraceMs`). */
  signal?: AbortSignal;
  timeoutMs?: number;
  killGraceMs?: number;
  /** Used in error messages instead of the command line, e.g. `pg_dump of database task`. */
  description?: string;
}

export interface RunOptions extends ProcessOptions {
  input?: string | Buffer;
  /** Exit codes that count as success; default [0]. */
  okExitCodes?: number[];
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const STDERR_TAIL = 4000;
/** How long a child asked to stop (SIGTERM) gets before SIGKILL, unless `killGraceMs` says. */
const DEFAULT_KILL_GRACE_MS = 5000;

function describe(file: string, args: readonly string[], options: ProcessOptions): string {
  return options.description ?? redact([file, ...args].join(" "));
}

function tail(text: string): string {
  const trimmed = text.trim();
  const shown = redact(trimmed.length > STDERR_TAIL ? `...${trimmed.slice(-STDERR_TAIL)}` : trimmed);
  // Remembered so webhook bodies can leave it out (it may quote row values).
  registerChildOutput(shown);
  return shown;
}

export function processError(
  what: string,
  details: { exitCode?: number | undefined; signal?: string | undefined; stderr?: string; cause?: unknown },
): OperationError {
  const status =
    details.signal !== undefined && details.signal !== null
      ? `was killed by ${details.signal}`
      : details.exitCode === undefined
        ? `failed to start: ${reasonOf(details.cause)}`
        : `exited with code ${details.exitCode}`;
  const stderr =
    details.stderr !== undefined && details.stderr.trim() !== "" ? `: ${tail(details.stderr)}` : "";
  return new OperationError(`${what} ${status}${stderr}`, { cause: details.cause });
}

/** Why a child never ran, from the spawn error (`spawn rsync EACCES` -> `EACCES (spawn rsync)`). */
function reasonOf(cause: unknown): string {
  if (!(cause instanceof Error)) return "no exit code and no error from the operating system";
  const code = (cause as NodeJS.ErrnoException).code;
  return code === undefined ? cause.message : `${code} (${cause.message})`;
}

/**
 * The error for a child that could not be started. ENOENT is either the command or the working
 * directory missing (Node reports both as `spawn <file> ENOENT`): a missing command becomes one
 * line naming it and its Debian package (exit 2), never "exit undefined".
 */
async function spawnError(
  file: string,
  what: string,
  options: ProcessOptions,
  result: { exitCode?: number | undefined; signal?: string | undefined; stderr?: string; cause?: unknown },
): Promise<BackdrillError> {
  const code = result.cause instanceof Error ? (result.cause as NodeJS.ErrnoException).code : undefined;
  if (code === "ENOENT") {
    if (options.cwd !== undefined && !(await isDirectory(options.cwd))) {
      return new OperationError(`${what} failed to start: working directory ${options.cwd} does not exist`, {
        cause: result.cause,
      });
    }
    return new MissingToolError(file, missingToolMessage(file), { cause: result.cause });
  }
  return processError(what, result);
}

async function isDirectory(dir: string): Promise<boolean> {
  return (await stat(dir).catch(() => undefined))?.isDirectory() === true;
}

/** True when the child never ran: no exit code, no signal (a spawn error). */
function neverStarted(result: ChildExit): boolean {
  return result.exitCode === undefined && result.signal === undefined;
}

/** Runs a command to completion, buffering output. Rejects with a redacted OperationError. */
export async function run(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const ok = options.okExitCodes ?? [0];
  const child = startChild(file, args, {
    cwd: options.cwd,
    env: childEnv(options.env),
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    killGraceMs: options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
    stdin: options.input === undefined ? "ignore" : "pipe",
    stdout: "pipe",
    collect: true,
  });
  if (options.input !== undefined) {
    // A child that exits without reading its input closes the pipe: that is its exit status's
    // business, not an EPIPE of ours.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(options.input);
  }
  const result = await child.exit;
  const stdout = result.stdout ?? "";
  const stderr = result.stderr ?? "";
  if (neverStarted(result) && !result.canceled) {
    throw await spawnError(file, describe(file, args, options), options, { stderr, cause: result.cause });
  }
  if (result.cause instanceof Error && !neverStarted(result)) {
    // It ran but was stopped for its output (more than child.ts collects): say so, not only
    // "killed by SIGTERM".
    throw new OperationError(`${describe(file, args, options)} was stopped: ${result.cause.message}`, {
      cause: result.cause,
    });
  }
  if (result.exitCode === undefined || !ok.includes(result.exitCode)) {
    throw processError(describe(file, args, options), {
      exitCode: result.exitCode,
      signal: result.signal,
      stderr,
      cause: result.cause,
    });
  }
  return { stdout, stderr, exitCode: result.exitCode };
}

export interface StreamingProcess {
  /** The child's stdout, when `stdout: "pipe"`. */
  readonly stdout: Readable;
  /** The child's stdin, when `stdin: "pipe"`. */
  readonly stdin: Writable;
  /** Resolves when the child exits successfully; rejects with a redacted OperationError. */
  readonly done: Promise<void>;
  /** Kills the child (idempotent). */
  kill(signal?: NodeJS.Signals): void;
}

export interface StreamOptions extends ProcessOptions {
  stdin?: "pipe" | "ignore" | Readable;
  stdout?: "pipe" | "ignore" | "inherit";
}

/**
 * Starts a command whose stdin/stdout are streams (pg_dump | encrypt, decrypt | pg_restore).
 * The caller owns the returned process and must await `done` or call `kill()`.
 */
export function spawnStream(
  file: string,
  args: readonly string[],
  options: StreamOptions = {},
): StreamingProcess {
  const stdinOption = options.stdin ?? "ignore";
  const child = startChild(file, args, {
    cwd: options.cwd,
    env: childEnv(options.env),
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    killGraceMs: options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
    stdin: typeof stdinOption === "string" ? stdinOption : "pipe",
    stdout: options.stdout ?? "pipe",
    collect: false,
  });
  const { stdin, stdout } = child;
  if (typeof stdinOption === "object" && stdin !== null) {
    stdinOption.pipe(stdin);
    // A child that exits early closes stdin; that is reported through `done`, not as EPIPE.
    stdin.on("error", () => undefined);
  }
  const what = describe(file, args, options);
  const done = child.exit.then(async (result: ChildExit) => {
    const stderr = result.stderr ?? "";
    if (neverStarted(result) && !result.canceled) {
      throw await spawnError(file, what, options, { stderr, cause: result.cause });
    }
    if (result.exitCode !== 0 || result.cause !== undefined) {
      throw processError(what, {
        exitCode: result.exitCode,
        signal: result.signal,
        stderr,
        cause: result.canceled ? options.signal?.reason : result.cause,
      });
    }
  });
  // Avoid an unhandled rejection when the caller is already failing for another reason.
  done.catch(() => undefined);
  return {
    stdout: stdout as Readable,
    stdin: stdin as Writable,
    done,
    kill: (signal: NodeJS.Signals = "SIGTERM") => child.kill(signal),
  };
}
