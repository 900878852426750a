/**
 * Typed errors. Every error the CLI can meet carries the exit code it maps to, so `src/cli/main.ts`
 * is the one place that turns an error into a process exit (restic's single `main` mapping).
 *
 * Exit codes (documented in README and `--help`):
 *   0 success, 1 an operation or check failed, 2 bad usage or config, 3 another run holds the lock.
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  locked: 3,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface BackdrillErrorOptions {
  cause?: unknown;
  /** A hint telling the operator what to do next; printed on its own line. */
  hint?: string;
}

export class BackdrillError extends Error {
  readonly exitCode: ExitCodeValue = ExitCode.failed;
  readonly hint: string | undefined;
  constructor(message: string, options: BackdrillErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** An operation failed (a backup, a restore, a check). Exit 1. */
export class OperationError extends BackdrillError {}

/** Data in the repository is missing or damaged. Exit 1. */
export class IntegrityError extends BackdrillError {}

/** Decryption failed: wrong identity, tampered or truncated ciphertext. Exit 1. */
export class DecryptionError extends BackdrillError {}

/** A storage key that does not exist. Permanent: retrying will not help. Exit 1. */
export class NotFoundError extends BackdrillError {
  constructor(
    readonly key: string,
    options: BackdrillErrorOptions = {},
  ) {
    super(`not found: ${key}`, options);
  }
}

/** A write refused because the key exists and overwriting was not allowed. Exit 1. */
export class AlreadyExistsError extends BackdrillError {
  constructor(
    readonly key: string,
    options: BackdrillErrorOptions = {},
  ) {
    super(`already exists: ${key}`, options);
  }
}

/** Bad command-line usage. Exit 2. */
export class UsageError extends BackdrillError {
  override readonly exitCode = ExitCode.usage;
}

/**
 * A command backdrill runs is not installed (`rsync not found: install the Debian package rsync
 * (apt-get install rsync)`). Exit 2: the host needs fixing, retrying will not help.
 */
export class MissingToolError extends UsageError {
  constructor(
    readonly command: string,
    message: string,
    options: BackdrillErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** A feature that is specified but not built yet. Exit 2 (nothing was attempted). */
export class NotImplementedError extends UsageError {}

export interface ConfigIssue {
  /** Config file relative to the config dir, e.g. `jobs/task-db.yaml`; empty for cross-file issues. */
  file: string;
  /** Dotted field path, e.g. `connection.port`; empty for whole-file issues. */
  path: string;
  message: string;
}

/** One or more problems in the configuration, all reported at once. Exit 2. */
export class ConfigError extends BackdrillError {
  override readonly exitCode = ExitCode.usage;
  constructor(
    readonly issues: ConfigIssue[],
    options: BackdrillErrorOptions = {},
  ) {
    super(issues.map(formatConfigIssue).join("\n"), options);
  }
}

export function formatConfigIssue(issue: ConfigIssue): string {
  const where = [issue.file, issue.path].filter((part) => part !== "").join(": ");
  return where === "" ? issue.message : `${where}: ${issue.message}`;
}

/** Another run holds the job's lock. Exit 3. */
export class LockHeldError extends BackdrillError {
  override readonly exitCode = ExitCode.locked;
}

export function exitCodeOf(error: unknown): ExitCodeValue {
  return error instanceof BackdrillError ? error.exitCode : ExitCode.failed;
}

/**
 * `error` with `where` ("job task-db", "job task-db, database task") in front of its message,
 * keeping its class, exit code and hint: a ConfigError stays a ConfigError (exit 2, naming the
 * field), an IntegrityError stays one. Anything that is not a BackdrillError (a driver's error, a
 * Node error) becomes an OperationError. The one wrapper every kind uses.
 */
export function inJob(where: string, error: unknown): BackdrillError {
  if (error instanceof BackdrillError) {
    if (error.message.startsWith(`${where}: `) || error.message.startsWith(`${where.split(",")[0]}: `))
      return error;
    // A copy of the same class without running its constructor (ConfigError takes issues,
    // NotFoundError a key): same own fields, new message, the original as the cause.
    const copy = Object.create(Object.getPrototypeOf(error) as object) as BackdrillError;
    Object.assign(copy, error);
    Object.defineProperty(copy, "message", {
      value: `${where}: ${error.message}`,
      writable: true,
      configurable: true,
    });
    Object.defineProperty(copy, "cause", { value: error, writable: true, configurable: true });
    Object.defineProperty(copy, "stack", {
      value: `${copy.name}: ${copy.message}\n${(error.stack ?? "").split("\n").slice(1).join("\n")}`,
      writable: true,
      configurable: true,
    });
    return copy;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new OperationError(`${where}: ${message}`, { cause: error });
}
