/**
 * Conformance harness of the `symfony-secrets` kind: a `prod` vault in Symfony's format with a
 * few secrets, its decryption key escrowed to an escrow holder; restores into fresh directories,
 * where every file must equal the vault's.
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { generateIdentity } from "../../../src/crypto/keys.js";
import { generateVault, sealSecret } from "../../support/symfony-vault.js";
import type { KindHarness, RestoreTarget } from "../kind-conformance.js";
import { treeState } from "./tree.js";

export const symfonySecretsHarness: KindHarness = {
  kind: "symfony-secrets",
  async start(work) {
    const vault = await generateVault(path.join(work, "vault", "prod"));
    await sealSecret(vault, "DATABASE_PASSWORD", "db-secret-7d1e");
    await sealSecret(vault, "MAILER_DSN", "smtp://user:pw@mail:25");
    await sealSecret(vault, "0", "a name Symfony writes without a key");
    // A valid key of another vault: doctor must tell it does not open this one.
    const other = await generateVault(path.join(work, "other-vault", "prod"));
    const escrow = await generateIdentity();
    const escrowIdentityFile = path.join(work, "escrow-identity.txt");
    await writeFile(escrowIdentityFile, `${escrow.identity}\n`, { mode: 0o600 });
    let targets = 0;
    return {
      job: {
        vault: vault.dir,
        decryptionKeyEnv: "SYMFONY_DECRYPTION_SECRET",
        escrowRecipients: [escrow.recipient],
      },
      env: { SYMFONY_DECRYPTION_SECRET: vault.decryptionSecret },
      wrongSecret: { env: { SYMFONY_DECRYPTION_SECRET: other.decryptionSecret }, check: "decryption key" },
      target: { escrowIdentityFile, checks: { secrets: ["DATABASE_PASSWORD"] } },
      async restoreTarget(): Promise<RestoreTarget> {
        targets += 1;
        const dir = path.join(work, `restored-${targets}`, "prod");
        return {
          to: dir,
          env: { BACKDRILL_ESCROW_IDENTITY_FILE: escrowIdentityFile },
          state: () => treeState(dir),
          occupy: async () => {
            await mkdir(dir, { recursive: true, mode: 0o700 });
            // The file a restore would write: a clash.
            const [first] = (await readdir(vault.dir)).sort();
            await writeFile(path.join(dir, first ?? "prod.list.php"), "<?php return [];\n");
          },
          // Same bytes (modes differ: the restore writes 0600).
          verify: async () => {
            const restored = await treeState(dir);
            for (const line of (await treeState(vault.dir)).split("\n")) {
              const [, name, , hash] = line.split(" ");
              if (!restored.includes(`${name} 600 ${hash}`))
                throw new Error(`${name} not restored byte-exact`);
            }
          },
        };
      },
      stop: async () => undefined,
    };
  },
};
