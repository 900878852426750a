import { openConfig } from "../../app/config.js";
import { describeConfig, UNSIGNED_POLICY_WARNING } from "../../config/describe.js";
import { defineCommand } from "../command.js";

export const validateCommand = defineCommand({
  builder: (yargs) =>
    yargs
      .example("$0 validate --config-dir /etc/backdrill", "check the production config")
      .example("$0 validate --json", "the parsed config as JSON (no secrets: only env var names)"),
  run: async (context) => {
    const config = await openConfig(context.configDir);
    if (context.json) {
      context.printJson({
        dir: config.dir,
        policies: [...config.policies.values()].map(({ file, policy }) => ({ file, ...policy })),
        jobs: [...config.jobs.values()].map(({ file, job }) => ({ file, ...job })),
        drills: [...config.drills.values()].map(({ file, drill }) => ({ file, ...drill })),
      });
    } else {
      context.print(describeConfig(config));
    }
    // Valid, but worth a line on stderr (exit 0): see docs/security.md (Signed snapshots).
    for (const { file, policy } of config.policies.values()) {
      if (policy.signing === undefined) context.log.warn(`${file}: ${UNSIGNED_POLICY_WARNING}`);
    }
    return 0;
  },
});
