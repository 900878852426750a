/** The parts of the `symfony-secrets` job this engine reads (tests drive it with plain objects). */
import type { SymfonySecretsJob } from "./job-schema.js";

export type SymfonySecretsJobInput = Pick<SymfonySecretsJob, "name" | "kind" | "vault" | "environment"> &
  Partial<
    Pick<
      SymfonySecretsJob,
      "decryptionKeyEnv" | "decryptionKeyFile" | "escrowRecipients" | "escrowRecipientsFile"
    >
  >;
