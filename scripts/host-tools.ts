/**
 * `tsx scripts/host-tools.ts [--check] COMMAND...`: makes host commands available for the
 * development scripts (scripts/ensure-docker.sh, .ci/run). A missing command is installed with
 * apt-get when we are root on Debian/Ubuntu; otherwise, or with --check, exit 1 with one line
 * naming the command and its Debian package (the table is src/exec/host-tools.ts).
 *
 *   tsx scripts/host-tools.ts docker            # the docker CLI, installed if missing
 *   tsx scripts/host-tools.ts --package ssh     # prints openssh-client
 */
import { parseArgs } from "node:util";
import { packageFor } from "../src/exec/host-tools.js";
import { ensureHostTools } from "../test/support/host-tools.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    check: { type: "boolean", default: false },
    package: { type: "boolean", default: false },
  },
});

try {
  if (positionals.length === 0) throw new Error("name at least one command, e.g. rsync");
  if (values.package) {
    for (const command of positionals) process.stdout.write(`${packageFor(command) ?? "unknown"}\n`);
  } else {
    await ensureHostTools(positionals, {
      checkOnly: values.check,
      log: (line) => process.stderr.write(`${line}\n`),
    });
  }
} catch (error) {
  process.stderr.write(`host-tools: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
