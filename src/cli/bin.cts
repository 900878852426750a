#!/usr/bin/env node
/**
 * The `backdrill` executable. CommonJS so that it runs before Node starts libuv's thread pool
 * (see threadpool.cts); it only prepares the process and then loads the program (run.ts).
 */
import threadPool = require("./threadpool.cjs");

threadPool.sizeThreadPool(process.env);
import("./run.js").catch((error: unknown) => {
  // Only a broken installation gets here (a missing or unparsable module): the program itself
  // reports its own errors.
  process.stderr.write(
    `backdrill: cannot start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exitCode = 1;
});
