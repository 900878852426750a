/** `symfony-secrets`: the vault directory plus its decryption key, encrypted to escrow recipients. */
import { basename } from "node:path";
import * as z from "zod";
import {
  absolutePathSchema,
  ageRecipientSchema,
  envNameSchema,
  EVEN_WITH_FIELD_ERRORS,
  requireOneOf,
} from "../../schema/common.js";
import { jobBaseShape } from "../../schema/job-base.js";
import { SYMFONY_ENVIRONMENT } from "./names.js";

export const symfonySecretsJobSchema = z
  .strictObject({
    ...jobBaseShape,
    kind: z.literal("symfony-secrets"),
    vault: absolutePathSchema.meta({
      description: "Vault directory, e.g. /var/www/task/current/config/secrets/prod.",
    }),
    environment: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, { error: "expected a Symfony environment name like prod" })
      .optional()
      .meta({ description: "Symfony environment. Default: the vault directory's name (prod)." }),
    decryptionKeyEnv: envNameSchema
      .optional()
      .meta({ description: "Env var with the base64 decryption key (SYMFONY_DECRYPTION_SECRET)." }),
    decryptionKeyFile: absolutePathSchema
      .optional()
      .meta({ description: "Decryption key file. Default: <env>.decrypt.private.php in the vault." }),
    escrowRecipients: z
      .array(ageRecipientSchema)
      .default([])
      .meta({ description: "age public keys of the escrow holders; any one can open the key escrow." }),
    escrowRecipientsFile: absolutePathSchema
      .optional()
      .meta({ description: "File with more escrow recipients, one per line, # comments allowed." }),
  })
  .superRefine((value, ctx) => {
    requireOneOf(value, ["decryptionKeyEnv", "decryptionKeyFile"], ctx, { optional: true });
    if (
      value.environment === undefined &&
      typeof value.vault === "string" &&
      !SYMFONY_ENVIRONMENT.test(basename(value.vault))
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["environment"],
        message: `the vault directory's name ${JSON.stringify(basename(value.vault))} is not an environment name (letters, digits, _ . -): set environment`,
      });
    }
    const recipients: unknown = value.escrowRecipients;
    if (Array.isArray(recipients) && recipients.length === 0 && value.escrowRecipientsFile === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["escrowRecipients"],
        message:
          "list at least one escrow recipient (age1...), or set escrowRecipientsFile; without one the decryption key cannot be escrowed",
      });
    }
  }, EVEN_WITH_FIELD_ERRORS)
  .transform((value) => ({ ...value, environment: value.environment ?? basename(value.vault) }));

export type SymfonySecretsJob = z.infer<typeof symfonySecretsJobSchema>;
