/**
 * A drill target of a `symfony-secrets` job: it runs no container (the vault is opened in
 * memory), needs an escrow holder's identity, and may name secrets that must be present.
 */
import * as z from "zod";
import { absolutePathSchema, nonEmptyString } from "../../schema/common.js";
import type { TargetOf, TargetSpec } from "../contract.js";
import type { SymfonySecretsJob } from "./job-schema.js";

const fields = {
  escrowIdentityFile: {
    schema: absolutePathSchema.meta({ description: "symfony-secrets: age identity of an escrow holder." }),
    why: "it opens the escrowed decryption key",
    readableFile: true,
  },
};
const checks = {
  secrets: z.array(nonEmptyString).meta({
    description: "symfony-secrets: names that must be present (every secret must open regardless).",
  }),
};

export type SymfonySecretsTarget = TargetOf<typeof fields, typeof checks>;

export const symfonySecretsTarget: TargetSpec<SymfonySecretsJob, SymfonySecretsTarget> = {
  fields,
  checks,
  image: { none: "the vault is opened in-process" },
  validate(target) {
    if (target.escrowIdentityFile !== undefined) return [];
    return [
      {
        path: "escrowIdentityFile",
        message:
          "required for a symfony-secrets target: the age identity of an escrow holder, which opens the escrowed decryption key",
      },
    ];
  },
};
