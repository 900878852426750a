/**
 * One child process, from spawn to its end: the mechanics under process.ts (which owns the
 * product's API, the environment allow-list and the error messages).
 *
 *   - The child is stopped with SIGTERM when `signal` aborts, when `timeoutMs` passes, or when
 *     `kill()` is called with SIGTERM; a child still running `killGraceMs` later gets SIGKILL
 *     (pg_dump or ssh stuck in a syscall must not keep a cancelled run alive).
 *   - Children still running when backdrill's process exits get SIGTERM (a `process.exit` after
 *     a fatal error must not leave an rsync or a docker CLI behind).
 *   - `exit` settles once the child has exited and its output streams are closed, so collected
 *     output is complete; it never rejects: a spawn failure is `cause` with no exit code.
 *   - stderr is always read (a child blocked on a full stderr pipe would never exit): kept whole
 *     when `collect`, otherwise only its tail, for error messages.
 */
import { spawn } from "node:child_process";
import { Readable, Writable } from "node:stream";

/** Output kept by `collect` at most, per stream (a runaway child must not exhaust memory). */
export const MAX_COLLECTED_CHARS = 100_000_000;
/** The tail of stderr kept for error messages when output is not collected. */
const STDERR_TAIL_CHARS = 8000;

export interface ChildOptions {
  cwd?: string | undefined;
  /** The child's whole environment (nothing is inherited beyond it). */
  env: Record<string, string>;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
  killGraceMs: number;
  stdin: "pipe" | "ignore";
  stdout: "pipe" | "ignore" | "inherit";
  /** Collect stdout and stderr as UTF-8 text into the result (else the caller reads stdout). */
  collect: boolean;
}

export interface ChildExit {
  /** The exit status; undefined when the child was killed by a signal or never started. */
  exitCode?: number;
  signal?: NodeJS.Signals;
  /** Why the child never started (the spawn error), or why its output was cut short. */
  cause?: unknown;
  /** It was stopped because `signal` aborted. */
  canceled: boolean;
  /** It was stopped because `timeoutMs` passed. */
  timedOut: boolean;
  /** Collected stdout (only with `collect`). */
  stdout?: string;
  /** Collected stderr, or its tail. */
  stderr: string;
}

export interface Child {
  /** The child's stdin, with `stdin: "pipe"`. */
  readonly stdin: Writable | null;
  /** The child's stdout, with `stdout: "pipe"`. */
  readonly stdout: Readable | null;
  readonly exit: Promise<ChildExit>;
  /** Sends `signal` unless the child has exited; SIGTERM is followed by SIGKILL after the grace. */
  kill(signal?: NodeJS.Signals): void;
}

/** How to stop each child still running. */
const running = new Set<() => void>();
let exitHookInstalled = false;

/** Stops every child still running when this process exits (the exit handler must be synchronous). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const stop of running) stop();
  });
}

/**
 * A child Node refused to spawn synchronously (an argument holding a NUL byte, say): reported
 * like any spawn failure, through `exit`, with empty streams where pipes were asked for.
 */
function neverSpawned(cause: unknown, options: ChildOptions): Child {
  const result: ChildExit = { cause, canceled: false, timedOut: false, stderr: "" };
  if (options.collect) result.stdout = "";
  return {
    stdin: options.stdin === "pipe" ? new Writable({ write: (_chunk, _encoding, done) => done() }) : null,
    stdout: options.stdout === "pipe" ? Readable.from([]) : null,
    exit: Promise.resolve(result),
    kill: () => undefined,
  };
}

export function startChild(file: string, args: readonly string[], options: ChildOptions): Child {
  let child;
  try {
    child = spawn(file, [...args], {
      cwd: options.cwd,
      env: options.env,
      stdio: [options.stdin, options.stdout, "pipe"],
    });
  } catch (error) {
    return neverSpawned(error, options);
  }
  let canceled = false;
  let timedOut = false;
  let spawnFailure: Error | undefined;
  let outputFailure: Error | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;

  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const kill = (signal: NodeJS.Signals = "SIGTERM"): void => {
    if (child.pid === undefined || exited()) return;
    child.kill(signal);
    if (signal === "SIGTERM" && graceTimer === undefined) {
      graceTimer = setTimeout(() => {
        if (!exited()) child.kill("SIGKILL");
      }, options.killGraceMs);
      // The child's own handle keeps the loop alive while it runs; this timer must not.
      graceTimer.unref();
    }
  };
  const stop = (): void => kill("SIGTERM");

  const onAbort = (): void => {
    canceled = true;
    kill("SIGTERM");
  };
  if (options.signal !== undefined) {
    if (options.signal.aborted) queueMicrotask(onAbort);
    else options.signal.addEventListener("abort", onAbort, { once: true });
  }
  if (options.timeoutMs !== undefined && options.timeoutMs > 0) {
    timeoutTimer = setTimeout(() => {
      timedOut = true;
      kill("SIGTERM");
    }, options.timeoutMs);
  }

  let stdout = "";
  let stderr = "";
  const tooMuch = (stream: string): void => {
    outputFailure ??= new Error(`its ${stream} exceeded ${MAX_COLLECTED_CHARS} characters`);
    kill("SIGTERM");
  };
  if (options.collect && child.stdout !== null) {
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      if (stdout.length + chunk.length > MAX_COLLECTED_CHARS) tooMuch("stdout");
      else stdout += chunk;
    });
  }
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    if (!options.collect) stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
    else if (stderr.length + chunk.length > MAX_COLLECTED_CHARS) tooMuch("stderr");
    else stderr += chunk;
  });

  running.add(stop);
  installExitHook();
  const exit = new Promise<ChildExit>((resolve) => {
    child.on("error", (error) => {
      // Errors after a successful spawn (a failed kill) change nothing about how it ends.
      if (child.pid === undefined) spawnFailure ??= error;
    });
    child.on("close", (code: number | null, signal: NodeJS.Signals | null) => {
      running.delete(stop);
      clearTimeout(graceTimer);
      clearTimeout(timeoutTimer);
      options.signal?.removeEventListener("abort", onAbort);
      const result: ChildExit = { canceled, timedOut, stderr };
      if (spawnFailure !== undefined) result.cause = spawnFailure;
      else {
        if (code !== null) result.exitCode = code;
        if (signal !== null) result.signal = signal;
        if (outputFailure !== undefined) result.cause = outputFailure;
      }
      if (options.collect) result.stdout = stdout;
      resolve(result);
    });
  });
  return { stdin: child.stdin, stdout: child.stdout, exit, kill };
}
