/**
 * The CLI program: runs `main` on the process arguments and sets the exit code. Started by the
 * entry point (bin.cts), which prepares the process first; tests spawn this module directly.
 */
import { hideBin } from "yargs/helpers";
import { exitCodeOf } from "../errors.js";
import { main, printError } from "./main.js";

// The AWS SDK warns on every run under Node 20 that future SDK releases need Node 22. That is a
// note for whoever upgrades dependencies, not for the operator reading a cron mail at 3 a.m.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

main(hideBin(process.argv)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    printError(error);
    process.exitCode = exitCodeOf(error);
  },
);
