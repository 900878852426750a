/**
 * The facts a `symfony-secrets` snapshot records (stored encrypted): secret names, never values.
 * Every reader goes through `symfonySecretsFactsSchema`.
 */
import * as z from "zod";

export const FACTS_VERSION = 1;

export const symfonySecretsFactsSchema = z.object({
  kind: z.literal("symfony-secrets"),
  version: z.literal(FACTS_VERSION),
  environment: z.string().min(1),
  artifact: z.string().min(1),
  /** Secret names (never values), natural order. */
  secrets: z.array(z.string()),
  count: z.number().int().nonnegative(),
  /** sha256:<hex> of the public key. */
  publicKeyFingerprint: z.string(),
  keySource: z.enum(["env", "file"]),
  /** Every file of the vault directory that is in the escrow. */
  files: z.array(z.string()),
  /** Secret files not in the list (kept in the escrow, reported). */
  unlisted: z.array(z.string()),
  /** The escrow's recipients (public keys). */
  escrowRecipients: z.array(z.string()),
});

export type SymfonySecretsFacts = z.output<typeof symfonySecretsFactsSchema>;
