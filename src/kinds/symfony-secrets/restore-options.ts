/**
 * `backdrill restore <symfony-secrets job> --to DIR [--escrow-identity FILE]`: the escrow holder's
 * identity opens the key escrow (the policy identity only the outer layer). Pure.
 */
import type { RestoreSpec } from "../contract.js";
import type { SymfonySecretsJob } from "./job-schema.js";

export const ESCROW_IDENTITY_ENV = "BACKDRILL_ESCROW_IDENTITY_FILE";

export interface SymfonySecretsRestoreOptions {
  /** undefined: the plan says what is missing, apply refuses. */
  escrowIdentity: string | undefined;
}

export const symfonySecretsRestore: RestoreSpec<SymfonySecretsJob, SymfonySecretsRestoreOptions> = {
  to: "a directory for the restored vault files and key",
  flags: [
    {
      name: "escrow-identity",
      type: "string",
      describe: `an escrow holder's age identity file (default $${ESCROW_IDENTITY_ENV})`,
    },
  ],
  options({ flags, env }) {
    const flag = flags["escrow-identity"];
    const value = typeof flag === "string" && flag !== "" ? flag : env[ESCROW_IDENTITY_ENV];
    return { escrowIdentity: value === undefined || value === "" ? undefined : value };
  },
};
