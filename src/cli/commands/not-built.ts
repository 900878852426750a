import { NotImplementedError } from "../../errors.js";
import { defineCommand, type RegisteredCommand } from "../command.js";

/**
 * Commands whose engines are specified (design.md) but not built yet: they exist with --help so
 * scripts can be written against them, and say plainly that they do nothing yet (exit 2).
 */
function notBuilt(
  command: string,
  describe: string,
  issue: string,
  examples: Array<[string, string]>,
): RegisteredCommand {
  return defineCommand({
    command,
    describe: `${describe} [not built yet]`,
    builder: (yargs) => {
      let out = yargs.strict(false);
      for (const [example, text] of examples) out = out.example(example, text);
      return out;
    },
    run: async () => {
      throw new NotImplementedError(`\`backdrill ${command.split(" ")[0]}\` is not built yet (${issue})`, {
        hint: "see CHANGELOG.md for what this version does",
      });
    },
  });
}

export const doctorCommand = notBuilt(
  "doctor",
  "preflight: tools, reachability, bucket settings, archiving health",
  "planned: operations",
  [["$0 doctor", "check everything the configured jobs need"]],
);
