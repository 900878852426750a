/**
 * Sizing libuv's thread pool to the machine. CommonJS on purpose: the size is read once, when the
 * pool starts, and an ES module entry point starts it while Node loads the module graph (Node 20
 * reads ES modules with asynchronous fs calls), before any of our code runs. The CommonJS entry
 * (bin.cts) sets it first, then imports the program.
 *
 * Why: backdrill's encryption seals 1 MiB batches on the pool, next to the stream's file reads
 * and writes. libuv's default of 4 threads puts 4 runnable threads on a 2-core machine, where
 * encrypting 1 GiB took 0.88–1.0 s; with a pool of 2 it took 0.64–0.66 s (bench/results.md).
 */
import os = require("node:os");

/** libuv reads its pool size from this variable. */
const THREADPOOL_ENV = "UV_THREADPOOL_SIZE";
/** libuv's own default, and our cap: more threads do not make streaming faster. */
const DEFAULT_SIZE = 4;
/** Never fewer: one slow file system call or DNS lookup must not stall encryption. */
const MIN_SIZE = 2;

/** The pool size for a machine with `cores` usable cores: one thread per core, 2 to 4. */
function threadPoolSize(cores: number): number {
  return Math.min(DEFAULT_SIZE, Math.max(MIN_SIZE, Math.floor(cores)));
}

/**
 * Sets UV_THREADPOOL_SIZE in `env` unless the operator set it; returns the value in effect.
 * Must run before the process's first asynchronous fs, DNS, crypto or zlib call to take effect.
 */
function sizeThreadPool(env: NodeJS.ProcessEnv, cores: number = os.availableParallelism()): string {
  const current = env[THREADPOOL_ENV];
  if (current !== undefined && current !== "") return current;
  const size = String(threadPoolSize(cores));
  env[THREADPOOL_ENV] = size;
  return size;
}

export = { THREADPOOL_ENV, threadPoolSize, sizeThreadPool };
