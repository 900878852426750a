/**
 * `npm run test:env`: prepare this machine for the integration tests (Docker engine + locally
 * built test images) and print how long each image took. Safe to run repeatedly: unchanged images
 * are not rebuilt. `--verbose` streams debootstrap and docker build output; `--rebuild` rebuilds
 * everything (to pick up new Debian packages, which the input hash cannot see).
 */
import { prepareTestEnv } from "../test/support/test-env.js";

const verbose = process.argv.includes("--verbose") || process.env.BACKDRILL_TEST_ENV_VERBOSE === "1";
const rebuild = process.argv.includes("--rebuild");
const started = Date.now();
try {
  const results = await prepareTestEnv({ verbose, rebuild, log: (line) => console.log(line) });
  const built = results.filter((r) => r.action === "built").length;
  console.log(
    `test-env: ready in ${((Date.now() - started) / 1000).toFixed(1)}s (${built} of ${results.length} images built)`,
  );
} catch (error) {
  // Only the message: execa errors carry whole outputs, far too long for a terminal.
  console.error(`test-env: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
