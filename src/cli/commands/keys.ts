import { generateKeys } from "../../app/keys.js";
import { defineCommand } from "../command.js";

export const keysCommand = defineCommand({
  command: "keys <action>",
  describe: "manage age keys: `keys generate` makes an identity (private, 0600) and prints its recipient",
  builder: (yargs) =>
    yargs
      .positional("action", { choices: ["generate"] as const, demandOption: true })
      .option("out", {
        type: "string",
        describe: "write the identity to this file (0600; refuses to overwrite); default: stdout",
      })
      .example("$0 keys generate --out /secure/backdrill-identity.txt", "keep this file OFF the backup host")
      .example("$0 keys generate --json", "{ recipient, identityFile } on stdout"),
  run: async (context, args) => {
    const result = await generateKeys(args.out === undefined ? {} : { out: args.out });
    if (context.json) {
      context.printJson({ recipient: result.recipient, identityFile: result.identityFile ?? null });
    } else if (result.identityFile !== undefined) {
      context.print(`identity written to ${result.identityFile} (mode 0600): keep it off the backup host`);
      context.print(`recipient (put this in the policy's encryption.recipients): ${result.recipient}`);
    } else {
      process.stdout.write(result.identityText ?? "");
      process.stderr.write(`recipient: ${result.recipient}\n`);
    }
    return 0;
  },
});
