/**
 * `npm run demo`: a throwaway TasK-like stack, backed up, drilled, reported, cleaned up.
 *
 *   npm run demo                          every job kind whose engine is built
 *   npm run demo -- --skip rabbitmq       leave a kind out
 *   npm run demo -- --reports DIR         where the reports are copied (default ./demo-reports)
 *   npm run demo -- --log-level info      show backdrill's own log lines too
 *
 * Exit 0 only when every backup committed and the drill passed; 130 when interrupted.
 */
import { parseArgs } from "node:util";
import { JOB_KINDS, type JobKind } from "../src/kinds/registry.js";
import { runDemo } from "./demo/run.js";

// Same as src/cli/run.ts: the AWS SDK's Node 20 deprecation notice is not for the person watching a demo.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const { values } = parseArgs({
  options: {
    skip: { type: "string", multiple: true, default: [] },
    reports: { type: "string" },
    "log-level": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  process.stdout.write(
    "usage: npm run demo -- [--skip KIND]... [--reports DIR] [--log-level trace|debug|info|warn|error]\n",
  );
} else {
  const unknown = values.skip.filter((kind) => !(JOB_KINDS as readonly string[]).includes(kind));
  if (unknown.length > 0) {
    process.stderr.write(`demo: --skip ${unknown.join(", ")}: not a job kind (${JOB_KINDS.join(", ")})\n`);
    process.exitCode = 2;
  } else {
    const result = await runDemo({
      skipKinds: values.skip as JobKind[],
      handleSignals: true,
      ...(values.reports === undefined ? {} : { reportsOut: values.reports }),
      ...(values["log-level"] === undefined ? {} : { logLevel: values["log-level"] }),
    });
    process.exitCode = result.interrupted ? 130 : result.ok ? 0 : 1;
  }
}
