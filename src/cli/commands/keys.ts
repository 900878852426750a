import { generateKeys, generateSigningKeyFile } from "../../app/keys.js";
import { defineCommand } from "../command.js";

export const keysCommand = defineCommand({
  builder: (yargs) =>
    yargs
      .positional("action", { choices: ["generate", "signing-keygen"] as const, demandOption: true })
      .option("out", {
        type: "string",
        describe:
          "write the key to this file (0600; refuses to overwrite); generate: default stdout; signing-keygen: required",
      })
      .example("$0 keys generate --out /secure/backdrill-identity.txt", "keep this file OFF the backup host")
      .example("$0 keys generate --json", "{ recipient, identityFile } on stdout")
      .example(
        "$0 keys signing-keygen --out /etc/backdrill/signing-key.pem",
        "on the backup host: policy signing.keyFile; the printed ed25519:… line goes into signing.publicKeys",
      ),
  run: async (context, args) => {
    if (args.action === "signing-keygen") {
      const result = await generateSigningKeyFile(args.out === undefined ? {} : { out: args.out });
      if (context.json) {
        context.printJson(result);
      } else {
        // The public key alone on stdout, so `PUB=$(backdrill keys signing-keygen --out F)` works.
        process.stdout.write(`${result.publicKey}\n`);
        process.stderr.write(
          `signing key written to ${result.keyFile} (mode 0600): set signing.keyFile to it in the backup host's policy, ` +
            `and put the public key above into signing.publicKeys wherever snapshots are drilled, restored, verified or pruned\n`,
        );
      }
      return 0;
    }
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
