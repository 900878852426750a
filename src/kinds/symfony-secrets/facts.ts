/**
 * The facts a `symfony-secrets` snapshot records (stored encrypted): secret names, never values.
 * Every reader goes through `symfonySecretsFactsSchema`.
 */
import * as z from "zod";
import { artifactNameSchema } from "../facts-values.js";
import { ageRecipientSchema } from "../../schema/common.js";
import { SECRET_NAME, symfonyEnvironmentSchema, vaultFileNameSchema } from "./names.js";

export const FACTS_VERSION = 1;

export const symfonySecretsFactsSchema = z.object({
  kind: z.literal("symfony-secrets"),
  version: z.literal(FACTS_VERSION),
  /** Becomes part of every file name the restore writes, and a comment in generated PHP. */
  environment: symfonyEnvironmentSchema,
  artifact: artifactNameSchema,
  /** Secret names (never values), natural order. */
  secrets: z.array(z.string().regex(SECRET_NAME, { error: "not a Symfony secret name" })),
  count: z.number().int().nonnegative(),
  /** sha256:<hex> of the public key. */
  publicKeyFingerprint: z.string().regex(/^sha256:[0-9a-f]{64}$/, { error: "not sha256:<hex>" }),
  keySource: z.enum(["env", "file"]),
  /** Every file of the vault directory that is in the escrow. */
  files: z.array(vaultFileNameSchema),
  /** Secret files not in the list (kept in the escrow, reported). */
  unlisted: z.array(vaultFileNameSchema),
  /** The escrow's recipients (public keys). */
  escrowRecipients: z.array(ageRecipientSchema),
});

export type SymfonySecretsFacts = z.output<typeof symfonySecretsFactsSchema>;
